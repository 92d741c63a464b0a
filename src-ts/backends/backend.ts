// The seam between the backend-neutral Pool (src-ts/pool.ts) and the thing that runs tasks.
// The Pool owns admission, ordering, timeouts and the user-facing promises; a backend only
// runs what it is given and reports each outcome exactly once.

import type { TransferListItem } from 'node:worker_threads';
import type { Runnable } from '../kernels/types.js';
import type { SharedCounter } from '../shared/counter.js';

export const enum Outcome {
  /** value: the result (or, for a batch, the array of results in call order). */
  Ok = 0,
  /** value: an Error instance, already of the right class. */
  Error = 1,
  /** The task stopped because it was cancelled; value is undefined. */
  Cancelled = 2,
}

/** One unit of dispatch: a kernel applied to one argument tuple, or to several (a map chunk). */
export interface Dispatch {
  readonly id: number;
  /** The kernel, or the user's JS task (worker backend only). */
  readonly kernel: Runnable;
  /** True for a map chunk: settle with an array of results. False: settle with the one result. */
  readonly batch: boolean;
  /**
   * Not a batch: the call's validated, normalized arguments, equal to `calls[0]`. Undefined
   * for a batch. Either may be built on each read (see numberArgs), so a backend reads it
   * once per dispatch and never changes it.
   */
  readonly args: readonly unknown[] | undefined;
  /** Validated, normalized argument tuples; exactly one unless `batch`. */
  readonly calls: readonly (readonly unknown[])[];
  /** A batch: the position of `calls[0]` among its map's or imap's items, for errors that name an item. */
  readonly firstItem?: number;
  /**
   * A single call whose arguments are at most two numbers keeps them in `arg0`/`arg1` rather
   * than in an array (`args` builds one when read): this is their count, 0 to 2, and -1 for
   * every other dispatch. A burst keeps each waiting task alive, and V8's young-generation
   * collector pays for every live object, so the commonest small call carries no array.
   */
  readonly numberArgs: number;
  readonly arg0: number | undefined;
  readonly arg1: number | undefined;
  readonly progress: SharedCounter | undefined;
  /** ArrayBuffers (and ports) to move, not copy, to the worker with the arguments; worker backend only. */
  readonly transfer: readonly TransferListItem[] | undefined;
  /** Reserved for the backend that holds this dispatch. */
  backendSlot: unknown;
  /** Queue backend: how many times BullMQ may run the job (the call's `attempts` option); undefined: the pool's default. */
  readonly attempts?: number | undefined;
  /** When the pool accepted the task, in performance.now() milliseconds (see internal/task-times.ts). */
  readonly acceptedAt: number;
  /** Called by the backend exactly once per dispatch, on the pool's own thread. */
  settle(outcome: Outcome, value: unknown): void;
  /**
   * Called by the backend, before settle(), for a task that started: when it started, in
   * performance.now() milliseconds of the pool's thread, and how long it ran. Optional for a
   * backend (a task with no timing is left out of stats().waitTime and runTime).
   */
  timed(startedAt: number, runMs: number): void;
}

/** Where a backend reports plain calls (Backend.dispatchPlain): the scheduler. */
export interface PlainSink {
  /**
   * The one report for a plain call. `resolve` is its promise's resolve function, or undefined
   * when withdrawPlain() already handed the call back (then only the slot is freed).
   */
  plainSettled(resolve: ((value: unknown) => void) | undefined, outcome: Outcome, value: unknown): void;
  /** Dispatch.timed for a plain call: `acceptedAt` is what dispatchPlain was given. */
  plainTimed(acceptedAt: number, startedAt: number, runMs: number): void;
}

/**
 * What a backend reports that belongs to no task: the Pool turns each into an event of the
 * same name (pool.on(...)). Called on the pool's thread, never re-entrantly from inside a
 * Backend method the Pool is calling (a backend defers to an event handler or a microtask).
 * A sink method must not throw.
 */
