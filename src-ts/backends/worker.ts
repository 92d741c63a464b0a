// The worker backend: kernels' JS twins and users' JS tasks run on a set of worker_threads,
// between minSize and maxWorkers of them. This side assigns tasks to workers, sends them in
// batches, matches replies, moves tasks off a worker that is stuck in a slow one, and keeps the
// set whole when workers crash, are recycled or must be killed. The other side is ./worker-entry.ts; the wire format
// is ./worker-protocol.ts; who runs a posted task is decided by ./claim-table.ts; what each
// worker holds is kept by its WorkerSlot (./worker-slot.ts); starting one is ./worker-start.ts.
//
// Where a dispatched task is (its backendSlot says which):
//   a SplitCall      shared out in parts (see split-call.ts), each of which is in one of the
//                    places below;
//   PENDING          in `pending`, not yet given to a worker;
//   a WorkerSlot     in that slot's `outbox` (posted at the next microtask) or held by it
//                    (posted under a sequence number, no reply yet, not taken back);
//   undefined        settled (or cancelled while pending: then a dead entry in `pending`).
// `live` counts every task or part not yet settled; each is settled exactly once. Replies are
// matched to held tasks by sequence number, never by position.
//
// Concurrency. A worker runs up to `concurrency` tasks at once (concurrentTasksPerWorker,
// default 1): it starts the next while earlier ones await, in sequence order, and its
// synchronous code still runs one stretch at a time (worker-entry.ts). So at most
// maxWorkers × concurrency tasks run at once: that product is the backend's `size`, which the
// Pool's bounds (maxQueue counts what is held beyond it) and defaults count. A worker has
// `concurrency` places; it reports in its control words the last task it claimed (STARTED)
// and how many run (RUNNING). Cancelling one of its running tasks reaches that task
// alone; if it ignores the cancellation for cancelGrace, the worker is killed, and its other
// running tasks fail with a WorkerCrashError, as in any crash (onExit()).
//
// Batching. Tasks are sent in messages of up to batchSize() tasks and each worker holds at most
// depth() unanswered ones, so a burst of small tasks costs one message each way per batch while
// a worker always has the next batch in hand (a last, partial batch waits in the outbox while
// its worker still holds a full one, so bursts travel in full batches). Both follow the
// measured wall time per task (start to settle, so an async task's awaits count): tiny tasks
// travel 128 to a message, tasks of a few milliseconds one at a time. What a worker holds is
// thus its places and, behind them, about a millisecond of expected work, and each task goes
// to the least loaded worker.
//
// Taking back. An estimate is only an estimate: a task far slower than the average still
// blocks what was posted behind it. Tasks a worker holds but has not started are taken back
// (claim-table.ts makes sure the worker then skips them) and run elsewhere. What a worker
// holds unstarted waits behind its running tasks when all its places are taken, or when it
// has left a posted task unclaimed for patience() with a place free (its thread is in
// synchronous code): WorkerSlot.busyInTask(). Then:
//   - a worker that has gone PATIENCE_TASKS expected task times (and at least PATIENCE_MIN_MS)
//     without a reply is stuck: it gets nothing new, and the next reply from any other worker
//     takes all its unstarted tasks back to the front of the queue;
//   - a worker that falls idle with nothing pending takes half the unstarted tasks of the worker
//     holding the most behind a task in progress (and looks again after RECHECK_MS while tasks
//     are still in flight to a busy worker).
// So no task waits behind a slow one while a worker is idle, and a burst's tasks, which never
// leave an idle worker, keep their batches. A cancelled task that has not started is taken back
// and settled at once; one that has started is told to stop (control port, then termination
// once cancelGrace has passed and the claim table says it is still running).
//
// Workers. `slots` holds every worker not yet exited: starting, working, idle, retiring
// (recycled by maxTasksPerWorker: it takes nothing new, and is stopped once ready and answered;
// a task taken back or cancelled before it started does not count toward that quota) or
// stopping (it takes nothing new either). There are never more than maxWorkers (the size
// option), starting and stopping ones included, so tasks running at once never exceed `size`
// (maxWorkers × concurrency). Between minSize (default maxWorkers) and maxWorkers, the number
// follows the load:
//   - replenish() starts workers up to minSize: at construction, and when one has exited (a
//     crash, a recycled worker, a failed start), only once it is gone, as Python's
//     maxtasksperchild does;
//   - grow() starts one more while tasks wait in `pending` after assign(), that is, while every
//     worker that may take work holds depth() tasks or is stuck, each new one taking its share
//     before the next is counted. It runs from a microtask, never inside a method the Pool
//     calls. While the pool may still grow, watchStuck() takes back the unstarted tasks of a
//     worker stuck in a slow task (no other worker's reply would, with no other worker), so
//     they wait in `pending` and a new worker starts for them;
//   - a ready worker that has had nothing to do for idleTimeout ms, while more than minSize
//     others would stay, is stopped with reason 'idle' (sweepIdle(): one unref'd timer for
//     the pool; WorkerSlot.idleSince says since when). The sweep and assign() run on the one
//     pool thread and never interleave; the sweep stops only a worker that holds nothing, and
//     a stopping worker is given nothing, so a worker stopped for idleness never takes a task
//     with it. Tasks that arrive meanwhile go to another worker, or to a new one once it has
//     exited if it was the last that maxWorkers allowed.
// A pool that may shrink (minSize < maxWorkers) pays for the idle clock; one that may not pays nothing.
// A worker that dies before it is ready, unless the pool stopped it, or that cannot be started
// at all (`new Worker` throws), is a failed start; STARTUP_FAILURE_LIMIT in a row break the pool,
// and every task fails with a WorkerCrashError saying why. So a failed start never throws out of
// the event handler that started the replacement. Every worker is started with the same
// controls (resourceLimits, env, argv, execArgv, name: worker-start.ts) and the same snapshot of
// the user's workerData, which worker-entry.ts puts where tasks read it, in place of the setup.
//
// Events. What belongs to no task goes to options.events (BackendEvents), only ever from an
// event handler or a microtask, never from inside a method the Pool calls: workerCreate once a
// `new Worker` succeeded (a microtask later, so before any of that worker's events); workerExit
// for each worker that exits, with why (the first reason the pool had to stop it, else 'crash',
// or 'startFailed' before it was ready); message for what user code posts on parentPort (replies
// never travel there); error for an error no task receives: a worker's uncaught error while it
// ran no task (the timer of a finished task, an idle worker's unhandled rejection), its
// initializer's failure, a worker that could not be started. Each is a WorkerCrashError with
// the original as `cause` (and its `code`). An uncaught error while a task runs is that task's
// WorkerCrashError instead, whichever code threw it: each error is reported exactly once.

import { performance } from 'node:perf_hooks';
import { receiveMessageOnPort, type TransferListItem, type WorkerOptions } from 'node:worker_threads';
import { WorkerCrashError } from '../errors.js';
import type { JsTask } from '../kernels/types.js';
import { Outcome, resultOfCopy, type Backend, type BackendEvents, type Dispatch, type WorkerExitInfo, type WorkerUtilization } from './backend.js';
import { LiveTasks } from './live-tasks.js';
import { PendingQueue } from './pending-queue.js';
import { SplitCall } from './split-call.js';
import { detachedIn, detachedTransferError, unsendableError } from './unsendable.js';
import {
  decodeError,
  decodeValue,
  encodeArgs,
  EPOCH,
  reasonOf,
  INIT_FAILED,
  READY,
  RESULT_STRIDE,
  RESULTS,
  STATUS_CANCELLED,
  STATUS_ERROR,
  STATUS_OK,
  STATUS_THROWN,
  type EncodedError,
} from './worker-protocol.js';
import { WorkerSlot } from './worker-slot.js';
import { controlOptions, keepOutputFlowing, snapshotInitArgs, snapshotWorkerData, workerEntry, type WorkerControls } from './worker-start.js';

