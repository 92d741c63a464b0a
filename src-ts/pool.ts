// Pool: the public, backend-neutral API, shaped after Python's multiprocessing.Pool.
//
// This file checks arguments and wires calls to the machinery in ./internal: the Scheduler
// (admission, queue, lifecycle), Task (one dispatch), MapJob (map/starmap), ImapIterator
// (the lazy family) and AsyncResult.
//
// How argument errors surface. Every argument is checked at the call, before anything is
// queued. Methods that return a Promise (apply, submit, map, starmap, join) report bad
// arguments, a closed pool and a full queue by returning a rejected promise and never throw.
// Methods that return a handle (applyAsync, mapAsync, starmapAsync, the imap family) throw
// synchronously. Either way stats().submitted is unchanged. An already-aborted signal is not
// an argument error: the promise rejects, or the handle settles (or, for imap, the first
// read throws) with an AbortError, like any later abort.

import { EventEmitter } from 'node:events';
import { availableParallelism } from 'node:os';
import { AsyncResult, rethrow, settleResult } from './async-result.js';
import type { Backend, BackendEvents, WorkerEventInfo, WorkerExitInfo, WorkerUtilization } from './backends/backend.js';
import type { TimeSummary } from './internal/histogram.js';
import { openBackend } from './backends/select.js';
import { PoolClosedError, QueueFullError } from './errors.js';
import { ImapIterator } from './imap.js';
import { describe, isArray } from './kernels/args.js';
import type { ArgsOf, ResultFor, Runnable, Task } from './kernels/types.js';
import { allCalls, closeQuietly, inputName, openSource, ownCopy } from './internal/items.js';
import { MapJob } from './internal/map-job.js';
import {
  checkCallbackOptions,
  checkCallOptions,
  checkChunkOptions,
  checkPoolOptions,
  snapshotPoolOptions,
  runnableOf,
  checkTransfer,
  MAX_POOL_SIZE,
  workerOnlyOptions,
  type ApplyOptions,
  type AsyncCallOptions,
  type CallOptions,
  type ImapOptions,
  type MapAsyncOptions,
  type MapOptions,
  type PoolOptions,
  snapshotCallOptions,
} from './internal/options.js';
import { Scheduler, type PoolState } from './internal/scheduler.js';
import { promiseFor, promiseResolvedBy, type Resolver } from './internal/deferred.js';
import { numberArgCount, Submitter, type CallTask } from './internal/task.js';
import { abortErrorFor, isAborted, watch } from './internal/watch.js';

export type { ApplyOptions, AsyncCallOptions, CallOptions, ImapOptions, MapAsyncOptions, MapOptions, PoolOptions, PoolState, WorkerEventInfo, WorkerExitInfo };
export { AsyncResult };

const DEFAULT_MAX_QUEUE = 1024;

/** Where promiseResolvedBy() leaves a plain apply()'s resolve function, for the scheduler to keep. */
const plainResolver: Resolver = { resolveFn: undefined };

// Older Node versions lack Symbol.asyncDispose; where Node has it, it is this registered symbol.
const asyncDispose: symbol = Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose');

/**
 * map's item type: the task's one argument. A task whose arguments after the first are not all
 * optional (countPrimes' lo and hi) takes no item (never): map and imap call it with the item
 * alone, which it refuses at run time, so the mistake is a compile error (starmap is meant).
 */
export type ItemOf<T> = [ArgsOf<T>[0]] extends ArgsOf<T> ? ArgsOf<T>[0] : never;

