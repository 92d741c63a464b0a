// A Backend the test drives by hand: dispatches are recorded and settle only when the test
// says so, and how (result, error, cancellation). Nothing runs on its own, so every test of
// the Pool's logic is deterministic.

import { Outcome, type Backend, type Dispatch, type PlainSink } from '../../src-ts/backends/backend.js';
import { noContext, type Kernel, type Runnable } from '../../src-ts/kernels/types.js';

/** A plain call the backend took through dispatchPlain(), recorded as a Dispatch so the helpers below settle it alike. */
export class PlainDispatch implements Dispatch {
  readonly plain = true;
  readonly id = -1;
  readonly batch = false;
  readonly progress = undefined;
  readonly transfer = undefined;
  backendSlot: unknown = undefined;
  /** Set by withdrawPlain(): the pool has answered the call; its report carries no resolve function. */
  withdrawn = false;

  constructor(
    readonly kernel: Runnable,
    readonly resolve: (value: unknown) => void,
    readonly numberArgs: number,
    private readonly a0: number,
    private readonly a1: number,
    readonly acceptedAt: number,
    private readonly sink: PlainSink,
  ) {}

  get arg0(): number | undefined {
    return this.numberArgs > 0 ? this.a0 : undefined;
  }
  get arg1(): number | undefined {
    return this.numberArgs > 1 ? this.a1 : undefined;
  }
  get args(): readonly unknown[] {
    return [this.a0, this.a1].slice(0, this.numberArgs);
  }
  get calls(): readonly (readonly unknown[])[] {
    return [this.args];
  }

  settle(outcome: Outcome, value: unknown): void {
    this.sink.plainSettled(this.withdrawn ? undefined : this.resolve, outcome, value);
  }

  timed(startedAt: number, runMs: number): void {
    this.sink.plainTimed(this.acceptedAt, startedAt, runMs);
  }
}

export interface ManualBackendOptions {
  name?: 'native' | 'worker';
  size?: number;
  capacity?: number;
  /** terminate() settles every live dispatch as Cancelled (in a microtask) and resolves. Default true. */
  settleOnTerminate?: boolean;
  /** Offer the plain lane (dispatchPlain/withdrawPlain), as the native backend does. Default false. */
  plainLane?: boolean;
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

  dispatchPlain?: Backend['dispatchPlain'];
  withdrawPlain?: Backend['withdrawPlain'];

  constructor(options: ManualBackendOptions = {}) {
    this.name = options.name ?? 'native';
    this.size = options.size ?? 2;
    this.capacity = options.capacity ?? 2;
    this.settleOnTerminate = options.settleOnTerminate ?? true;
    if (options.plainLane === true) {
      this.dispatchPlain = (kernel, resolve, argc, a0, a1, acceptedAt, sink) => {
        this.dispatch(new PlainDispatch(kernel, resolve, argc, a0, a1, acceptedAt, sink));
        return true;
      };
      this.withdrawPlain = () => {
        const resolvers: ((value: unknown) => void)[] = [];
        for (const d of this.live) {
          if (!(d instanceof PlainDispatch) || d.withdrawn) continue;
          d.withdrawn = true;
          this.cancelRequests.push(d);
          resolvers.push(d.resolve);
        }
        return resolvers;
      };
    }
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
