// One big kernel call shared out over the worker backend's workers, as the C++ core shares a
// call out over its threads: the kernel's split() cuts the arguments into parts, each part is
// an ordinary dispatch of its own, and the call settles once every part has, with the
// kernel's combine() of their results.
//
// Invariants: the call settles exactly once, and only after every part has settled, so no part
// is still running for a call its caller already considers finished. The first part to fail
// (or a cancellation) decides the outcome and cancels the remaining parts.

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
  readonly parts: Part[];
  private readonly results: unknown[];
  private pending: number;
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
  ) {
    this.parts = pieces.map((args, i) => new Part(this, i, args));
    this.results = new Array<unknown>(pieces.length);
    this.pending = pieces.length;
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
    if (!Number.isNaN(this.startedAt)) this.whole.timed(this.startedAt, this.endedAt - this.startedAt);
    if (this.outcome === Outcome.Ok) this.whole.settle(Outcome.Ok, this.kernel.combine!(this.results));
    else this.whole.settle(this.outcome, this.failure);
  }
}
