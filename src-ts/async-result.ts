// AsyncResult: the handle applyAsync/mapAsync/submit give back, shaped after Python's
// multiprocessing.pool.AsyncResult.
//
// Deliberately not thenable (no `then`): `await pool.submit(...)` must hand over the handle,
// not unwrap it into the task's result. No promise exists until get() or wait() asks for
// one, so a failed result nobody reads cannot become an unhandled rejection, and a flood of
// applyAsync calls allocates no promises.

import { AsyncResource } from 'node:async_hooks';
import { PoolStateError, TimeoutError } from './errors.js';
import { promiseFor, type Resolvers } from './internal/deferred.js';
import { Ring } from './internal/ring.js';
import { checkWaitTimeout } from './internal/options.js';

const PENDING = 0;
const FULFILLED = 1;
const REJECTED = 2;

export type Callback<R> = (result: R) => void;
export type ErrorCallback = (error: unknown) => void;

/**
 * A call's callbacks, and the async context (AsyncLocalStorage stores included) of the call that
 * passed them, to run them in: not whatever event settled the task (a worker's reply, a native
 * completion, someone's terminate()). One object, allocated only for calls that pass a callback.
 * A bare AsyncResource rather than AsyncLocalStorage.snapshot(): on Node 20 a snapshot costs
 * about 40 µs (it is built on AsyncResource.bind), this under 1 µs; both carry the context the
 * same way, with or without Node's AsyncContextFrame.
 */
class Callbacks<R> extends AsyncResource {
  constructor(
    readonly callback: Callback<R> | undefined,
    readonly errorCallback: ErrorCallback | undefined,
  ) {
    super('spindle.AsyncResult');
  }

  /** Runs the callback for the outcome, if there is one, in the caller's context. Never throws. */
  run(ok: boolean, value: unknown): void {
    const callback = ok ? this.callback : this.errorCallback;
    if (callback !== undefined) this.runInAsyncScope(callOut, undefined, callback, value);
  }
}

/**
 * Calls a user's callback. What it throws surfaces as an uncaughtException, like an
 * EventEmitter listener's error (and in the callback's context), and leaves the pool, and the
 * callbacks queued behind this one, unharmed.
 */
function callOut(callback: (value: any) => void, value: unknown): void {
  try {
    callback(value);
  } catch (error) {
    process.nextTick(rethrow, error);
  }
}

/** @internal Settles `result` once; later calls are ignored. */
// Assigned by AsyncResult's static block (declared first: the block runs at class definition).
export let settleResult: (result: AsyncResult<any>, ok: boolean, value: unknown) => void;
let notify: (result: AsyncResult<any>) => void;
let unpark: (result: AsyncResult<any>, waiter: Waiter) => void;

/**
 * A get() or wait() call parked until its result is ready and the result's callback has run.
 * An object rather than closures: `await r.get()` in a loop pays for the promise and this.
 */
class Waiter implements Resolvers {
  resolveFn: ((value: unknown) => void) | undefined = undefined;
  rejectFn: ((error: unknown) => void) | undefined = undefined;
  timer: NodeJS.Timeout | undefined = undefined;

  constructor(
    readonly result: AsyncResult<any>,
    /** get(): settles with the task's outcome. wait(): resolves with undefined, never rejects. */
    readonly takesOutcome: boolean,
  ) {}

  /** The result is ready: hands over its outcome (or, for wait(), just the news). */
  wake(ok: boolean, value: unknown): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (!this.takesOutcome) this.resolveFn!(undefined);
    else if (ok) this.resolveFn!(value);
    else this.rejectFn!(value);
  }
}

/** get()/wait()'s own timeout passed first. */
function waiterTimedOut(waiter: Waiter, timeoutMs: number): void {
  unpark(waiter.result, waiter);
  if (waiter.takesOutcome) waiter.rejectFn!(new TimeoutError(`AsyncResult.get(): the result was not ready within ${timeoutMs} ms`));
  else waiter.resolveFn!(undefined);
}

