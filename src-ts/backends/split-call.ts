// One big kernel call shared out over the worker backend's workers, as the C++ core shares a
// call out over its threads: the kernel's split() cuts the arguments into parts, each part is
// an ordinary dispatch of its own, and the call settles once every part has, with the
// kernel's combine() of their results. A kernel with nextRound() runs in rounds (sort: keys and
// their counts, one round per key byte, then values back): once every part of a round has
// succeeded, nextRound() turns their results into the next round's parts, started at once,
// until it says the round was the last.
//
// Invariants: the call settles exactly once, and only after every part of its current round
// has settled, so no part is still running for a call its caller already considers finished.
// The first part to fail (or a cancellation) decides the outcome, cancels the remaining parts
// and starts no further round. A round's parts are started synchronously from the settling of
// the previous round's last part, so the backend's count of live parts never drops to zero
// between rounds.

import type { SharedCounter } from '../shared/counter.js';
import type { Kernel } from '../kernels/types.js';
import { Outcome, type Dispatch } from './backend.js';

class Part implements Dispatch {
  backendSlot: unknown = undefined;
  settled = false;
  readonly batch = false;
  readonly transfer = undefined;
  readonly calls: readonly (readonly unknown[])[];
  readonly numberArgs = -1;
  readonly arg0 = undefined;
  readonly arg1 = undefined;

  constructor(
    readonly call: SplitCall,
    readonly index: number,
    readonly args: unknown[],
  ) {
    this.calls = [args];
  }

  get id(): number {
    return this.call.whole.id;
  }
  get kernel(): Kernel {
    return this.call.kernel;
  }
  get progress(): SharedCounter | undefined {
    return this.call.whole.progress;
  }
  get acceptedAt(): number {
    return this.call.whole.acceptedAt;
  }

  timed(startedAt: number, runMs: number): void {
    this.call.partTimed(startedAt, runMs);
  }

  settle(outcome: Outcome, value: unknown): void {
    this.settled = true;
    this.call.partSettled(this, outcome, value);
  }
}

export class SplitCall {
  /** The current round's parts. */
  parts: Part[] = [];
  /** The current round's argument tuples, and its parts' results as they arrive. */
  private pieces: unknown[][];
  private results: unknown[] = [];
  private pending = 0;
  /** The outcome decided by a failure or a cancellation; Ok until then. */
  private outcome = Outcome.Ok;
  private failure: unknown = undefined;
  /** The whole call's timing: from the first part's start to the last part's end (NaN: none started). */
  private startedAt = NaN;
  private endedAt = NaN;

  constructor(
    readonly whole: Dispatch,
    readonly kernel: Kernel,
    pieces: unknown[][],
    /** Cancels one part through the backend. */
    private readonly cancelPart: (part: Dispatch) => void,
    /** Hands a round's parts to the backend, to run like any task. */
    private readonly startParts: (parts: readonly Dispatch[]) => void,
  ) {
    this.pieces = pieces;
  }

  /** Starts the first round: split()'s pieces. */
  start(): void {
    this.startRound(this.pieces);
  }

  private startRound(pieces: unknown[][]): void {
    this.pieces = pieces;
    this.parts = pieces.map((args, i) => new Part(this, i, args));
    this.results = new Array<unknown>(pieces.length);
    this.pending = pieces.length;
    this.startParts(this.parts);
  }

  /** The whole call was cancelled: every part still out is asked to stop. */
  cancel(): void {
    if (this.outcome === Outcome.Ok) this.outcome = Outcome.Cancelled;
    for (const part of this.parts) if (!part.settled) this.cancelPart(part);
  }

  partTimed(startedAt: number, runMs: number): void {
    if (!(startedAt >= this.startedAt)) this.startedAt = startedAt;
    if (!(startedAt + runMs <= this.endedAt)) this.endedAt = startedAt + runMs;
  }

  partSettled(part: Part, outcome: Outcome, value: unknown): void {
    if (outcome === Outcome.Ok) {
      this.results[part.index] = value;
    } else if (this.outcome === Outcome.Ok) {
      this.outcome = outcome;
      this.failure = value;
      for (const other of this.parts) if (!other.settled) this.cancelPart(other);
    }
    if (--this.pending > 0) return;
    if (this.outcome === Outcome.Ok && this.kernel.nextRound !== undefined) {
      let next: unknown[][] | undefined;
      try {
        next = this.kernel.nextRound(this.results, this.pieces, this.whole.calls[0]!);
      } catch (error) {
        this.outcome = Outcome.Error;
        this.failure = error;
      }
      if (next !== undefined && next.length > 0) {
        this.startRound(next);
        return;
      }
    }
    if (!Number.isNaN(this.startedAt)) this.whole.timed(this.startedAt, this.endedAt - this.startedAt);
    if (this.outcome === Outcome.Ok) this.whole.settle(Outcome.Ok, this.kernel.combine!(this.results, this.whole.calls[0]!));
    else this.whole.settle(this.outcome, this.failure);
  }
}