/** A batch should hold about this much work. */
const TARGET_BATCH_MICROS = 500;
const MAX_BATCH = 128;
/** Tasks at least this long go one per worker at a time. */
const LONG_TASK_MICROS = 5000;
/** A kernel call that can be split goes out in up to this many parts per worker, for balance. */
const PARTS_PER_WORKER = 4;
/** A worker holding tasks that has not replied for PATIENCE_TASKS expected task times (and at least PATIENCE_MIN_MS) is stuck. */
const PATIENCE_TASKS = 4;
const PATIENCE_MIN_MS = 50;
/** An idle worker looks again this soon for tasks waiting behind another worker's task; ms. */
const RECHECK_MS = 5;
/** Workers dying before they are ready (or failing to start at all) this many times in a row mean the pool is broken. */
const STARTUP_FAILURE_LIMIT = 3;
/** After a worker could not be started at all (no thread: EAGAIN), the next try waits this long; ms. */
const RESTART_DELAY_MS = 50;
/**
 * How long a worker above minSize may have nothing to do before it exits, when the pool's
 * options do not say; ms. A worker start costs tens of milliseconds and the initializer, so a
 * pool under intermittent load (a request every few seconds) should keep the workers it grew,
 * and churn at worst costs a start per this long (under 1% at 10 s); yet the threads and memory
 * (about 10 MB each) of a burst that is over come back within seconds, not minutes. (piscina's
 * 0 lets a worker go the moment it runs dry, which under a steady trickle of tasks starts a
 * worker per task.)
 */
export const DEFAULT_IDLE_TIMEOUT_MS = 10_000;

const PENDING = Symbol('pending');