export interface PoolStats {
  backend: 'native' | 'worker' | 'queue';
  /** The pool's size: threads or workers (see Pool.size). */
  size: number;
  state: PoolState;
  /** Tasks accepted into the queue or dispatched; a map chunk counts once. */
  submitted: number;
  /** Accepted tasks that ended with a result. */
  completed: number;
  /** Accepted tasks that ended with an error: thrown by the task, or the worker it ran on crashed. */
  failed: number;
  /** Accepted tasks that were cancelled: by their signal, their timeout, terminate() or a closeTimeout. */
  cancelled: number;
  /**
   * Accepted tasks not yet started, wherever they wait: `queuedInPool + queuedInBackend`.
   * Never more than maxQueue.
   */
  queued: number;
  /** Of `queued`: those in the pool's own queue, not yet handed to the backend. */
  queuedInPool: number;
  /**
   * Of `queued`: those the backend holds beyond its `size` running ones, so that a thread that
   * finishes finds its next task at once instead of waiting for the event loop to hand it one.
   */
  queuedInBackend: number;
  /**
   * Tasks the backend is running (or is handing to a thread that is free for them), including
   * aborted ones it is still stopping. Never more than `size` × concurrentTasksPerWorker.
   */
  running: number;
  /** Calls waiting for room in the queue (not yet accepted). */
  waiting: number;
  /**
   * How long tasks waited, from acceptance to the moment a thread or worker took them up, in
   * ms. Every task that started counts once (a map chunk once); see "Observability" in the README.
   */
  waitTime: TimeSummary;
  /** How long tasks ran, where they ran (a native call spread over threads: first start to end), in ms. */
  runTime: TimeSummary;
  /**
   * The share of the pool's capacity busy since it was created, 0 to 1: thread time spent on
   * its tasks (native), or task run time (worker), over size × concurrentTasksPerWorker × age.
   */
  utilization: number;
  /** Worker backend: each live worker's event-loop utilization since it started. Native: empty. */
  workerUtilization: WorkerUtilization[];
  /** The backend's own facts. */
  backendInfo: Record<string, unknown>;
}

/** Set only while createPoolWithBackend() runs the constructor. */
let injectedBackend: Backend | undefined;

/**
 * Builds a Pool over a given backend instead of opening one. For tests and for backends that
 * are not selectable by name; not part of the public API.
 */
export function createPoolWithBackend(backend: Backend, options?: PoolOptions): Pool {
  injectedBackend = backend;
  try {
    return new Pool(options);
  } finally {
    injectedBackend = undefined;
  }
}

function settleSoon(result: AsyncResult<any>, ok: boolean, value: unknown): void {
  // Not synchronously: the caller has not even received the handle its callbacks may use.
  queueMicrotask(() => settleResult(result, ok, value));
}

/** The Pool's events and their listeners' arguments. */
export interface PoolEvents {
  /**
   * An error raised outside any task: an uncaught exception or unhandled rejection in a worker
   * between tasks, say. With no 'error' listener it is written to stderr as a process warning
   * (never thrown: an EventEmitter's default would crash the process).
   */
  error: [error: Error];
  /** The pool had calls waiting or accepted and not started, and now has none: room again. */
  drain: [];
  /** Worker backend: a worker was started. */
  workerCreate: [info: WorkerEventInfo];
  /** Worker backend: a worker exited, and why. */
  workerExit: [info: WorkerExitInfo];
  /** Worker backend: a value a task (or the initializer) posted on worker_threads' parentPort. */
  message: [value: unknown, info: WorkerEventInfo];
}

// Types the dispose method below, whose runtime key TypeScript cannot see through, and the
// Pool's events, whose listeners are then checked against PoolEvents.
export interface Pool {
  [Symbol.asyncDispose](): Promise<void>;
  on<K extends keyof PoolEvents>(event: K, listener: (...args: PoolEvents[K]) => void): this;
  once<K extends keyof PoolEvents>(event: K, listener: (...args: PoolEvents[K]) => void): this;
  off<K extends keyof PoolEvents>(event: K, listener: (...args: PoolEvents[K]) => void): this;
  addListener<K extends keyof PoolEvents>(event: K, listener: (...args: PoolEvents[K]) => void): this;
  removeListener<K extends keyof PoolEvents>(event: K, listener: (...args: PoolEvents[K]) => void): this;
  prependListener<K extends keyof PoolEvents>(event: K, listener: (...args: PoolEvents[K]) => void): this;
  prependOnceListener<K extends keyof PoolEvents>(event: K, listener: (...args: PoolEvents[K]) => void): this;
}

