// A Backend the test drives by hand: dispatches are recorded and settle only when the test
// says so, and how (result, error, cancellation). Nothing runs on its own, so every test of
// the Pool's logic is deterministic.

import { Outcome, type Backend, type Dispatch } from '../../src-ts/backends/backend.js';
import { noContext, type Kernel } from '../../src-ts/kernels/types.js';

export interface ManualBackendOptions {
  name?: 'native' | 'worker';
  size?: number;
  capacity?: number;
  /** terminate() settles every live dispatch as Cancelled (in a microtask) and resolves. Default true. */
  settleOnTerminate?: boolean;
}

export class ManualBackend implements Backend {
  readonly name: 'native' | 'worker';
  readonly size: number;
  readonly capacity: number;
  /** Every dispatch ever received, in order. */
  readonly dispatched: Dispatch[] = [];
  /** Dispatched and not yet settled, in dispatch order. */
  readonly live = new Set<Dispatch>();
  /** Every cancel() call, in order. */
  readonly cancelRequests: Dispatch[] = [];
  closeCalls = 0;
  terminateCalls = 0;
  /** Dispatches that were live when close() was called: the pool must never let that happen. */
  liveAtClose = 0;
  private readonly settleOnTerminate: boolean;
  private finishTerminate: (() => void) | undefined;

  constructor(options: ManualBackendOptions = {}) {
    this.name = options.name ?? 'native';
    this.size = options.size ?? 2;
    this.capacity = options.capacity ?? 2;
    this.settleOnTerminate = options.settleOnTerminate ?? true;
  }

  dispatch(d: Dispatch): void {
    if (this.closeCalls > 0 || this.terminateCalls > 0) throw new Error('dispatch after close() or terminate()');
    this.dispatched.push(d);
    this.live.add(d);
  }

  cancel(d: Dispatch): void {
    this.cancelRequests.push(d);
  }

  terminate(): Promise<void> {
    this.terminateCalls++;
    if (!this.settleOnTerminate) return new Promise((resolve) => (this.finishTerminate = resolve));
    return Promise.resolve().then(() => {
      for (const d of Array.from(this.live)) this.cancelled(d);
    });
  }

  /** With settleOnTerminate false: settles every live dispatch as Cancelled and lets terminate() resolve. */
  endTerminate(): void {
    for (const d of Array.from(this.live)) this.cancelled(d);
    this.finishTerminate!();
  }

  close(): Promise<void> {
    this.closeCalls++;
    this.liveAtClose += this.live.size;
    return Promise.resolve();
  }

  describe(): Record<string, unknown> {
    return { manual: true };
  }

  /** The oldest live dispatch. */
  oldest(): Dispatch {
    const d = this.live.values().next().value;
    if (d === undefined) throw new Error('no live dispatch');
    return d;
  }

  /** The args of each live dispatch's first call, in dispatch order. */
  liveArgs(): unknown[] {
    return Array.from(this.live, (d) => d.calls[0]![0]);
  }

  /** Settles with the kernel's JS twin result (or `value` when given). */
  complete(d: Dispatch = this.oldest(), value?: unknown): void {
    const kernel = d.kernel as Kernel;
    const result = value !== undefined ? value : d.batch ? d.calls.map((args) => kernel.run(args, noContext)) : kernel.run(d.calls[0]!, noContext);
    this.settle(d, Outcome.Ok, result);
  }

  fail(d: Dispatch, error: Error): void {
    this.settle(d, Outcome.Error, error);
  }

  cancelled(d: Dispatch): void {
    this.settle(d, Outcome.Cancelled, undefined);
  }

  completeAll(): void {
    while (this.live.size > 0) this.complete();
  }

  private settle(d: Dispatch, outcome: Outcome, value: unknown): void {
    if (!this.live.delete(d)) throw new Error(`dispatch ${d.id} is not live`);
    d.settle(outcome, value);
  }
}