/** An error's code, when it is a string (Node's codes are): what WorkerCrashError carries on. */
function codeOf(error: unknown): string | undefined {
  try {
    const code = (error as { code?: unknown } | null | undefined)?.code;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}

/** What a worker died of, as an Error: a thrown non-Error value becomes the cause of one. */
function asError(value: unknown): Error {
  if (value instanceof Error) return value;
  return new Error(`the worker threw ${typeof value === 'string' ? JSON.stringify(value) : reasonOf(value)}`, { cause: value });
}

/**
 * The error for a task given a transfer list whose worker died before starting it: the buffers
 * moved with the message, so no other worker can run it. `crash` says what the worker died of.
 */
function lostTransfer(crash: WorkerCrashError): WorkerCrashError {
  const message = `the worker this task was posted to died before starting it, and the buffers it moved there (options.transfer) went with it; ${crash.message}`;
  return new WorkerCrashError(message, { cause: crash.cause, code: crash.code });
}

/** A task settled by settleAll(): the task, its outcome and the value that goes with it. */
type Ending = [Dispatch, Outcome, unknown];
const NOTHING_THROWN = Symbol('nothing thrown');

export interface WorkerBackendOptions {
  /**
   * The most workers alive at once (starting, working, idle, retiring or stopping); raised to
   * minSize when below it. (The backend's own `size` counts tasks: this × concurrentTasksPerWorker.)
   */
  size: number;
  /**
   * Workers kept even when idle; an integer in [0, size]. Default: `size` (a fixed pool). Below
   * `size`, the pool starts this many, grows toward `size` while tasks wait, and lets workers
   * above it exit after idleTimeout. 0: an idle pool holds no worker, and the next task starts
   * one (a start Node refuses, such as a bad execArgv, then fails that task rather than the
   * constructor).
   */
  minSize?: number | undefined;
  /** ms a worker above minSize may go without work before it exits; default DEFAULT_IDLE_TIMEOUT_MS. */
  idleTimeout?: number | undefined;
  /**
   * Tasks one worker may have in flight at once, an integer >= 1; default 1. Above 1, a worker
   * starts its next task while earlier ones await (I/O between CPU bursts); its synchronous
   * code still runs one stretch at a time. The backend's `size` (tasks at once) is then
   * options.size × this. A cancelled task that ignores its cancellation past cancelGrace gets
   * its worker killed, and the other tasks running there fail with a WorkerCrashError, as they
   * would if the task had crashed it.
   */
  concurrentTasksPerWorker?: number | undefined;
  initializer?: JsTask<any, any> | undefined;
  initArgs?: readonly unknown[] | undefined;
  maxTasksPerWorker?: number | undefined;
  /** ms; default 1000. */
  cancelGrace?: number | undefined;
  /**
   * Node's per-worker heap limits. A task that runs its worker past them fails with a
   * WorkerCrashError whose `code` is 'ERR_WORKER_OUT_OF_MEMORY'; the worker is replaced, and
   * the other tasks it held but had not started run elsewhere.
   */
  resourceLimits?: WorkerControls['resourceLimits'];
  /** Each worker's process.env: an object, or worker_threads' SHARE_ENV (one environment for all). Default: a copy of the parent's at each worker's start. */
  env?: WorkerControls['env'];
  /** Appended (stringified) to each worker's process.argv. */
  argv?: WorkerControls['argv'];
  /**
   * Node options for the workers, replacing those they would inherit from the parent (which are
   * cleaned of the parent's -e/--input-type and the like; an explicit one is used as it is).
   * One Node refuses (a per-process flag) makes the constructor throw a RangeError.
   */
  execArgv?: WorkerControls['execArgv'];
  /**
   * The workers' name: Node shows `[worker <threadId>] <name>` in the inspector and in trace
   * events (Node 18.16 and later: every supported version). Inside a worker it is readable as
   * worker_threads' threadName only on Node versions that have it (22.20, 24.6 and later).
   */
  name?: WorkerControls['name'];
  /**
   * worker_threads' workerData in every worker, for tasks and the initializer (ESM and CJS
   * alike). Cloned once, when the pool is made (snapshotWorkerData()); spindle's own setup never
   * shows there.
   */
  workerData?: unknown;
  /** Where events that belong to no task go (the Pool's emitter); none: dropped. */
  events?: BackendEvents | undefined;
}

export class WorkerBackend implements Backend {
  readonly name = 'worker' as const;
  /** Tasks that may run at once: maxWorkers × concurrency (what the Pool's bounds and defaults count). */
  readonly size: number;
  /** The most workers alive at once (options.size, or minSize when larger). */
  readonly maxWorkers: number;
  /** Workers kept when idle; maxWorkers unless the pool may shrink. */
  readonly minSize: number;
  /** Tasks one worker may have in flight at once (concurrentTasksPerWorker). */
  readonly concurrency: number;
  private readonly idleTimeout: number;
  readonly capacity: number;
  private readonly entry: URL;
  private readonly options: WorkerBackendOptions;
  private readonly events: BackendEvents | undefined;
  /** What every `new Worker` gets from the options (controlOptions()), and the user's workerData (snapshotWorkerData()). */
  private readonly workerOptions: WorkerOptions;
  private readonly userData: unknown;
  private readonly cancelGrace: number;
  private readonly slots: WorkerSlot[] = [];
  private readonly pending = new PendingQueue<Dispatch>();
  /** JS tasks by index, as sent to workers in `defs`. */
  private readonly defs: JsTask<any, any>[] = [];
  private readonly defIndex = new Map<string, number>();
  private readonly defByHandle = new WeakMap<JsTask<any, any>, number>();
  private readonly live = new LiveTasks();
  /** Moving average of one task's wall time in a worker, start to settle; negative until measured. */
  private taskMicros = -1;
  private flushQueued = false;
  private state: 'open' | 'closing' | 'terminating' = 'open';
  private startupFailures = 0;
  /** Set while a start that failed waits to be tried again (RESTART_DELAY_MS). */
  private restartTimer: NodeJS.Timeout | undefined = undefined;
  /** Set when workers keep dying at start: every task fails with it from then on. */
  private broken: WorkerCrashError | undefined = undefined;
  private spawned = 0;
  /** The initializer's arguments as every worker gets them, whenever it starts (snapshotInitArgs). */
  private readonly initArgs: unknown[];
  /** Posted tasks taken back from a worker before it started them, to run elsewhere. */
  private takenBack = 0;
  /** A grow() is queued for the next microtask. */
  private growQueued = false;
  /** Armed while some worker may be stopped for idleness (sweepIdle); unref'd. */
  private idleTimer: NodeJS.Timeout | undefined = undefined;
  /** Armed while the pool may grow and a worker holds tasks behind one it started (watchStuck); unref'd. */
  private stuckTimer: NodeJS.Timeout | undefined = undefined;
  /** Armed while a worker holds more than one task: see watchHeld(). */
  private heldTimer: NodeJS.Timeout | undefined = undefined;
  /** Workers stopped for idleness, for describe(). */
  private idleExits = 0;

  constructor(options: WorkerBackendOptions) {
    this.options = options;
    this.maxWorkers = Math.max(options.size, options.minSize ?? 0);
    this.minSize = options.minSize ?? this.maxWorkers;
    this.concurrency = options.concurrentTasksPerWorker ?? 1;
    this.size = this.maxWorkers * this.concurrency;
    this.idleTimeout = options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.cancelGrace = options.cancelGrace ?? 1000;
    // Room for every worker's places and two full batches behind them.
    this.capacity = Math.max(1024, this.maxWorkers * (2 * MAX_BATCH + this.concurrency));
    this.initArgs = snapshotInitArgs(options.initArgs ?? []);
    this.userData = snapshotWorkerData(options.workerData);
    this.workerOptions = controlOptions(options);
    this.events = options.events;
    this.entry = workerEntry();
    this.replenish(true);
  }

  // ---- Workers ---------------------------------------------------------------------------

  /** Whether a worker may be started now: the pool is open, not broken, and no failed start waits to be retried. */
  private canStart(): boolean {
    return this.state === 'open' && this.broken === undefined && this.restartTimer === undefined;
  }

  /**
   * Starts workers until `minSize` are alive (starting, working, retiring or stopping: all
   * count) while one may be started (canStart()). More start only for tasks that wait (grow()).
   */
  private replenish(constructing = false): void {
    while (this.canStart() && this.slots.length < this.minSize) {
      if (!this.startWorker(constructing)) return;
    }
  }

  /**
   * While tasks wait that no worker may take and maxWorkers allows another worker, starts one and
   * gives it its share, and again. From a microtask (queueGrow()): `new Worker` costs
   * milliseconds, and a failed start may settle tasks, neither of which belongs inside a
   * method the Pool calls.
   */
  private readonly grow = (): void => {
    this.growQueued = false;
    while (this.waiting() && this.slots.length < this.maxWorkers && this.canStart()) {
      if (!this.startWorker()) break;
      this.placePending();
    }
    this.queueFlush();
  };

  private queueGrow(): void {
    if (this.growQueued) return;
    this.growQueued = true;
    queueMicrotask(this.grow);
  }

  /** Whether a task waits in `pending` (dead entries at its front, tasks cancelled there, are dropped). */
  private waiting(): boolean {
    while (this.pending.length > 0 && this.pending.peek()!.backendSlot !== PENDING) this.pending.shift();
    return this.pending.length > 0;
  }

  /**
   * Starts one worker; false when it could not be started at all, which is a failed start,
   * like one that dies before it is ready; the next try waits RESTART_DELAY_MS, as trying again
   * at once only meets the same exhausted resource. Called from event handlers and microtasks:
   * never throws, except from the constructor (`constructing`) when Node refuses the pool's own
   * options: that is the caller's error, and every later start would fail the same way.
   */
  private startWorker(constructing = false): boolean {
    try {
      this.spawn();
      return true;
    } catch (error) {
      if (constructing && this.slots.length === 0) {
        const refused = this.refusedOption(error);
        if (refused !== undefined) throw refused;
      }
      if (this.events !== undefined) {
        const failure = new WorkerCrashError(`spindle: a worker could not be started: ${reasonOf(error)}`, { cause: error, code: codeOf(error) });
        // Deferred: the constructor calls this too, and the sink is never called from inside a method the Pool calls.
        queueMicrotask(() => this.report((events) => events.error(failure)));
      }
      this.startFailed(`the last could not be started: ${reasonOf(error)}`, error);
      if (this.broken !== undefined) return false;
      // Referenced: tasks may be waiting for this worker, and nothing else keeps the process alive for them.
      this.restartTimer = setTimeout(() => {
        this.restartTimer = undefined;
        this.replenish();
        this.assign();
      }, RESTART_DELAY_MS);
      return false;
    }
  }

  /** A worker died before it was ready, or could not be started: STARTUP_FAILURE_LIMIT in a row break the pool. */
  private startFailed(why: string, cause: unknown): void {
    this.startupFailures++;
    if (this.startupFailures < STARTUP_FAILURE_LIMIT) return;
    this.broken = new WorkerCrashError(`spindle: workers keep dying before they can run a task (${this.startupFailures} in a row): ${why}`, { cause });
    // What any worker left unanswered fails now; nothing starts again.
    this.failPending(this.broken);
  }

  /** Starts one worker; throws what `new Worker` throws (startWorker() makes that a failed start). */
  private spawn(): void {
    const init = this.options.initializer;
    const slot = new WorkerSlot(
      this.entry,
      { initializer: init === undefined ? undefined : { module: init.module, exportName: init.exportName, args: this.initArgs }, concurrency: this.concurrency, timeOrigin: performance.timeOrigin },
      this.workerOptions,
      this.userData,
    );
    this.spawned++;
    keepOutputFlowing(slot.worker);
    slot.controlPort.unref();
    slot.port.on('message', (message: unknown) => this.onMessage(slot, message));
    // The worker's ref (updateRef) decides whether the process stays alive, not this port.
    slot.port.unref();
    // Whatever user code posts on parentPort is the user's, never a reply (replies travel on
    // slot.port): it goes to events.message as it is.
    const info = { threadId: slot.threadId };
    slot.worker.on('message', (value: unknown) => this.report((events) => events.message(value, { ...info })));
    slot.worker.on('messageerror', (error: Error) => {
      const failure = new WorkerCrashError(`spindle: a message a worker posted on parentPort (thread ${slot.threadId}) cannot be read: ${reasonOf(error)}`, { cause: error });
      this.report((events) => events.error(failure));
    });
    slot.worker.on('error', (error: unknown) => {
      // The worker's uncaught exception (or unhandled rejection, or ERR_WORKER_OUT_OF_MEMORY):
      // it is dying. onExit() decides whose error this is: a task's, or events.error's.
      slot.crash ??= asError(error);
    });
    slot.worker.on('exit', (code: number) => this.onExit(slot, code));
    // After the listeners: adding a 'message' listener refs the worker's port again.
    this.loadChanged(slot);
    this.slots.push(slot);
    // One more worker may let an idle one above minSize go now.
    if (this.minSize < this.maxWorkers) this.armIdleTimer(this.earliestIdleDue());
    // At the next microtask: spawn() runs inside the constructor too. Before any of this
    // worker's events, which come from the event loop.
    if (this.events !== undefined) queueMicrotask(() => this.report((events) => events.workerCreate({ ...info })));
  }

  /** Calls the events sink, if any. A sink must not throw; if one does, the throw surfaces as an uncaught exception later, never in the middle of this backend's bookkeeping. */
  private report(call: (events: BackendEvents) => void): void {
    if (this.events === undefined) return;
    try {
      call(this.events);
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
  }

  /**
   * Node refusing the pool's own Worker options, as the error the constructor throws; undefined
   * for any other failure to start. ERR_WORKER_INVALID_EXEC_ARGV is an explicit execArgv's (an
   * inherited one is cleaned instead, see startWorker()); Node's argument errors name the option.
   */
  private refusedOption(error: unknown): Error | undefined {
    const code = codeOf(error);
    if (code === 'ERR_WORKER_INVALID_EXEC_ARGV' && this.options.execArgv !== undefined) {
      return new RangeError(`Pool: options.execArgv is refused by Node: ${reasonOf(error)}`, { cause: error });
    }
    if (code === 'ERR_INVALID_ARG_TYPE' || code === 'ERR_INVALID_ARG_VALUE' || code === 'ERR_OUT_OF_RANGE') return error as Error;
    return undefined;
  }

  private onMessage(slot: WorkerSlot, message: unknown): void {
    if (!Array.isArray(message)) return;
    const tag = message[0];
    if (tag === RESULTS) this.onResults(slot, message);
    else if (tag === READY) {
      slot.ready = true;
      slot.lastProgressAt = performance.now();
      slot.markStarted();
      this.retireIfDone(slot);
      this.balance(slot);
      // Its idle clock starts now if it was given nothing.
      this.loadChanged(slot);
    } else if (tag === INIT_FAILED) {
      const error = decodeError(message[1] as EncodedError);
      slot.initFailure = error;
      slot.crash = new Error(`the pool's initializer failed: ${error.message}`, { cause: error });
    }
  }

  private onResults(slot: WorkerSlot, message: unknown[]): void {
    const count = (message.length - 2) / RESULT_STRIDE;
    const micros = message[1] as number;
    if (count > 0 && micros > 0) {
      const perTask = micros / count;
      this.taskMicros = this.taskMicros < 0 ? perTask : 0.7 * this.taskMicros + 0.3 * perTask;
    }
    slot.lastProgressAt = performance.now();
    if (!slot.answered && count > 0) {
      // The first reply, not READY, shows that workers start well: a worker whose initializer
      // left a timer that kills it after READY was replaced for ever, idle or not.
      slot.answered = true;
      this.startupFailures = 0;
    }
    let firstError: unknown;
    for (let i = 2; i < message.length; i += RESULT_STRIDE) {
      // Matched by sequence number: a reply names its task, whatever order replies come in.
      const seq = message[i] as number;
      const d = slot.release(seq);
      if (d === undefined) continue; // not held: cannot happen (a task taken back is never claimed, so never answered)
      slot.cancelledSeqs.delete(seq);
      try {
        const status = message[i + 1];
        const value = message[i + 2];
        const startedAt = message[i + 3] as number;
        if (!Number.isNaN(startedAt)) d.timed(startedAt, message[i + 4] as number);
        if (status === STATUS_OK) {
          // Turning the reply into the caller's result may throw (it runs kernel code on the
          // caller's objects): the task then fails with that error rather than never settling.
          let result: unknown;
          try {
            result = resultOfCopy(d, decodeValue(value));
          } catch (error) {
            this.settle(d, Outcome.Error, error);
            continue;
          }
          this.settle(d, Outcome.Ok, result);
        } else if (status === STATUS_CANCELLED) this.settle(d, Outcome.Cancelled, undefined);
        else if (status === STATUS_ERROR) this.settle(d, Outcome.Error, decodeError(value as EncodedError));
        else if (status === STATUS_THROWN) this.settle(d, Outcome.Error, value);
        // Not a status the worker sends: its reply was garbled (a task that broke its worker's
        // realm), and its value may be anything. Not delivered as what the task threw.
        else this.settle(d, Outcome.Error, new Error(`the worker's reply for this task was malformed (status ${reasonOf(status)}): the task may have broken its worker's builtins`));
      } catch (error) {
        // Settle every result of the message even if one settle() throws; report the first.
        firstError ??= error;
      }
    }
    this.retireIfDone(slot);
    this.loadChanged(slot);
    if (slot.outbox.length > 0) this.queueFlush(); // held back while the worker had a full batch
    this.balance(slot);
    if (firstError !== undefined) throw firstError;
  }

  private onExit(slot: WorkerSlot, code: number): void {
    // Gone: nothing is assigned to it from here on, not even by what the drain below sets off.
    slot.alive = false;
    // The private port's last messages may still be queued behind the exit event (parentPort's
    // are delivered before it): take them first, so no reply or INIT_FAILED is lost.
    for (let m = receiveMessageOnPort(slot.port); m !== undefined; m = receiveMessageOnPort(slot.port)) {
      try {
        this.onMessage(slot, m.message);
      } catch {
        // A settle callback threw; the remaining replies still count.
      }
    }
    slot.port.close();
    this.slots.splice(this.slots.indexOf(slot), 1);
    const requeue: Dispatch[] = slot.outbox;
    slot.outbox = [];
    const crashCode = codeOf(slot.crash);
    const crash = (): WorkerCrashError => {
      if (slot.crash === undefined && slot.stopReason === 'cancel') {
        // Beside a task that ignored its cancellation (concurrentTasksPerWorker > 1).
        return new WorkerCrashError(`the worker running this task was terminated to stop another task on it that ignored its cancellation for cancelGrace (${this.cancelGrace} ms)`);
      }
      const why = slot.crash !== undefined ? `${slot.crash.name}: ${slot.crash.message}` : `it exited with code ${code}`;
      return new WorkerCrashError(`the worker running this task died: ${why}`, { cause: slot.crash, code: crashCode });
    };
    // Whether a task was failed with the worker's error: if none was, events.error gets it.
    let blamed = false;
    // Each task's fate is decided, and every task moved to where it now is, before any is
    // settled: settling one can cancel others at once (a failed map withdraws its siblings), and
    // a cancel must find each where its backendSlot says (a requeued task in `pending`, never
    // still this dead slot, where a cancel would find nothing and the task would run anyway).
    // The worker is gone, so it claims nothing more: the claim table says which tasks it started,
    // and which of those it finished (their replies were still held, or in flight).
    const ended: Ending[] = [];
    for (const [seq, d] of slot.releaseAll()) {
      if (this.state === 'terminating') ended.push([d, Outcome.Cancelled, undefined]);
      else if (slot.cancelledSeqs.has(seq)) ended.push([d, Outcome.Cancelled, undefined]); // settled for its caller: never run again
      else if (!slot.claims.wasClaimed(seq)) {
        // Never started: another worker runs it, unless its transferred buffers went with this one.
        if (d.transfer === undefined) requeue.push(d);
        else ended.push([d, Outcome.Error, lostTransfer(crash())]);
      }
      else if (seq === slot.killedFor) ended.push([d, Outcome.Cancelled, undefined]);
      else if (!slot.claims.wasFinished(seq)) {
        blamed = true;
        ended.push([d, Outcome.Error, crash()]); // running (or just claimed)
      } else {
        // Finished, its reply held back or in flight when the worker died: a primitive result
        // was kept in the claim table (the worker holds back no other kind of reply).
        const kept = slot.claims.keptResult(seq);
        if (kept.kept) {
          ended.push([d, Outcome.Ok, kept.value]);
        } else {
          blamed = true;
          ended.push([d, Outcome.Error, new WorkerCrashError('the worker died after running this task but before it could send the result', { cause: slot.crash, code: crashCode })]);
        }
      }
    }
    if (this.state === 'terminating') {
      for (const d of requeue) ended.push([d, Outcome.Cancelled, undefined]);
    } else {
      for (const d of requeue) d.backendSlot = PENDING;
      this.requeueFront(requeue);
    }
    const thrown = this.settleAll(ended);
    slot.markExited();
    this.reportExit(slot, code, blamed);
    if (this.state !== 'terminating') this.replaceExited(slot, code, blamed);
    if (thrown !== NOTHING_THROWN) throw thrown;
  }

  /**
   * Reports a worker's exit, and the error it died of when no task got it: one that came while
   * it ran no task (a timer left behind by a finished task, an idle worker's unhandled
   * rejection), its initializer's failure, or one that came as the pool was stopping it. Each
   * error is thus reported exactly once: to the task it failed, or here.
   */
  private reportExit(slot: WorkerSlot, exitCode: number, blamed: boolean): void {
    if (this.events === undefined) return;
    const crash = slot.crash;
    const reason: WorkerExitInfo['reason'] = crash === undefined && slot.stopReason !== undefined ? slot.stopReason : slot.ready ? 'crash' : 'startFailed';
    if (crash !== undefined && !blamed) {
      const init = slot.initFailure;
      const failure =
        init !== undefined
          ? new WorkerCrashError(`spindle: the pool's initializer failed in a worker (thread ${slot.threadId}): ${init.name}: ${init.message}`, { cause: init, code: codeOf(init) })
          : new WorkerCrashError(`spindle: a worker (thread ${slot.threadId}) died of an error raised outside any task: ${crash.name}: ${crash.message}`, { cause: crash, code: codeOf(crash) });
      this.report((events) => events.error(failure));
    }
    this.report((events) => events.workerExit({ threadId: slot.threadId, exitCode, reason }));
  }

  /** After `slot`'s worker exited: counts a failed start, and starts its replacement. */
  private replaceExited(slot: WorkerSlot, code: number, blamed: boolean): void {
    // Retiring is no excuse: a worker handed its last task before it was ready still died at
    // start. Nor is being ready: one that died of an error no task was blamed for, before it
    // answered any task, died of its start (its initializer's timer, say).
    const diedStarting = !slot.ready || (!slot.answered && !blamed);
    if (diedStarting && !slot.stopping && this.state === 'open' && this.broken === undefined) {
      this.startFailed(slot.crash !== undefined ? slot.crash.message : `the last one exited with code ${code}`, slot.crash);
    }
    // Broken: what this worker left unanswered fails too.
    if (this.broken !== undefined) this.failPending(this.broken);
    // The replacements: only now that this worker is gone, so workers (starting, working,
    // retiring and stopping alike) never outnumber maxWorkers, and tasks running at once never
    // exceed `size`. Up to minSize; more only for tasks that wait (assign() grows the pool).
    this.replenish();
    this.assign();
  }

  /**
   * Settles tasks that have all left their places already (none is pending or held any more).
   * Each is marked settled before the first settle runs, so a cancel set off by one of them
   * finds the others settled instead of looking for them where they were. Every task is settled
   * even if one settle throws; returns the first error thrown (NOTHING_THROWN if none), for the
   * caller to throw once its own books are straight.
   */
  private settleAll(ended: Ending[]): unknown {
    for (const [d] of ended) d.backendSlot = undefined;
    let firstError: unknown = NOTHING_THROWN;
    for (const [d, outcome, value] of ended) {
      try {
        this.settle(d, outcome, value);
      } catch (error) {
        if (firstError === NOTHING_THROWN) firstError = error;
      }
    }
    return firstError;
  }

  /**
   * Stops a retired worker once it is ready (its initializer ran: every worker the pool starts
   * runs it exactly once) and holds nothing; its replacement starts when it has exited (onExit).
   */
  private retireIfDone(slot: WorkerSlot): void {
    if (!slot.retiring || slot.load > 0 || !slot.ready || slot.stopping) return;
    slot.stop('recycled');
  }

  /** `n` tasks assigned to `slot` will not run there after all: they no longer count toward its quota. */
  private unassign(slot: WorkerSlot, n: number): void {
    slot.assigned -= n;
    const max = this.options.maxTasksPerWorker;
    if (slot.retiring && !slot.stopping && max !== undefined && slot.assigned < max) slot.retiring = false;
  }

  /**
   * After `slot`'s load or state changed: whether its worker keeps the process alive
   * (WorkerSlot.updateRef) and, in a pool that may shrink, its idle clock. A worker is idle
   * when it is ready, holds nothing, and is neither retiring nor stopping.
   */
  private loadChanged(slot: WorkerSlot): void {
    slot.updateRef();
    if (this.minSize >= this.maxWorkers) return;
    if (slot.load > 0 || !slot.ready || slot.retiring || slot.stopping || !slot.alive) slot.idleSince = -1;
    else if (slot.idleSince < 0) {
      slot.idleSince = performance.now();
      this.armIdleTimer(slot.idleSince + this.idleTimeout);
    }
  }

  /** When the sweep is armed for (performance.now() ms); Infinity when it is not. */
  private idleTimerAt = Infinity;

  /** Arms the idle sweep for `at` (performance.now() ms) unless it is armed for no later. Unref'd: an idle pool keeps no process alive. */
  private armIdleTimer(at: number): void {
    if (at >= this.idleTimerAt || this.state !== 'open') return;
    clearTimeout(this.idleTimer);
    this.idleTimerAt = at;
    this.idleTimer = setTimeout(this.sweepIdle, Math.max(1, Math.ceil(at - performance.now())));
    this.idleTimer.unref();
  }

  /** When the longest idle worker's idleTimeout runs out; Infinity when none is idle. */
  private earliestIdleDue(): number {
    let since = Infinity;
    for (const slot of this.slots) if (slot.idleSince >= 0 && slot.idleSince < since) since = slot.idleSince;
    return since + this.idleTimeout;
  }

  /**
   * Stops the workers idle for idleTimeout, longest idle first, while more than minSize others
   * would stay (retiring and stopping ones leave anyway: they do not count), and arms itself
   * again for the next one due. With minSize reached it stays unarmed until a worker falls
   * idle or starts (loadChanged(), spawn()).
   */
  private readonly sweepIdle = (): void => {
    this.idleTimer = undefined;
    this.idleTimerAt = Infinity;
    if (this.state !== 'open') return;
    const now = performance.now();
    let staying = 0;
    for (const slot of this.slots) if (!slot.retiring && !slot.stopping) staying++;
    const idle = this.slots.filter((slot) => slot.idleSince >= 0).sort((a, b) => a.idleSince - b.idleSince);
    for (const slot of idle) {
      if (staying <= this.minSize) return;
      // Timers may fire a little early by this clock (libuv's is cached per loop turn): not due yet is armed again.
      if (slot.idleSince + this.idleTimeout > now) break;
      staying--;
      this.idleExits++;
      slot.stop('idle');
      this.loadChanged(slot);
    }
    if (staying > this.minSize) this.armIdleTimer(this.earliestIdleDue());
  };

  /**
   * While the pool may grow, a worker stuck in a slow task must not keep the tasks posted
   * behind it: with no other worker to reply, balance() would never take them back. Arms a
   * check, patience() from now, whenever a worker holds more than the task it may be running.
   */
  private watchStuck(): void {
    if (this.stuckTimer !== undefined || this.slots.length >= this.maxWorkers || !this.canStart()) return;
    if (!this.slots.some((slot) => slot.load > 1)) return;
    this.stuckTimer = setTimeout(this.checkStuck, Math.ceil(this.patience()));
    // Unref'd: the workers holding the tasks keep the process alive while they have work.
    this.stuckTimer.unref();
  }

  /** Takes back the unstarted tasks of stuck workers, for the others or a new one (assign() grows the pool), and watches again. */
  private readonly checkStuck = (): void => {
    this.stuckTimer = undefined;
    if (this.state !== 'open' || this.slots.length >= this.maxWorkers) return;
    const now = performance.now();
    const patience = this.patience();
    let reclaimed: Dispatch[] = [];
    for (const slot of this.slots) {
      if (slot.alive && this.isStuck(slot, now, patience) && slot.unstarted() > 0) reclaimed = reclaimed.concat(this.takeBackFrom(slot, Infinity));
    }
    this.requeueFront(reclaimed);
    this.assign();
  };

  /** Fails every task not yet posted to a worker: once the pool is broken, none ever will be. */
  private failPending(error: WorkerCrashError): void {
    const ended: Ending[] = [];
    for (let d = this.pending.shift(); d !== undefined; d = this.pending.shift()) {
      if (d.backendSlot === PENDING) ended.push([d, Outcome.Error, error]);
    }
    for (const slot of this.slots) {
      for (const d of slot.outbox) ended.push([d, Outcome.Error, error]);
      slot.outbox = [];
    }
    const thrown = this.settleAll(ended);
    if (thrown !== NOTHING_THROWN) throw thrown;
  }

  private requeueFront(items: Dispatch[]): void {
    this.pending.pushFront(items);
  }

  // ---- Dispatch --------------------------------------------------------------------------

  dispatch(d: Dispatch): void {
    if (this.broken !== undefined) {
      const error = this.broken;
      this.live.add();
      d.backendSlot = undefined;
      queueMicrotask(() => this.settle(d, Outcome.Error, error));
      return;
    }
    const kernel = d.kernel;
    if (kernel.kind === 'kernel' && kernel.split !== undefined && !d.batch) {
      const args = d.calls[0]!;
      const pieces = kernel.split(args, this.maxWorkers > 1 ? this.maxWorkers * PARTS_PER_WORKER : 1);
      if (pieces.length > 1 || pieces[0] !== args) {
        const call = new SplitCall(d, kernel, pieces, (part) => this.cancel(part), (parts) => this.dispatchParts(parts));
        d.backendSlot = call;
        call.start();
        return;
      }
    }
    this.enqueue(d);
    this.assign();
  }

  /**
   * A round of a split call's parts. A later round starts as the previous one's last part
   * settles, which may come after terminate() (a reply read as its worker exits) or after the
   * pool broke: no worker would ever take those parts, so they settle at once, as terminate()
   * and failPending() settle what is pending.
   */
  private dispatchParts(parts: readonly Dispatch[]): void {
    for (const part of parts) {
      if (this.state !== 'terminating' && this.broken === undefined) {
        this.enqueue(part);
        continue;
      }
      const error = this.broken;
      this.live.add();
      part.backendSlot = undefined;
      queueMicrotask(() => this.settle(part, error === undefined ? Outcome.Cancelled : Outcome.Error, error));
    }
    this.assign();
  }

  /** `live` counts what is enqueued here: tasks, or the parts of a split call (not the call). */
  private enqueue(d: Dispatch): void {
    this.live.add();
    d.backendSlot = PENDING;
    this.pending.push(d);
  }

  /** Tasks per message. */
  private batchSize(): number {
    if (this.taskMicros < 0) return 1;
    return Math.max(1, Math.min(MAX_BATCH, Math.floor(TARGET_BATCH_MICROS / Math.max(this.taskMicros, 0.01))));
  }

  /**
   * Unanswered tasks one worker may hold: its places (concurrency) and, behind the last of them,
   * about two batches less one task, 2 * TARGET_BATCH_MICROS of expected run time; long tasks
   * only fill the places.
   */
  private depth(): number {
    const behind = this.taskMicros >= LONG_TASK_MICROS ? 0 : 2 * this.batchSize() - 1;
    return this.concurrency + behind;
  }

  /**
   * How long a worker holding tasks may go without a reply before it counts as stuck (in a
   * task far longer than expected); ms. A stuck worker is given nothing new, and the tasks it
   * has not started are taken back for the others.
   */
  private patience(): number {
    return Math.max(PATIENCE_MIN_MS, (PATIENCE_TASKS * this.taskMicros) / 1000);
  }

  private isStuck(slot: WorkerSlot, now: number, patience: number): boolean {
    // Stuck means stuck in a task: one it claimed and has not answered. A worker still starting
    // is not: taking its tasks would only hand them to another starting worker (and, with
    // maxTasksPerWorker, retire this one before it ran any). Nor is a worker that has claimed
    // nothing yet because it is still receiving its message (a 256 MiB argument takes longer to
    // arrive than the patience of small tasks): taking that task back to post it elsewhere
    // would start the same wait again there, for ever.
    return slot.ready && slot.load > 0 && now - slot.lastProgressAt > patience && slot.busyInTask(now, patience);
  }

  /**
   * Gives pending tasks, oldest first, each to the least loaded worker that has room (fewer
   * than depth() tasks) and is neither stuck nor leaving. What none can take stays pending, for
   * the first worker that replies, and for a new one if maxWorkers allows (grow()).
   */
  private assign(): void {
    if (this.state === 'terminating') return;
    if (this.pending.length > 0) {
      this.placePending();
      this.queueFlush();
      if (this.pending.length > 0 && this.slots.length < this.maxWorkers) this.queueGrow();
    }
    if (this.minSize < this.maxWorkers) this.watchStuck();
    this.watchHeld();
  }

  /**
   * A worker holds back the replies of finished tasks whose result is a primitive, to send them
   * with a later one, when its next task is of a kind that has always been short. If that next
   * task runs long after all (or never ends), it sends nothing meanwhile, and the finished calls
   * would wait for it. So while a worker holds more than one task, a check every patience()
   * settles, for a worker stuck in a task, the finished ones straight from the claim table.
   */
  private watchHeld(): void {
    if (this.heldTimer !== undefined || this.state === 'terminating') return;
    if (!this.slots.some((slot) => slot.heldCount > 1)) return;
    this.heldTimer = setTimeout(this.settleHeld, Math.ceil(this.patience()));
    this.heldTimer.unref(); // the workers holding the tasks keep the process alive
  }

  private readonly settleHeld = (): void => {
    this.heldTimer = undefined;
    if (this.state === 'terminating') return;
    const now = performance.now();
    const patience = this.patience();
    const ended: Ending[] = [];
    for (const slot of this.slots) {
      if (!slot.alive || !this.isStuck(slot, now, patience)) continue;
      for (const [seq, d, value] of slot.releaseFinished()) {
        slot.cancelledSeqs.delete(seq);
        ended.push([d, Outcome.Ok, value]);
      }
      if (ended.length > 0) this.loadChanged(slot);
    }
    const thrown = this.settleAll(ended);
    this.watchHeld();
    if (thrown !== NOTHING_THROWN) throw thrown;
  };

  /** assign()'s placing: ends with `pending` empty or its first task live, one no worker may take now. */
  private placePending(): void {
    const depth = this.depth();
    const now = performance.now();
    const patience = this.patience();
    const max = this.options.maxTasksPerWorker;
    while (this.pending.length > 0) {
      const d = this.pending.peek()!;
      if (d.backendSlot !== PENDING) {
        this.pending.shift();
        continue;
      }
      let slot: WorkerSlot | undefined;
      for (const candidate of this.slots) {
        const load = candidate.load;
        // A task with a transfer list goes only where it starts at once: once posted, its
        // buffers have moved into that worker's message, and it can never be taken back.
        if (candidate.retiring || candidate.stopping || !candidate.alive || load >= (d.transfer === undefined ? depth : candidate.concurrency) || (slot !== undefined && load >= slot.load)) continue;
        if (this.isStuck(candidate, now, patience) || candidate.room() <= candidate.outbox.length) continue;
        slot = candidate;
      }
      if (slot === undefined) break;
      this.pending.shift();
      d.backendSlot = slot;
      // Busy from now: a worker given work while idle has shown no progress on it yet.
      if (slot.load === 0) slot.lastProgressAt = now;
      slot.outbox.push(d);
      slot.assigned++;
      // Recycled: it leaves once it has run these, and its replacement starts when it has left.
      // (Starting the replacement here handed it a task in this same pass, which retired it in
      // turn: a worker per task, all starting at once.)
      if (max !== undefined && slot.assigned >= max) slot.retiring = true;
      this.loadChanged(slot);
    }
  }

  /**
   * After `slot` showed progress (a reply, READY): tasks held unstarted by stuck workers come
   * back to the front of the queue, pending tasks go out, and if `slot` is then idle it takes
   * half the tasks waiting behind a started one on the worker holding the most. So no task waits behind a slow
   * one while a worker is idle, and a worker's unstarted tasks move only when one is.
   */
  private balance(slot: WorkerSlot): void {
    if (this.state === 'terminating') return;
    const now = performance.now();
    const patience = this.patience();
    let reclaimed: Dispatch[] = [];
    for (const other of this.slots) {
      if (other !== slot && other.alive && this.isStuck(other, now, patience) && other.unstarted() > 0) reclaimed = reclaimed.concat(this.takeBackFrom(other, Infinity));
    }
    this.requeueFront(reclaimed);
    this.assign();
    if (slot.load > 0 || !slot.ready || !slot.alive || slot.retiring || slot.stopping) return;
    // Only tasks waiting behind a started one: a task merely in flight to a worker with nothing
    // else to do starts there as soon as anywhere else.
    let victim: WorkerSlot | undefined;
    let most = 0;
    for (const other of this.slots) {
      const unstarted = other === slot || !other.alive ? 0 : other.unstarted();
      if (unstarted > most && other.busyInTask(now, patience)) {
        victim = other;
        most = unstarted;
      }
    }
    if (victim === undefined) {
      // Tasks still in flight to a worker may turn out to wait behind its next one: look again soon.
      if (this.slots.some((other) => other.unstarted() > 0)) this.recheckSoon();
      return;
    }
    this.requeueFront(this.takeBackFrom(victim, Math.ceil(most / 2)));
    this.assign();
  }

  private recheckTimer: NodeJS.Timeout | undefined = undefined;

  /** Runs balance() for every idle worker in RECHECK_MS: an idle worker gets no reply to act on. */
  private recheckSoon(): void {
    if (this.recheckTimer !== undefined) return;
    this.recheckTimer = setTimeout(() => {
      this.recheckTimer = undefined;
      for (const slot of [...this.slots]) if (slot.load === 0 && slot.ready && slot.alive && !slot.retiring && !slot.stopping) this.balance(slot);
    }, RECHECK_MS);
    this.recheckTimer.unref();
  }

  /** Takes up to `max` unstarted tasks back from `slot`; they are pending again, not yet queued. */
  private takeBackFrom(slot: WorkerSlot, max: number): Dispatch[] {
    // The newest first: what waits in the outbox (never posted, simply ours), then posted tasks.
    const fromOutbox = Math.min(max, slot.outbox.length);
    const unposted = slot.outbox.splice(slot.outbox.length - fromOutbox, fromOutbox);
    const taken = fromOutbox < max ? slot.takeBack(max - fromOutbox).concat(unposted) : unposted;
    if (taken.length === 0) return taken;
    this.takenBack += taken.length;
    for (const d of taken) d.backendSlot = PENDING;
    this.unassign(slot, taken.length);
    this.retireIfDone(slot);
    this.loadChanged(slot);
    return taken;
  }

  private queueFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(this.flush);
  }

  /**
   * Posts the outboxes in messages of batchSize() tasks. A last, partial batch waits while its
   * worker still holds a full batch: the worker is not about to run dry, and the next reply
   * (which queues a flush) may bring enough tasks to fill it.
   */
  /** Whether terminate() has run: read afresh after the caller's code may have called it. */
  private terminating(): boolean {
    return this.state === 'terminating';
  }

  private readonly flush = (): void => {
    this.flushQueued = false;
    const batch = this.batchSize();
    for (const slot of this.slots) {
      let posted = false;
      for (;;) {
        // Full batches, then what is left while the worker holds less than a batch.
        const outbox = slot.outbox;
        const take = outbox.length >= batch ? batch : outbox.length > 0 && slot.heldCount < batch ? outbox.length : 0;
        if (take === 0) break;
        const tasks = outbox.slice(0, take);
        // post() runs the caller's code (getters read while arguments are cloned), which may
        // cancel tasks (cancel() takes them out of this outbox, by identity) or terminate the
        // pool (terminate() has then settled every task, and nothing may be posted, held or
        // put back). The tasks stay in the outbox until then, where cancel() finds them.
        this.post(slot, tasks);
        if (this.terminating()) return;
        const sent = new Set(tasks);
        slot.outbox = slot.outbox.filter((d) => !sent.has(d));
        posted = true;
      }
      if (!posted) continue;
      this.loadChanged(slot);
      this.retireIfDone(slot);
    }
  };

  private post(slot: WorkerSlot, tasks: Dispatch[]): void {
    const records: unknown[] = [];
    const transfer: TransferListItem[] = [];
    const sendable: Dispatch[] = [];
    // Each task's sequence number: the next whose cell no held task occupies (see WorkerSlot).
    const seqs: number[] = [];
    let last = slot.nextSeq - 1;
    for (const d of tasks) {
      const ref = d.kernel.kind === 'kernel' ? d.kernel.name : this.defOf(d.kernel);
      if (d.transfer !== undefined && detachedIn(d.transfer) >= 0) {
        this.failUnsendable(slot, d, detachedTransferError());
        continue;
      }
      let payload: unknown;
      try {
        // Reading the arguments runs the caller's code (a getter, a Proxy trap, a revoked Proxy
        // that throws): what it throws belongs to that task alone, never to this flush.
        payload = d.batch ? d.calls.map(encodeArgs) : encodeArgs(d.calls[0]!);
      } catch (error) {
        this.failUnsendable(slot, d, error);
        continue;
      }
      last = slot.nextFreeSeq(last);
      records.push(last, ref, d.batch ? 1 : 0, payload, d.progress === undefined ? null : d.progress.buffer);
      seqs.push(last);
      sendable.push(d);
      if (d.transfer !== undefined) for (const t of d.transfer) transfer.push(t);
    }
    if (this.terminating()) return; // reading arguments terminated the pool (see flush)
    const defs = slot.knownDefs < this.defs.length ? this.defs.slice(slot.knownDefs).map((t, i) => [slot.knownDefs + i, t.module, t.exportName]) : undefined;
    if (sendable.length === 0) return;
    // Offered before the post: the worker may claim a task the moment the message is out.
    for (const seq of seqs) slot.claims.offer(seq);
    try {
      if (transfer.length === 0) slot.port.postMessage({ defs, tasks: records });
      else slot.port.postMessage({ defs, tasks: records }, transfer);
    } catch (error) {
      // Nothing was sent; the cells offered are offered again (or left unclaimed) by the next post.
      if (sendable.length === 1) {
        this.failUnsendable(slot, sendable[0]!, error);
        return;
      }
      // One task's arguments cannot be cloned (or transferred): find it, send the others.
      for (const d of sendable) {
        if (this.terminating()) return;
        this.post(slot, [d]);
      }
      return;
    }
    // Cloning ran the caller's getters, which may have terminated the pool (its tasks are
    // settled, and what reached the stopping worker is never answered) or cancelled some of
    // these tasks (no longer this slot's: settled already). The worker may run those; their
    // replies find nothing held and are dropped.
    if (this.terminating()) return;
    slot.knownDefs = this.defs.length;
    const now = performance.now();
    slot.nextSeq = last + 1;
    for (let i = 0; i < sendable.length; i++) {
      const d = sendable[i]!;
      const seq = seqs[i]!;
      if (d.backendSlot === slot) slot.hold(seq, d, now);
      else slot.claims.takeBack(seq); // it starts nothing, if the worker has not claimed it yet
    }
  }

  /**
   * Settles a task whose arguments cannot be read or cloned (or whose transfer list cannot be
   * moved) with a TypeError naming the argument; it never reaches a worker, and the tasks it was
   * posted with are sent without it.
   */
  private failUnsendable(slot: WorkerSlot, d: Dispatch, error: unknown): void {
    d.backendSlot = undefined;
    this.unassign(slot, 1);
    const failure = unsendableError(d, error);
    queueMicrotask(() => {
      if (this.terminating()) return; // terminate() settled it, from its outbox
      this.settle(d, Outcome.Error, failure);
      // It left its worker's load: tasks held back by that load may go now, as after a reply.
      this.assign();
    });
  }

  private defOf(t: JsTask<any, any>): number {
    // By handle first: a burst of one task's calls builds no key string per call.
    let index = this.defByHandle.get(t);
    if (index !== undefined) return index;
    const key = `${t.module}\0${t.exportName}`;
    index = this.defIndex.get(key);
    if (index === undefined) {
      index = this.defs.length;
      this.defs.push(t);
      this.defIndex.set(key, index);
    }
    this.defByHandle.set(t, index);
    return index;
  }

  private settle(d: Dispatch, outcome: Outcome, value: unknown): void {
    d.backendSlot = undefined;
    try {
      d.settle(outcome, value);
    } finally {
      this.live.done();
    }
  }

  // ---- Cancellation and shutdown -----------------------------------------------------------

  cancel(d: Dispatch): void {
    const where = d.backendSlot;
    if (where instanceof SplitCall) {
      where.cancel();
      return;
    }
    if (where === PENDING) {
      d.backendSlot = undefined;
      queueMicrotask(() => this.settle(d, Outcome.Cancelled, undefined));
      return;
    }
    if (!(where instanceof WorkerSlot)) return;
    const slot = where;
    const inOutbox = slot.outbox.indexOf(d);
    if (inOutbox >= 0) {
      slot.outbox.splice(inOutbox, 1);
      this.unassign(slot, 1);
      this.retireIfDone(slot);
      this.loadChanged(slot);
      d.backendSlot = undefined;
      // Its place is free: a pending task may take it (without this, one waited for good when
      // nothing else ran on the pool to assign it: an imap stalled after another was broken off).
      queueMicrotask(() => {
        this.settle(d, Outcome.Cancelled, undefined);
        this.assign();
      });
      return;
    }
    const seq = slot.seqOf(d);
    if (seq === 0) return; // not here after all: nothing to cancel
    if (slot.claims.takeBack(seq)) {
      // Not started: it never will be, so it is settled now, without the worker.
      slot.release(seq);
      d.backendSlot = undefined;
      this.unassign(slot, 1);
      this.retireIfDone(slot);
      this.loadChanged(slot);
      queueMicrotask(() => {
        this.settle(d, Outcome.Cancelled, undefined);
        this.assign();
      });
      return;
    }
    // Started: the worker is told, and its task sees the cancellation at its next check.
    slot.cancelledSeqs.add(seq);
    // Post before bumping the epoch: a worker that sees the new epoch must find the message.
    slot.controlPort.postMessage([seq]);
    Atomics.add(slot.control, EPOCH, 1);
    // Still running after cancelGrace (claimed, not finished: a finished task's reply is on its
    // way): only killing the worker stops it, and whatever else runs there fails as in a crash.
    const stopIfStillRunning = (): void => {
      if (slot.alive && d.backendSlot === slot && slot.claims.isRunning(seq)) {
        slot.killedFor = seq;
        slot.stop('cancel');
      }
    };
    if (this.cancelGrace === 0) stopIfStillRunning();
    else setTimeout(stopIfStillRunning, this.cancelGrace).unref();
  }

  terminate(): Promise<void> {
    this.state = 'terminating';
    const ended: Ending[] = [];
    for (let d = this.pending.shift(); d !== undefined; d = this.pending.shift()) {
      if (d.backendSlot === PENDING) ended.push([d, Outcome.Cancelled, undefined]);
    }
    for (const slot of this.slots) {
      for (const d of slot.outbox) ended.push([d, Outcome.Cancelled, undefined]);
      slot.outbox = [];
    }
    const thrown = this.settleAll(ended);
    const stopped = this.stopAll();
    if (thrown !== NOTHING_THROWN) throw thrown;
    return stopped;
  }

  async close(): Promise<void> {
    if (this.state === 'open') this.state = 'closing';
    // Python's join() waits for every worker, and each runs its initializer: a pool closed right
    // after it was made lets its workers start before they go. Referenced meanwhile, so the
    // process does not exit with join() pending. terminate() does not wait.
    const starting = this.slots.filter((slot) => !slot.ready && slot.alive);
    for (const slot of starting) slot.worker.ref();
    await Promise.all(starting.map((slot) => slot.startedOrGone));
    return this.stopAll();
  }

  /** Terminates every worker; resolves once all have exited and every task has settled. */
  private async stopAll(): Promise<void> {
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.idleTimerAt = Infinity;
    clearTimeout(this.stuckTimer);
    this.stuckTimer = undefined;
    clearTimeout(this.heldTimer);
    this.heldTimer = undefined;
    const slots = [...this.slots];
    for (const slot of slots) slot.stop('shutdown');
    await Promise.all(slots.map((slot) => slot.exited));
    await this.live.drained();
  }

  workerUtilization(): WorkerUtilization[] {
    const out: WorkerUtilization[] = [];
    for (const slot of this.slots) {
      if (!slot.alive) continue;
      try {
        out.push({ threadId: slot.threadId, eventLoopUtilization: slot.worker.performance.eventLoopUtilization().utilization });
      } catch {
        // Not readable before the worker's 'online' or after its exit: it is not counted.
      }
    }
    return out;
  }

  describe(): Record<string, unknown> {
    return {
      capacity: this.capacity,
      workers: this.slots.length,
      minSize: this.minSize,
      maxWorkers: this.maxWorkers,
      concurrency: this.concurrency,
      idleExits: this.idleExits,
      ready: this.slots.filter((s) => s.ready).length,
      retiring: this.slots.filter((s) => s.retiring).length,
      workersStarted: this.spawned,
      batchSize: this.batchSize(),
      taskMicros: this.taskMicros < 0 ? undefined : Math.round(this.taskMicros * 100) / 100,
      takenBack: this.takenBack,
      broken: this.broken?.message,
    };
  }
}