/**
 * Emits one of the pool's events from the backend's or the scheduler's handlers. A listener
 * that throws must not unwind into them: its error surfaces as an uncaughtException on the next
 * tick, as a throwing callback's does, and the listeners after it still run.
 */
function emitSafely(pool: EventEmitter, event: string, args: unknown[]): void {
  for (const listener of pool.rawListeners(event)) {
    try {
      Reflect.apply(listener as (...a: unknown[]) => void, pool, args);
    } catch (error) {
      process.nextTick(rethrow, error);
    }
  }
}

/** Routes what the backend reports outside any task to the pool's events. */
function eventsOf(pool: Pool): BackendEvents {
  return {
    workerCreate: (info) => emitSafely(pool, 'workerCreate', [info]),
    workerExit: (info) => emitSafely(pool, 'workerExit', [info]),
    message: (value, info) => emitSafely(pool, 'message', [value, info]),
    error: (error) => {
      if (pool.listenerCount('error') > 0) emitSafely(pool, 'error', [error]);
      else process.emitWarning(error instanceof Error ? error : new Error(String(error)), { type: 'SpindlePoolError', code: 'SPINDLE_POOL_ERROR' });
    },
  };
}

export class Pool extends EventEmitter {
  /** The backend running this pool's tasks, as resolved from `options.backend`. */
  readonly backend: 'native' | 'worker' | 'queue';
  /**
   * Threads (native) or workers (at most: with minSize the worker backend may run fewer) this
   * pool uses at once. Tasks running at once are bounded by size × concurrentTasksPerWorker.
   */
  readonly size: number;
  /** Tasks that may run at once: size × concurrentTasksPerWorker; map's and imap's defaults scale with it. */
  readonly #slots: number;
  readonly #scheduler: Scheduler;
  readonly #rejectWhenFull: boolean;

  constructor(options?: PoolOptions) {
    super();
    options = snapshotPoolOptions(options);
    checkPoolOptions(options);
    const size = options?.size ?? Math.min(availableParallelism(), MAX_POOL_SIZE);
    const backend =
      injectedBackend ??
      openBackend(options?.backend ?? 'auto', {
        size,
        initializer: options?.initializer,
        initArgs: options?.initArgs,
        maxTasksPerWorker: options?.maxTasksPerWorker,
        cancelGrace: options?.cancelGrace,
        minSize: options?.minSize,
        idleTimeout: options?.idleTimeout,
        concurrentTasksPerWorker: options?.concurrentTasksPerWorker,
        resourceLimits: options?.resourceLimits,
        env: options?.env,
        argv: options?.argv,
        execArgv: options?.execArgv,
        name: options?.name,
        workerData: options?.workerData,
        events: eventsOf(this),
      }, options?.backend === 'queue' ? { queue: options.queue!, connection: options.connection!, attempts: options.attempts } : undefined);
    const workerOnly = workerOnlyOptions(options);
    if (backend.name !== 'worker' && workerOnly.length > 0) {
      backend.close().catch(() => {});
      throw new TypeError(`Pool: options.${workerOnly[0]} applies only to the worker backend, and this pool's backend is '${backend.name}'`);
    }
    this.backend = backend.name;
    // The backend's size counts task places (a worker running N async tasks offers N); the
    // Pool's is the threads or workers the caller asked for.
    this.#slots = backend.size;
    this.size = backend.size / (backend.name === 'worker' ? (options?.concurrentTasksPerWorker ?? 1) : 1);
    this.#scheduler = new Scheduler(backend, options?.maxQueue ?? DEFAULT_MAX_QUEUE);
    this.#scheduler.closeTimeout = options?.closeTimeout;
    this.#scheduler.onDrain = () => emitSafely(this, 'drain', []);
    this.#rejectWhenFull = options?.onQueueFull === 'reject';
  }