export interface BackendEvents {
  /** A worker was started (worker backend). */
  workerCreate(info: WorkerEventInfo): void;
  /** A worker exited, for whatever reason (worker backend). */
  workerExit(info: WorkerExitInfo): void;
  /**
   * An error raised outside any task, which no task's outcome carries. Worker backend: a
   * worker's uncaught exception or unhandled rejection while it runs no task (a timer left by a
   * finished task), its initializer's failure, a worker that could not be started, a parentPort
   * message that cannot be read. Always a WorkerCrashError, with the original error as `cause`
   * (and its `code`, when a string). An uncaught error while a task runs fails that task instead
   * and is not reported here too: each error is reported once.
   */
  error(error: Error): void;
  /** A value a task posted on worker_threads' parentPort (worker backend). */
  message(value: unknown, info: WorkerEventInfo): void;
}

export interface WorkerUtilization {
  threadId: number;
  /** The share of its life the worker's event loop was busy (performance.eventLoopUtilization()), 0 to 1. */
  eventLoopUtilization: number;
}

export interface WorkerEventInfo {
  /** The worker's threadId. */
  threadId: number;
}

export interface WorkerExitInfo extends WorkerEventInfo {
  /** The worker's exit code (1 when it was terminated). */
  exitCode: number;
  /** Why it exited: 'crash', 'recycled' (maxTasksPerWorker), 'idle' (idleTimeout), 'cancel' (killed to stop a cancelled task), 'shutdown' (close or terminate), 'startFailed'. */
  reason: 'crash' | 'recycled' | 'idle' | 'cancel' | 'shutdown' | 'startFailed';
}

export interface Backend {
  readonly name: 'native' | 'worker' | 'queue';
  /**
   * Optional: throws a TypeError when a validated call's arguments cannot reach this backend
   * (the queue backend's codec), so that the call fails where it is made. `where` names the
   * call in the error: the method ('apply'), and for one item of a map the item too
   * ('imap: items[3]'). A backend may keep what it made of `args` for their dispatch.
   */
  checkArgs?(where: string, kernel: Runnable, args: readonly unknown[]): void;
  /** Threads this pool may use at once. */
  readonly size: number;
  /**
   * How many dispatched, unsettled tasks the backend takes before the pool keeps the rest in
   * its own bounded queue. Larger than `size` so the backend never starves between wake-ups.
   */
  readonly capacity: number;
  /** Starts a task. Must not throw for a task the pool validated. */
  dispatch(d: Dispatch): void;
  /**
   * Optional: runs a plain call (an apply() with no options and at most two number arguments)
   * without a Dispatch: `kernel` on the first `argc` of a0, a1, reported once through
   * `sink.plainSettled(resolve, ...)`. Returns false, doing nothing, when this backend cannot
   * run the kernel that way; the pool then dispatches a Task instead. Must not throw.
   */
  dispatchPlain?(kernel: Runnable, resolve: (value: unknown) => void, argc: number, a0: number, a1: number, acceptedAt: number, sink: PlainSink): boolean;
  /**
   * With dispatchPlain: cancels every plain call not yet reported and returns their resolve
   * functions, for the pool to answer now (terminate). Their reports still come, with
   * `resolve` undefined.
   */
  withdrawPlain?(): ((value: unknown) => void)[];
  /** Asks a dispatched task to stop. It still settles exactly once (Cancelled, or its result if it won the race). */
  cancel(d: Dispatch): void;
  /** Cancels everything dispatched; resolves once all of it has settled and no thread runs for this pool. */
  terminate(): Promise<void>;
  /** The pool has drained after close(): release threads or workers. */
  close(): Promise<void>;
  /** Facts for stats() and `spindle info`. */
  describe(): Record<string, unknown>;
  /**
   * Optional: thread time spent running this pool's tasks since it opened, in ms, where the
   * backend knows it better than the sum of its tasks' run times (a native call spread over
   * several threads keeps each of them busy).
   */
  busyTime?(): number;
  /** Optional (worker backend): each live worker's event-loop utilization since it started. */
  workerUtilization?(): WorkerUtilization[];
}

/**
 * A kernel's result computed elsewhere, on a copy of the call's arguments (in a worker, or on a
 * queue server), as its caller gets it: see Kernel.fromWorker (sort writes the sorted copy into
 * the caller's array and resolves with that array). A batch's results are an array, one each.
 */
export function resultOfCopy(d: Dispatch, value: unknown): unknown {
  const kernel = d.kernel;
  if (kernel.kind !== 'kernel' || kernel.fromWorker === undefined) return value;
  if (!d.batch) return kernel.fromWorker(value, d.calls[0]!);
  return (value as unknown[]).map((one, i) => kernel.fromWorker!(one, d.calls[i]!));
}