export class AsyncResult<R = unknown> {
  #state = PENDING;
  /** True once the callback has run and waiters were woken: get()/wait() answer at once from then on. */
  #notified = false;
  #value: unknown = undefined;
  #callbacks: Callbacks<R> | undefined = undefined;
  /** get()/wait() calls parked until the result is ready and its callback has run. */
  #waiters: Waiter[] | undefined = undefined;

  /** @internal Created by the Pool; settled only through settleResult(). */
  constructor(callback: Callback<R> | undefined, errorCallback: ErrorCallback | undefined) {
    if (callback !== undefined || errorCallback !== undefined) this.#callbacks = new Callbacks(callback, errorCallback);
  }

  /** True once the task has settled (result, error or cancellation). */
  ready(): boolean {
    return this.#state !== PENDING;
  }

  /** Whether the task succeeded. Throws if it has not settled yet (Python's ValueError). */
  successful(): boolean {
    if (this.#state === PENDING) throw new PoolStateError('AsyncResult.successful(): the result is not ready yet');
    return this.#state === FULFILLED;
  }

  /**
   * The task's result, or its error. With `timeoutMs`, rejects with a TimeoutError if the task
   * has not settled by then; the task itself keeps running.
   */
  get(timeoutMs?: number): Promise<R> {
    if (timeoutMs !== undefined) checkWaitTimeout('AsyncResult.get', timeoutMs);
    if (this.#notified) return this.#state === FULFILLED ? Promise.resolve(this.#value as R) : Promise.reject(this.#value);
    return this.#park(true, timeoutMs) as Promise<R>;
  }

  /** Resolves once the task has settled, or after `timeoutMs`, whichever comes first. Never rejects. */
  wait(timeoutMs?: number): Promise<void> {
    if (timeoutMs !== undefined) checkWaitTimeout('AsyncResult.wait', timeoutMs);
    if (this.#notified) return Promise.resolve();
    return this.#park(false, timeoutMs) as Promise<void>;
  }

  #park(takesOutcome: boolean, timeoutMs: number | undefined): Promise<unknown> {
    const waiter = new Waiter(this, takesOutcome);
    const promise = promiseFor<unknown>(waiter);
    if (this.#waiters === undefined) this.#waiters = [waiter];
    else this.#waiters.push(waiter);
    if (timeoutMs !== undefined) waiter.timer = setTimeout(waiterTimedOut, timeoutMs, waiter, timeoutMs);
    return promise;
  }

  #unpark(waiter: Waiter): void {
    const waiters = this.#waiters;
    if (waiters === undefined) return;
    const at = waiters.indexOf(waiter);
    if (at >= 0) waiters.splice(at, 1);
  }

  #settle(ok: boolean, value: unknown): void {
    if (this.#state !== PENDING) return;
    this.#state = ok ? FULFILLED : REJECTED;
    this.#value = value;
    // Until notify() runs, get()/wait() park even though ready() is true: callbacks run
    // before any get() promise resolves.
    notifications.push(this);
    if (!notifying) drainNotifications();
  }

  /** Runs the callback, then wakes get()/wait(). Called only by drainNotifications(). */
  #notify(): void {
    const ok = this.#state === FULFILLED;
    const callbacks = this.#callbacks;
    this.#callbacks = undefined;
    callbacks?.run(ok, this.#value);
    this.#notified = true;
    const waiters = this.#waiters;
    if (waiters === undefined) return;
    this.#waiters = undefined;
    for (const waiter of waiters) waiter.wake(ok, this.#value);
  }

  static {
    settleResult = (result, ok, value) => result.#settle(ok, value);
    notify = (result) => result.#notify();
    unpark = (result, waiter) => result.#unpark(waiter);
  }
}

/** Throws `error`: passed to process.nextTick, it surfaces a user callback's or listener's throw as an uncaughtException. */
export function rethrow(error: unknown): never {
  throw error;
}

// Callbacks run one at a time, on the pool's thread. A callback that settles another result
// (by calling terminate(), say) queues that result's callback behind its own instead of
// running it nested inside itself.
const notifications = new Ring<AsyncResult<any>>();
let notifying = false;

function drainNotifications(): void {
  notifying = true;
  try {
    for (let result = notifications.shift(); result !== undefined; result = notifications.shift()) notify(result);
  } finally {
    notifying = false;
  }
}