  // The calling methods' type parameters: T is the task; A (one call's argument tuple, inferred
  // `const` so an array literal stays a tuple and `{ encoding: 'buffer' }` keeps its literal) and
  // I (map's item) let ResultFor type the result from the arguments where the kernel's result
  // follows them (sort, sha256: see ResultFn in kernels/types.ts). Given T alone, as in
  // `pool.map<typeof k>`, A and I default to the task's own argument types.

  /** Runs `task(...args)` and resolves with its result. */
  apply<T extends Task, const A extends Readonly<ArgsOf<T>> = Readonly<ArgsOf<T>>>(
    task: T,
    args: A,
    options?: ApplyOptions,
  ): Promise<ResultFor<T, A>> {
    let t: CallTask;
    try {
      options = snapshotCallOptions('apply', options);
      const [runnable, validated] = this.#validate('apply', task, args, options);
      if (options === undefined) {
        const argc = numberArgCount(validated);
        if (argc >= 0) return this.#applyPlain(runnable, validated, argc) as Promise<ResultFor<T, A>>;
      }
      t = this.#taskOf(runnable, validated, options);
    } catch (error) {
      return Promise.reject(error);
    }
    const signal = options?.signal;
    if (isAborted(signal)) return Promise.reject(abortErrorFor(signal));
    const promise = promiseResolvedBy<ResultFor<T, A>>(t);
    if (!this.#admit(t)) return Promise.reject(new QueueFullError(this.#scheduler.maxQueue));
    t.watch(signal, options?.timeout);
    return promise;
  }

  /** Starts `task(...args)` and returns its AsyncResult at once. With onQueueFull 'wait', a full queue makes the task (not the caller) wait. */
  applyAsync<T extends Task, const A extends Readonly<ArgsOf<T>> = Readonly<ArgsOf<T>>>(
    task: T,
    args: A,
    options?: AsyncCallOptions<ResultFor<T, A>>,
  ): AsyncResult<ResultFor<T, A>> {
    options = snapshotCallOptions('applyAsync', options);
    const t = this.#newTask('applyAsync', task, args, options);
    checkCallbackOptions('applyAsync', options);
    const result = new AsyncResult<ResultFor<T, A>>(options?.callback, options?.errorCallback);
    t.result = result;
    const signal = options?.signal;
    if (isAborted(signal)) {
      settleSoon(result, false, abortErrorFor(signal));
      return result;
    }
    if (!this.#admit(t)) throw new QueueFullError(this.#scheduler.maxQueue);
    t.watch(signal, options?.timeout);
    return result;
  }

  /**
   * Waits until the pool accepts the task (whatever onQueueFull says), then resolves with its
   * AsyncResult: `await pool.submit()` in a loop is back-pressure for floods.
   */
  submit<T extends Task, const A extends Readonly<ArgsOf<T>> = Readonly<ArgsOf<T>>>(
    task: T,
    args: A,
    options?: AsyncCallOptions<ResultFor<T, A>>,
  ): Promise<AsyncResult<ResultFor<T, A>>> {
    let t: CallTask;
    try {
      options = snapshotCallOptions('submit', options);
      t = this.#newTask('submit', task, args, options);
      checkCallbackOptions('submit', options);
    } catch (error) {
      return Promise.reject(error);
    }
    const signal = options?.signal;
    if (isAborted(signal)) return Promise.reject(abortErrorFor(signal));
    const result = new AsyncResult<ResultFor<T, A>>(options?.callback, options?.errorCallback);
    t.result = result;
    let accepted: Promise<AsyncResult<ResultFor<T, A>>>;
    if (this.#scheduler.tryAccept(t)) {
      accepted = Promise.resolve(result);
    } else {
      accepted = Submitter.attach(t);
      this.#scheduler.wait(t);
    }
    t.watch(signal, options?.timeout);
    return accepted;
  }

  /** Runs the task once per item (the item is its one argument); results in input order. */
  map<T extends Task, I extends ItemOf<T> = ItemOf<T>>(
    task: T,
    items: Iterable<I> | ArrayLike<I>,
    options?: MapOptions,
  ): Promise<ResultFor<T, readonly [I]>[]> {
    return this.#mapPromise('map', false, task, items, options);
  }

  /** Runs the task once per argument tuple; results in input order. */
  starmap<T extends Task, const A extends Readonly<ArgsOf<T>> = Readonly<ArgsOf<T>>>(
    task: T,
    tuples: Iterable<A> | ArrayLike<A>,
    options?: MapOptions,
  ): Promise<ResultFor<T, A>[]> {
    return this.#mapPromise('starmap', true, task, tuples, options);
  }

  mapAsync<T extends Task, I extends ItemOf<T> = ItemOf<T>>(
    task: T,
    items: Iterable<I> | ArrayLike<I>,
    options?: MapAsyncOptions<ResultFor<T, readonly [I]>[]>,
  ): AsyncResult<ResultFor<T, readonly [I]>[]> {
    return this.#mapAsyncResult('mapAsync', false, task, items, options);
  }

  starmapAsync<T extends Task, const A extends Readonly<ArgsOf<T>> = Readonly<ArgsOf<T>>>(
    task: T,
    tuples: Iterable<A> | ArrayLike<A>,
    options?: MapAsyncOptions<ResultFor<T, A>[]>,
  ): AsyncResult<ResultFor<T, A>[]> {
    return this.#mapAsyncResult('starmapAsync', true, task, tuples, options);
  }

  /** Lazy, bounded map over a sync or async iterable; yields in input order. */
  imap<T extends Task, I extends ItemOf<T> = ItemOf<T>>(
    task: T,
    items: Iterable<I> | AsyncIterable<I>,
    options?: ImapOptions,
  ): AsyncIterableIterator<ResultFor<T, readonly [I]>> {
    return this.#imap('imap', false, true, task, items, options);
  }

  /** Like imap, yielding in completion order. */
  imapUnordered<T extends Task, I extends ItemOf<T> = ItemOf<T>>(
    task: T,
    items: Iterable<I> | AsyncIterable<I>,
    options?: ImapOptions,
  ): AsyncIterableIterator<ResultFor<T, readonly [I]>> {
    return this.#imap('imapUnordered', false, false, task, items, options);
  }

  /** Lazy starmap; yields in input order. */
  istarmap<T extends Task, const A extends Readonly<ArgsOf<T>> = Readonly<ArgsOf<T>>>(
    task: T,
    tuples: Iterable<A> | AsyncIterable<A>,
    options?: ImapOptions,
  ): AsyncIterableIterator<ResultFor<T, A>> {
    return this.#imap('istarmap', true, true, task, tuples, options);
  }

  /** Lazy starmap; yields in completion order. */
  istarmapUnordered<T extends Task, const A extends Readonly<ArgsOf<T>> = Readonly<ArgsOf<T>>>(
    task: T,
    tuples: Iterable<A> | AsyncIterable<A>,
    options?: ImapOptions,
  ): AsyncIterableIterator<ResultFor<T, A>> {
    return this.#imap('istarmapUnordered', true, false, task, tuples, options);
  }

  /** No new calls from now on; calls already made (queued, waiting for room, lazy iterators) still run. Idempotent. */
  close(): void {
    this.#scheduler.close();
  }

  /**
   * Resolves once, after close(), every accepted call has settled, every imap still open has
   * ended (one left part-read holds it until it is read to the end, closed with return(), or the
   * pool terminated) and the backend has closed; after terminate(), once it is done.
   */
  join(): Promise<void> {
    return this.#scheduler.join();
  }

  /** Every unsettled call rejects with an AbortError now; resolves once the backend has stopped. Idempotent. */
  terminate(): Promise<void> {
    return this.#scheduler.terminate();
  }

  /** `await using pool = new Pool()`: close() then join(). */
  async [asyncDispose](): Promise<void> {
    this.close();
    await this.join();
  }

  stats(): PoolStats {
    const s = this.#scheduler;
    const inBackend = s.queuedInBackend;
    return {
      backend: this.backend,
      size: this.size,
      state: s.state,
      submitted: s.submitted,
      completed: s.completed,
      failed: s.failed,
      cancelled: s.cancelled,
      queued: s.queued + inBackend,
      queuedInPool: s.queued,
      queuedInBackend: inBackend,
      running: s.running - inBackend,
      waiting: s.waiting,
      waitTime: s.times.wait.summary(),
      runTime: s.times.run.summary(),
      utilization: this.#utilization(),
      workerUtilization: s.backend.workerUtilization?.() ?? [],
      backendInfo: s.backend.describe(),
    };
  }

  #utilization(): number {
    const times = this.#scheduler.times;
    const busy = this.#scheduler.backend.busyTime?.() ?? times.run.sum;
    const capacity = this.#slots * times.age();
    return capacity > 0 ? Math.min(1, busy / capacity) : 0;
  }

  #checkOpen(method: string): void {
    const state = this.#scheduler.state;
    if (state === 'closed') throw new PoolClosedError(`${method}: the pool is closed: no new tasks are accepted`);
    if (state === 'terminated') throw new PoolClosedError(`${method}: the pool was terminated: no new tasks are accepted`);
  }

  /** A checked, not yet admitted task for apply/applyAsync/submit. Throws on a bad argument or a closed pool. */
  #newTask(method: string, task: unknown, args: unknown, options: ApplyOptions | undefined): CallTask {
    const [runnable, validated] = this.#validate(method, task, args, options);
    return this.#taskOf(runnable, validated, options);
  }

  /** The CallTask for a checked call. */
  #taskOf(task: Runnable, validated: readonly unknown[], options: ApplyOptions | undefined): CallTask {
    const t = this.#scheduler.newCall(task, validated, options?.progress);
    if (options?.transfer !== undefined && options.transfer.length > 0) t.withExtras().transfer = options.transfer;
    if (options?.attempts !== undefined) t.withExtras().attempts = options.attempts;
    return t;
  }

  /**
   * The runnable the call uses (runnableOf) and its validated arguments. Throws on a bad argument
   * or option, or a closed pool.
   *
   * Reading the arguments can run the caller's code (getters, a Proxy's traps), which may close
   * or terminate this pool: the pool's state is checked again once they are read, and nothing
   * between here and the task's admission runs the caller's code. The arguments are read once,
   * into an array of this call's own, so what was checked is what runs.
   */
  #validate(method: string, task: unknown, args: unknown, options: ApplyOptions | undefined): [Runnable, readonly unknown[]] {
    this.#checkOpen(method);
    const runnable = runnableOf(method, task, this.backend);
    if (!isArray(args)) throw new TypeError(`${method}: args must be an array of the task's arguments, got ${describe(args)}`);
    checkCallOptions(method, options, this.backend);
    checkTransfer(method, options);
    const validated = runnable.validate(ownCopy(args, `${method}: args`));
    this.#scheduler.backend.checkArgs?.(method, runnable, validated);
    this.#checkOpen(method);
    return [runnable, validated];
  }

  /**
   * apply() with no options whose validated arguments are `argc` (0 to 2) numbers: a plain
   * call, which has no Task while it waits or runs (see Scheduler.acceptPlain).
   */
  #applyPlain(task: Runnable, validated: readonly unknown[], argc: number): Promise<unknown> {
    const promise = promiseResolvedBy<unknown>(plainResolver);
    const resolve = plainResolver.resolveFn!;
    plainResolver.resolveFn = undefined;
    const accepted = this.#scheduler.acceptPlain(task, resolve, argc, validated[0] as number, validated[1] as number, !this.#rejectWhenFull);
    return accepted ? promise : Promise.reject(new QueueFullError(this.#scheduler.maxQueue));
  }

  /** Accepts the task, or parks it to wait for room; false when the queue is full and the pool rejects then. */
  #admit(t: CallTask): boolean {
    if (this.#scheduler.tryAccept(t)) return true;
    if (this.#rejectWhenFull) return false;
    this.#scheduler.wait(t);
    return true;
  }

  /** A checked, not yet started MapJob; undefined for an empty input. Throws on a bad argument or a closed pool. */
  #mapJob(method: string, spread: boolean, given: unknown, items: unknown, options: MapOptions | undefined): MapJob | undefined {
    this.#checkOpen(method);
    const task = runnableOf(method, given, this.backend);
    checkCallOptions(method, options, this.backend);
    checkChunkOptions(method, options);
    const calls = allCalls(method, task, items, spread);
    this.#checkOpen(method); // reading the items ran the caller's code (see #validate)
    if (calls.length === 0) return undefined;
    const checkArgs = this.#scheduler.backend.checkArgs;
    if (checkArgs !== undefined) {
      const input = `${method}: ${inputName(spread)}`;
      for (let i = 0; i < calls.length; i++) checkArgs.call(this.#scheduler.backend, `${input}[${i}]`, task, calls[i]!);
    }
    // Python's default: about four chunks per thread.
    const chunkSize = options?.chunkSize ?? Math.ceil(calls.length / (4 * this.#slots));
    return new MapJob(this.#scheduler, task, calls, chunkSize, options?.progress, options?.attempts);
  }

  #mapPromise(method: string, spread: boolean, task: unknown, items: unknown, options: MapOptions | undefined): Promise<any[]> {
    let job: MapJob | undefined;
    try {
      options = snapshotCallOptions(method, options);
      job = this.#mapJob(method, spread, task, items, options);
    } catch (error) {
      return Promise.reject(error);
    }
    // An aborted signal wins even over empty input: the header's rule has no exception.
    const signal = options?.signal;
    if (isAborted(signal)) return Promise.reject(abortErrorFor(signal));
    if (job === undefined) return Promise.resolve([]);
    const promise = promiseFor<any[]>(job);
    if (!job.start(this.#rejectWhenFull)) return Promise.reject(new QueueFullError(this.#scheduler.maxQueue));
    if (options !== undefined) watch(job, signal, options.timeout);
    return promise;
  }

  #mapAsyncResult(method: string, spread: boolean, task: unknown, items: unknown, options: MapAsyncOptions<any[]> | undefined): AsyncResult<any[]> {
    options = snapshotCallOptions(method, options);
    const job = this.#mapJob(method, spread, task, items, options);
    checkCallbackOptions(method, options);
    const result = new AsyncResult<any[]>(options?.callback, options?.errorCallback);
    const signal = options?.signal;
    if (isAborted(signal)) {
      settleSoon(result, false, abortErrorFor(signal));
    } else if (job === undefined) {
      settleSoon(result, true, []);
    } else {
      job.result = result;
      if (!job.start(this.#rejectWhenFull)) throw new QueueFullError(this.#scheduler.maxQueue);
      if (options !== undefined) watch(job, signal, options.timeout);
    }
    return result;
  }

  #imap(method: string, spread: boolean, ordered: boolean, given: unknown, items: unknown, options: ImapOptions | undefined): ImapIterator<any> {
    options = snapshotCallOptions(method, options);
    this.#checkOpen(method);
    const task = runnableOf(method, given, this.backend);
    checkCallOptions(method, options, this.backend);
    checkChunkOptions(method, options);
    const source = openSource(method, items, spread);
    try {
      this.#checkOpen(method); // opening the source ran the caller's code (see #validate)
    } catch (error) {
      closeQuietly(source);
      throw error;
    }
    const iterator = new ImapIterator<any>(this.#scheduler, source, {
      method,
      kernel: task,
      spread,
      ordered,
      chunkSize: options?.chunkSize ?? 1,
      window: options?.window ?? Math.max(4, 2 * this.#slots),
      progress: options?.progress,
      attempts: options?.attempts,
    });
    const signal = options?.signal;
    if (isAborted(signal)) iterator.abort(abortErrorFor(signal));
    else if (options !== undefined) watch(iterator, signal, options.timeout);
    return iterator;
  }
}
