// The worker runtime: the script every worker of the worker backend runs (built to
// dist/worker.js). It receives batches of tasks, starts them in arrival order, up to
// `concurrency` at once (the pool's concurrentTasksPerWorker), and sends replies back in
// batches. Wire format: ./worker-protocol.ts.
//
// Invariants:
// - Tasks start in sequence order, and at most `concurrency` are in flight (claimed, no
//   outcome yet): an async task holds its place until it settles, and the next task starts
//   only when a place is free. With concurrency 1 an async task is awaited before the next
//   starts. Everything runs on this one thread, so synchronous tasks, and the synchronous
//   stretches of async ones, still run one after another: concurrency only overlaps awaits.
// - A task runs only after this worker claimed it in the claim table (claim-table.ts); a task
//   whose claim fails was taken back by the pool, which runs it elsewhere: it is skipped, with
//   no reply.
// - Every claimed task gets exactly one reply, naming it by sequence number. reply() never
//   throws: a result or thrown value that cannot be read or cloned becomes a TypeError for that
//   task, and the run loop checks that each task it ran has replied. reply() marks the task
//   finished in the claim table before its reply can leave, and ends its TaskRun.
// - Each task in flight has its TaskRun (found by sequence number: runOf()): its cancellation
//   flag, its progress counter, its TaskContext. A cancellation names one task and reaches it
//   alone. The pool cancels only tasks this worker claimed, and a claim and its TaskRun are
//   made in one synchronous step, so a cancellation finds its TaskRun, or none when the task
//   has its outcome already (too late: it is ignored).
// - `control[STARTED]` holds the sequence number of the last task claimed and
//   `control[RUNNING]` how many are in flight, both stored after the claim and before the task
//   starts: the pool reads them to tell what waits behind what.
// - taskContext() is the calling task's context: a global slot while the one task in flight
//   runs (concurrency 1), or an AsyncLocalStorage store that follows each task across its
//   awaits (concurrency above 1, where tasks interleave).
// - Replies are held back to share a message, but never past the end of an incoming batch,
//   never while awaiting an async task, never for more than FLUSH_AFTER_MS, never into a task
//   not known to be short (knownShort), and only while every reply held has a primitive result
//   the claim table keeps too (mustSend): a worker killed to stop a task, or crashed by one,
//   takes the replies it holds with it, and the pool then reads those results from the table.
// - worker_threads' workerData is the user's value (WorkerBackendOptions.workerData), set before
//   any user module (task or initializer) loads; spindle's own setup arrives beside it and is
//   taken out here, out of every task's reach.

import { AsyncLocalStorage } from 'node:async_hooks';
import { syncBuiltinESMExports } from 'node:module';
import { performance } from 'node:perf_hooks';
import workerThreads, { receiveMessageOnPort, workerData, type MessagePort, type TransferListItem } from 'node:worker_threads';
import { kernels } from '../kernels/index.js';
import { isDetached, reflectApply } from '../kernels/args.js';
import type { Kernel, KernelContext } from '../kernels/types.js';
import { addProgress, SharedCounter, toInt64 } from '../shared/counter.js';
import { taskRuntimeKeys, type TaskContext } from '../task.js';
import {
  decodeArgs,
  decodeValue,
  encodeError,
  encodeChunkResults,
  encodeKernelResult,
  encodeValue,
  EPOCH,
  reasonOf,
  INIT_FAILED,
  nullArray,
  READY,
  RESULT_STRIDE,
  RESULTS,
  RUNNING,
  STARTED,
  STATUS_CANCELLED,
  STATUS_ERROR,
  STATUS_OK,
  STATUS_THROWN,
  TASK_STRIDE,
} from './worker-protocol.js';
import { CLAIM_MASK, CLAIM_SLOTS, ClaimTable } from './claim-table.js';
import type { WorkerEnvelope } from './worker-start.js';

// Builtins that the claim and reply paths use, taken before any task's module loads: a task may
// rewrite its worker's globals (a polyfill, a test double, a mistake), and calls must not be lost
// when it does. Replacing Promise.prototype.then, Array.prototype.push or Function.prototype.apply
// once made every later call on that worker never settle, and replacing Function.prototype.call
// crashed the worker at its next reply (the private port's postMessage was called through it):
// these paths call what they took through reflectApply, never .call() or .apply(). For the same reason these paths, and the
// error encoder (worker-protocol.ts), add to arrays by index, never by push(), and the arrays they
// add to have no prototype (nullArray()): a write past an array's end, or into a hole, goes
// through the prototype chain's setter for that index, and an accessor some instrumentation puts
// on Array.prototype[2] or Object.prototype[3] once swallowed every reply's slots (calls never
// settled, or settled as rejections). Array.prototype's methods are not called on those arrays.
// (What a task can still break is what any code sharing its realm can: see the README.)
const { load: atomicLoad, store: atomicStore } = Atomics;
const promiseThen = Promise.prototype.then;
const isArray = Array.isArray;
const resolved = Promise.resolve.bind(Promise);
const PromiseConstructor = Promise;

/** promise.then(onValue, onError), whatever Promise.prototype.then is now. */
function then<T, R>(promise: PromiseLike<T>, onValue: (value: T) => R, onError: (error: unknown) => R): Promise<R> {
  return reflectApply(promiseThen, promise, [onValue, onError]) as Promise<R>;
}

// The private port's postMessage, taken before any task's module loads: a task that patches
// MessagePort.prototype.postMessage would otherwise see this port go by, and could post on it
// replies for other calls (or garbage the pool's thread would have to survive).
const postMessageOnPort = workerThreads.MessagePort.prototype.postMessage;

/** Sends `message` on the pool's private port. */
function post(message: unknown, transfer?: readonly TransferListItem[]): void {
  // reflectApply, not .call(): a task may have replaced Function.prototype.call.
  if (transfer === undefined) reflectApply(postMessageOnPort, port, [message]);
  else reflectApply(postMessageOnPort, port, [message, transfer]);
}

const FLUSH_AFTER_MS = 1;

// The pool started this worker with its setup and the user's workerData side by side
// (worker-start.ts). From here on worker_threads' workerData is the user's value alone, for
// `require('node:worker_threads').workerData` (the module object, assigned) and for ESM named
// imports of it (syncBuiltinESMExports() updates those). No user module has loaded yet: the
// initializer and tasks are imported later, by start() and runJsTask().
const { setup, userData } = workerData as WorkerEnvelope;
(workerThreads as { workerData: unknown }).workerData = decodeValue(userData);
syncBuiltinESMExports();
// The pool's private channel; parentPort is left to user tasks.
const port: MessagePort = setup.port;
const control = new Int32Array(setup.control);
const controlPort: MessagePort = setup.controlPort;
const claims = new ClaimTable(setup.claims);
/** Tasks this worker may have in flight at once. */
const concurrency = Math.max(1, setup.concurrency | 0);
/** Added to this thread's performance.now() to read the pool thread's (their origins may differ). */
const clockOffset = performance.timeOrigin - setup.timeOrigin;

const kernelsByName = new Map<string, Kernel>(Object.values(kernels).map((k) => [k.name, k as Kernel]));

// ---- Cancellation ------------------------------------------------------------------------

let seenEpoch = 0;

/** A list of sequence numbers the pool cancelled: each task still in flight sees its cancellation. */
function takeCancellations(list: unknown): void {
  if (!isArray(list)) return;
  // An index loop, not for-of: a task may have replaced the array iterator.
  for (let i = 0; i < list.length; i++) {
    const seq: unknown = list[i];
    if (typeof seq === 'number') runOf(seq)?.cancel();
  }
}

/** Picks up cancellations posted since the last look, synchronously: works inside busy code. */
function pollCancellations(): void {
  const epoch = atomicLoad(control, EPOCH);
  if (epoch === seenEpoch) return;
  seenEpoch = epoch;
  for (let m = receiveMessageOnPort(controlPort); m !== undefined; m = receiveMessageOnPort(controlPort)) takeCancellations(m.message);
}

// While tasks await, cancellations arrive as events instead. Unref'd: the control port alone
// must not keep the worker alive.
// (The handler leaves seenEpoch alone: the next poll drains the port once more, finds it empty,
// and no cancellation whose epoch bump was seen before its event can be missed.)
controlPort.on('message', takeCancellations);
controlPort.unref();

// ---- Tasks in flight ---------------------------------------------------------------------

/**
 * One task in flight: claimed, no outcome yet. The KernelContext its kernel runs with, and
 * what its TaskContext (a JS task's `this`) reads. Reused once the task has its outcome: a
 * burst of small tasks allocates none.
 */
class TaskRun implements KernelContext {
  seq = 0;
  /** When it was claimed, performance.now() of this thread. */
  startedAt = 0;
  cancelledFlag = false;
  counter: SharedCounter | undefined = undefined;
  context: JsTaskContext | undefined = undefined;

  cancel(): void {
    this.cancelledFlag = true;
    this.context?.abort();
  }

  cancelled(): boolean {
    if (!this.cancelledFlag) pollCancellations();
    return this.cancelledFlag;
  }

  progress(units: number | bigint): void {
    if (this.counter !== undefined) addProgress(this.counter, units);
  }
}

/**
 * The tasks in flight, at seq & CLAIM_MASK: the pool keeps every unanswered task of a worker
 * within CLAIM_SLOTS sequence numbers (claim-table.ts), so no two share a cell.
 */
const inFlightRuns = nullArray<TaskRun | undefined>();
// Filled: no holes to read through to a prototype (it has none) or to slow V8's loads.
for (let i = 0; i < CLAIM_SLOTS; i++) inFlightRuns[i] = undefined;
let inFlight = 0;
/** TaskRuns free for reuse: a stack of spareCount, pushed and popped by index (see the builtins at the top). */
const spareRuns = nullArray<TaskRun>();
let spareCount = 0;

/** Task seq is claimed: its TaskRun, registered before any code of the task runs. */
function startRun(seq: number, counter: SharedCounter | undefined): TaskRun {
  const run = spareCount > 0 ? spareRuns[--spareCount]! : new TaskRun();
  run.seq = seq;
  run.cancelledFlag = false;
  run.counter = counter;
  run.context = undefined;
  inFlightRuns[seq & CLAIM_MASK] = run;
  inFlight++;
  atomicStore(control, STARTED, seq);
  atomicStore(control, RUNNING, inFlight);
  return run;
}

/** Task seq's TaskRun while it is in flight; undefined once it has its outcome (or was never claimed). */
function runOf(seq: number): TaskRun | undefined {
  const run = inFlightRuns[seq & CLAIM_MASK];
  return run !== undefined && run.seq === seq ? run : undefined;
}

/** Task seq has its outcome: finished in the claim table, its place free. */
/**
 * Task seq has its outcome: finished in the claim table (with its result kept there when it is
 * a primitive: see claim-table.ts), its place free. A reply whose result the table did not keep
 * must leave before another task starts (mustSend).
 */
function endRun(seq: number, status: number, value: unknown): void {
  if (!claims.finish(seq, status === STATUS_OK, value)) mustSend = true;
  const i = seq & CLAIM_MASK;
  const run = inFlightRuns[i];
  if (run === undefined || run.seq !== seq) return;
  inFlightRuns[i] = undefined;
  inFlight--;
  atomicStore(control, RUNNING, inFlight);
  run.seq = 0;
  run.counter = undefined;
  run.context = undefined;
  spareRuns[spareCount++] = run;
}

// ---- Task contexts -----------------------------------------------------------------------

const contextSlot = globalThis as { [taskRuntimeKeys.contextKey]?: TaskContext };
/** With tasks interleaving (concurrency > 1), where taskContext() finds the calling task's context. */
const contextStore = concurrency > 1 ? new AsyncLocalStorage<TaskContext>() : undefined;
if (contextStore !== undefined) {
  Object.defineProperty(globalThis, taskRuntimeKeys.contextKey, { configurable: true, get: () => contextStore.getStore() });
}

/** `this` of a JS task. Its AbortController is made only if the task looks at `signal`. */
class JsTaskContext implements TaskContext {
  private controller: AbortController | undefined = undefined;
  private done = false;

  constructor(
    private readonly run: TaskRun,
    private readonly seq: number,
  ) {}

  /** The task's TaskRun while it is in flight (TaskRuns are reused once a task is done). */
  private live(): TaskRun | undefined {
    return !this.done && this.run.seq === this.seq ? this.run : undefined;
  }

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      const controller = new AbortController();
      this.controller = controller;
      const signal = controller.signal;
      // A synchronous loop never lets the control port's events run, so reading `aborted`
      // polls for cancellations first. throwIfAborted() reads internal state, so it gets
      // the same treatment.
      const aborted = Object.getOwnPropertyDescriptor(AbortSignal.prototype, 'aborted')!.get!;
      const throwIfAborted = AbortSignal.prototype.throwIfAborted;
      const poll = (): void => {
        this.live()?.cancelled();
      };
      Object.defineProperty(signal, 'aborted', {
        get() {
          poll();
          return reflectApply(aborted, signal, []); // not .call(): see the builtins at the top
        },
      });
      signal.throwIfAborted = () => {
        poll();
        reflectApply(throwIfAborted, signal, []);
      };
      if (this.live()?.cancelledFlag === true) controller.abort(cancelReason());
    }
    return this.controller.signal;
  }

  cancelled(): boolean {
    return this.live()?.cancelled() ?? false;
  }

  progress(units: number | bigint): void {
    // Checked whether or not the call has a counter: a bad unit is a bug in the task either way.
    toInt64(units, 'progress(units)', 'units');
    this.live()?.progress(units);
  }

  abort(): void {
    if (this.controller !== undefined && !this.controller.signal.aborted) this.controller.abort(cancelReason());
  }

  finish(): void {
    this.done = true;
  }
}

function cancelReason(): Error {
  const error = new Error('the task was cancelled');
  error.name = 'AbortError';
  return error;
}

// ---- JS tasks ----------------------------------------------------------------------------

interface JsTaskDef {
  module: string;
  exportName: string;
  fn: ((...args: unknown[]) => unknown) | undefined;
}

const defs = nullArray<JsTaskDef>();

function addDefs(list: unknown): void {
  if (!isArray(list)) return;
  for (let i = 0; i < list.length; i++) {
    const def = list[i] as [number, string, string];
    defs[def[0]] = { module: def[1], exportName: def[2], fn: undefined };
  }
}

/** Imports the module (once it succeeds) and finds the export. Throws an error naming both. */
async function loadFunction(def: { module: string; exportName: string }): Promise<(...args: unknown[]) => unknown> {
  let namespace: Record<string, unknown>;
  try {
    namespace = (await import(def.module)) as Record<string, unknown>;
  } catch (error) {
    const cause = error as { message?: unknown; code?: unknown };
    const wrapped = new Error(`cannot load task module ${def.module}: ${String(cause?.message ?? error)}`, { cause: error });
    if (cause?.code !== undefined) (wrapped as { code?: unknown }).code = cause.code;
    throw wrapped;
  }
  let fn = namespace[def.exportName];
  // A CommonJS module whose exports Node could not list statically: look in module.exports.
  if (fn === undefined && def.exportName !== 'default') {
    const exportsObject = namespace.default;
    if ((typeof exportsObject === 'object' || typeof exportsObject === 'function') && exportsObject !== null) {
      fn = (exportsObject as Record<string, unknown>)[def.exportName];
    }
  }
  // A CommonJS module compiled from an ES one (tsc, Babel: exports.__esModule and
  // exports.default = fn): its default export is module.exports.default, as bundlers read it.
  if (def.exportName === 'default' && typeof fn === 'object' && fn !== null && (fn as Record<string, unknown>)['__esModule'] === true) {
    const inner = (fn as Record<string, unknown>)['default'];
    if (typeof inner === 'function') fn = inner;
  }
  if (fn === undefined) throw new TypeError(`task module ${def.module} has no export named '${def.exportName}'`);
  if (typeof fn !== 'function') throw new TypeError(`task export '${def.exportName}' of ${def.module} is not a function (it is ${typeof fn})`);
  return fn as (...args: unknown[]) => unknown;
}

// ---- Replies ----------------------------------------------------------------------------

let results = newResults();
/**
 * Set while `results` holds a reply whose result the claim table did not keep (an object, a
 * string, an error, a cancellation): it is sent before the next task starts, since a worker
 * killed to stop that task, or crashed by it, would take the reply with it. A primitive result
 * survives in the claim table, so replies of those may wait to share a message.
 */
let mustSend = false;
let resultTransfer = nullArray<TransferListItem>();
/** Wall time of the tasks whose replies are in `results`, start to settle. */
let runMicros = 0;
let lastFlush = performance.now();

/** An empty RESULTS message: [RESULTS, runMicros], replies to be added. */
function newResults(): unknown[] {
  const message = nullArray<unknown>();
  message[0] = RESULTS;
  message[1] = 0;
  return message;
}

/** The TypeError a task gets for a reply that cannot be sent: its result, or what it threw. */
function cannotSend(status: number, error: unknown): Error {
  const what = status === STATUS_OK ? 'result' : 'thrown value';
  return new TypeError(`the task's ${what} cannot be sent back to the pool: ${reasonOf(error)}`);
}

/**
 * Adds task seq's reply to the next message, and ends its run (endRun(): finished in the claim
 * table, its place free). status: STATUS_OK (value: the result), STATUS_ERROR (value: whatever
 * was thrown) or STATUS_CANCELLED. Never throws: encoding runs the task's own code (getters,
 * Proxy traps), and what it throws becomes the task's TypeError.
 */
function reply(seq: number, status: number, value: unknown): void {
  const startedAt = runOf(seq)?.startedAt ?? NaN;
  const runMs = performance.now() - startedAt;
  endRun(seq, status, value);
  let transfer: TransferListItem[] | undefined;
  try {
    if (status === STATUS_OK) {
      if (isTransferred(value)) {
        transfer = nullArray();
        value = unwrapTransfer(value, transfer);
        // postMessage takes a detached buffer in its transfer list without a word, and the pool
        // got an empty ArrayBuffer for a result: the task's bytes were silently gone.
        for (let i = 0; i < transfer.length; i++) {
          const item = transfer[i];
          if (item instanceof ArrayBuffer && isDetached(item)) throw new TypeError('withTransfer() lists an ArrayBuffer that is detached (it was transferred away before the task returned)');
        }
      }
      value = encodeValue(value);
    } else if (status === STATUS_ERROR) {
      if (value instanceof Error) value = encodeError(value);
      else status = STATUS_THROWN;
    }
  } catch (error) {
    transfer = undefined;
    try {
      value = encodeError(cannotSend(status, error));
      status = STATUS_ERROR;
    } catch {
      // Only a task that broke this realm's builtins gets here: its call still gets an answer.
      value = `the task's ${status === STATUS_OK ? 'result' : 'thrown value'} cannot be sent back to the pool`;
      status = STATUS_THROWN;
    }
  }
  // Indexed, not push(): see the builtins at the top.
  if (transfer !== undefined) for (let i = 0; i < transfer.length; i++) resultTransfer[resultTransfer.length] = transfer[i]!;
  const at = results.length;
  results[at] = seq;
  results[at + 1] = status;
  results[at + 2] = value;
  results[at + 3] = startedAt + clockOffset;
  results[at + 4] = runMs;
}

function flush(): void {
  lastFlush = performance.now();
  mustSend = false;
  if (results.length === 2) return;
  const message = results;
  const transfer = resultTransfer;
  message[1] = runMicros;
  runMicros = 0;
  results = newResults();
  resultTransfer = nullArray();
  try {
    if (transfer.length === 0) post(message);
    else post(message, transfer);
  } catch {
    // Some reply cannot be cloned: send them one by one, each that fails as its task's TypeError.
    message[1] = 0;
    for (let i = 2; i < message.length; i += RESULT_STRIDE) postOne(message, i, transfer);
  }
}

/**
 * Sends the reply at message[at...] ([seq, status, value, startedAt, runMs]) alone; one that
 * cannot be cloned becomes its task's TypeError.
 */
function postOne(message: unknown[], at: number, transfer: TransferListItem[]): void {
  const seq = message[at];
  const status = message[at + 1];
  const value = message[at + 2];
  const startedAt = message[at + 3];
  const runMs = message[at + 4];
  try {
    // Not filter(): see the builtins at the top.
    const own = nullArray<TransferListItem>();
    for (let i = 0; i < transfer.length; i++) if (contains(value, transfer[i]!, new Set())) own[own.length] = transfer[i]!;
    post([RESULTS, 0, seq, status, value, startedAt, runMs], own);
  } catch (error) {
    post([RESULTS, 0, seq, STATUS_ERROR, encodeError(cannotSend(status as number, error)), startedAt, runMs]);
  }
}

/** Whether `item` is `value` or inside it (a view's buffer counts). Reads may throw: the caller catches. */
function contains(value: unknown, item: TransferListItem, seen: Set<object>): boolean {
  if (value === item) return true;
  if (typeof value !== 'object' || value === null || seen.has(value)) return false;
  seen.add(value);
  if (ArrayBuffer.isView(value)) return value.buffer === item;
  return Object.values(value).some((v) => contains(v, item, seen));
}

// A task that calls process.exit() ends the worker: send what finished before it first.
process.on('exit', flush);

// ---- The run loop ------------------------------------------------------------------------

/**
 * Whether a task (a kernel's name, a JS task's index) may run long, from its runs so far. Replies
 * are held back to share a message only before a task known to be short: its last
 * FORGET_AFTER_RUNS runs all took less than LONG_RUN_MICROS. Any other (run fewer times, or
 * lately long) may not end before the pool kills its worker to stop it. A burst of tiny tasks
 * soon qualifies; a run preempted by the OS looks long too, and is forgotten as soon.
 */
interface RunRecord {
  runs: number;
  /** `runs` when it last ran long; 0 (as if run 0 had been long) until it does. */
  lastLong: number;
}
const runRecords = new Map<string | number, RunRecord>();
const LONG_RUN_MICROS = 10_000;
const FORGET_AFTER_RUNS = 1000;

function knownShort(ref: string | number): boolean {
  const record = runRecords.get(ref);
  return record !== undefined && record.runs - record.lastLong > FORGET_AFTER_RUNS;
}

function recordRun(ref: string | number, micros: number): void {
  let record = runRecords.get(ref);
  if (record === undefined) runRecords.set(ref, (record = { runs: 0, lastLong: 0 }));
  record.runs++;
  if (micros >= LONG_RUN_MICROS) record.lastLong = record.runs;
}

/** Task records received and not yet visited, TASK_STRIDE slots each, in sequence order. */
let inbox: unknown[] = [];
let inboxAt = 0;
/** Whether `inbox` is an array of this module's (nullArray()), not one received: only such an array is appended to. */
let inboxOwned = false;
/** Set while runTasks() runs: it is not entered again from inside itself. */
let looping = false;
let ready = false;

function receive(message: { defs?: unknown; tasks: unknown[] }): void {
  if (message.defs !== undefined) addDefs(message.defs);
  if (inboxAt === inbox.length) {
    inbox = message.tasks;
    inboxAt = 0;
    inboxOwned = false;
  } else {
    // Appended to an array of this module's own, not to the one received (which has a prototype).
    if (!inboxOwned) {
      const own = nullArray<unknown>();
      for (let i = inboxAt; i < inbox.length; i++) own[own.length] = inbox[i];
      inbox = own;
      inboxAt = 0;
      inboxOwned = true;
    }
    const tasks = message.tasks;
    for (let i = 0; i < tasks.length; i++) inbox[inbox.length] = tasks[i];
  }
  if (ready && !looping && inFlight < concurrency) runTasks();
}

/**
 * Starts tasks, in order, until the inbox is empty or `concurrency` are in flight; it runs
 * again whenever an async task settles (its place is free). A task the pool took back (its
 * claim fails) is skipped: the pool has given it to another worker, or settled it.
 */
function runTasks(): void {
  looping = true;
  // After an async task settled: its reply goes now, not behind a next task that might never
  // end (a worker the pool kills to stop a task loses the replies it holds).
  if (results.length > 2) flush();
  let clock = performance.now();
  while (inboxAt < inbox.length && inFlight < concurrency) {
    const at = inboxAt;
    inboxAt += TASK_STRIDE;
    const seq = inbox[at] as number;
    const ref = inbox[at + 1] as string | number;
    const batch = inbox[at + 2] === 1;
    const payload = inbox[at + 3] as unknown[];
    const progress = inbox[at + 4] as SharedArrayBuffer | null;
    for (let i = at; i < at + TASK_STRIDE; i++) inbox[i] = undefined;

    if (!claims.claim(seq)) continue;
    // A task that may run long goes with no reply held back: the pool kills a worker to stop a
    // task that ignores its cancellation, and the replies it holds die with it.
    if (results.length > 2 && (mustSend || !knownShort(ref))) {
      flush();
      clock = performance.now();
    }
    // The pool sends only a genuine counter's buffer (brand.ts checks its shape), but a revival
    // that throws must fail its task, not this worker.
    let counter: SharedCounter | undefined;
    let unrevivable: unknown;
    try {
      counter = progress === null ? undefined : SharedCounter.from(progress);
    } catch (error) {
      unrevivable = error;
    }
    const run = startRun(seq, counter);
    const started = clock;
    run.startedAt = started;
    if (unrevivable !== undefined) {
      reply(seq, STATUS_ERROR, unrevivable);
      continue;
    }
    // A first call imports its module before it runs: that run's time says nothing of the task.
    const timed = typeof ref === 'string' || defs[ref]?.fn !== undefined;
    if (run.cancelled()) {
      reply(seq, STATUS_CANCELLED, undefined);
      continue;
    }
    let pending: Promise<void> | undefined;
    try {
      pending = typeof ref === 'string' ? runKernel(run, ref, batch, payload) : runJsTask(run, defs[ref]!, batch, payload);
    } catch (error) {
      // Not expected (both report every outcome themselves); if it happens, the task still gets its reply.
      if (runOf(seq) !== undefined) reply(seq, STATUS_ERROR, error);
    }
    if (pending !== undefined) {
      // What could spin is the synchronous part, this one (its awaits leave the worker free): it
      // is what recordRun() counts.
      if (timed) recordRun(ref, (performance.now() - started) * 1000);
      flush();
      const settled = (): void => {
        if (runOf(seq) !== undefined) reply(seq, STATUS_ERROR, new Error('the task ended without an outcome'));
        runMicros += (performance.now() - started) * 1000;
        // A promise reaction: never inside runTasks(), which runs synchronously to its end.
        runTasks();
      };
      then(pending, settled, settled);
      // The next task, if a place is free, starts now: this one's awaits leave the thread free.
      clock = performance.now();
      continue;
    }
    if (runOf(seq) !== undefined) reply(seq, STATUS_ERROR, new Error('the task ended without an outcome'));
    clock = performance.now();
    const micros = (clock - started) * 1000;
    runMicros += micros;
    if (timed) recordRun(ref, micros);
    if (clock - lastFlush > FLUSH_AFTER_MS) flush();
  }
  if (inboxAt === inbox.length) {
    inbox = [];
    inboxAt = 0;
  }
  flush();
  looping = false;
}

function runKernel(run: TaskRun, name: string, batch: boolean, payload: unknown[]): undefined {
  const seq = run.seq;
  const kernel = kernelsByName.get(name);
  try {
    if (kernel === undefined) throw new TypeError(`this worker has no kernel named ${name}`);
    let value: unknown;
    if (batch) {
      const out = nullArray<unknown>(payload.length);
      for (let i = 0; i < payload.length && !run.cancelled(); i++) out[i] = kernel.run(decodeArgs(payload[i] as unknown[]), run);
      value = out;
    } else {
      value = kernel.run(decodeArgs(payload), run);
    }
    // Only byte-returning kernels (those with fromBytes) may return Buffers, which must travel marked.
    if (kernel.fromBytes !== undefined) value = encodeKernelResult(value, batch);
    reply(seq, run.cancelledFlag ? STATUS_CANCELLED : STATUS_OK, value);
  } catch (error) {
    reply(seq, STATUS_ERROR, error);
  }
  return undefined;
}

/**
 * Runs a JS task. Returns undefined when its reply is already in `results`, or a promise
 * that settles (never rejects) once it is.
 */
function runJsTask(run: TaskRun, def: JsTaskDef, batch: boolean, payload: unknown[]): Promise<void> | undefined {
  const seq = run.seq;
  if (def.fn === undefined) {
    return then<(...args: unknown[]) => unknown, unknown>(
      loadFunction(def),
      (fn) => {
        def.fn = fn;
        return runJsTask(run, def, batch, payload);
      },
      (error) => reply(seq, STATUS_ERROR, error),
    ) as Promise<void>;
  }
  const context = new JsTaskContext(run, seq);
  run.context = context;
  if (contextStore !== undefined) return contextStore.run(context, startJsTask, run, context, def.fn, batch, payload);
  contextSlot[taskRuntimeKeys.contextKey] = context;
  return startJsTask(run, context, def.fn, batch, payload);
}

function startJsTask(run: TaskRun, context: JsTaskContext, fn: (...args: unknown[]) => unknown, batch: boolean, payload: unknown[]): Promise<void> | undefined {
  const seq = run.seq;
  try {
    if (!batch) {
      const value = reflectApply(fn, context, decodeArgs(payload));
      if (isThenable(value)) return settleLater(seq, context, resolved(value));
      return settleAfterOutput(seq, context, STATUS_OK, value);
    }
    // A chunk: its calls run in order; an async call makes the rest of the chunk async. Each
    // call may return withTransfer(...): its value takes its place, and the chunk's reply moves
    // every call's buffers.
    const out = nullArray<unknown>(payload.length);
    const moved = nullArray<TransferListItem>();
    for (let i = 0; i < payload.length && !context.cancelled(); i++) {
      const value = reflectApply(fn, context, decodeArgs(payload[i] as unknown[]));
      if (isThenable(value)) return settleLater(seq, context, runChunkAsync(fn, context, payload, out, moved, i, value));
      out[i] = unwrapTransfer(value, moved);
    }
    return settleAfterOutput(seq, context, STATUS_OK, chunkResult(out, moved));
  } catch (error) {
    return settleAfterOutput(seq, context, STATUS_ERROR, error);
  }
}

async function runChunkAsync(fn: (...args: unknown[]) => unknown, context: JsTaskContext, payload: unknown[], out: unknown[], moved: TransferListItem[], from: number, first: PromiseLike<unknown>): Promise<unknown> {
  out[from] = unwrapTransfer(await first, moved);
  for (let i = from + 1; i < payload.length && !context.cancelled(); i++) out[i] = unwrapTransfer(await reflectApply(fn, context, decodeArgs(payload[i] as unknown[])), moved);
  return chunkResult(out, moved);
}

/** A withTransfer() result's value, its transfer list added to `moved`; any other value as it is. */
function unwrapTransfer(value: unknown, moved: TransferListItem[]): unknown {
  if (!isTransferred(value)) return value;
  const list = value.transferList;
  // Indexed, not push(): see the builtins at the top.
  for (let i = 0; i < list.length; i++) moved[moved.length] = list[i]!;
  return value.value;
}

/** A chunk's results, wrapped as withTransfer() wraps one result when its calls moved buffers: reply() moves them. */
function chunkResult(out: unknown[], moved: TransferListItem[]): unknown {
  const value = encodeChunkResults(out);
  return moved.length === 0 ? value : { [taskRuntimeKeys.transferKey]: true, value, transferList: moved };
}

function isTransferred(value: unknown): value is { value: unknown; transferList: readonly TransferListItem[] } {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[taskRuntimeKeys.transferKey] === true;
}

function settleLater(seq: number, context: JsTaskContext, promise: Promise<unknown>): Promise<void> {
  return then(
    promise,
    (value) => settleAfterOutput(seq, context, STATUS_OK, value),
    (error) => settleAfterOutput(seq, context, STATUS_ERROR, error),
  ) as Promise<unknown> as Promise<void>; // a promise settleAfterOutput() returns is adopted
}

// The worker's stdout and stderr: Node sends what a task writes there to the pool's thread as
// messages on the worker's own internal port, not on the pool's private one, and acknowledges
// each write once the pool's thread has written it out. A reply that overtook them could settle
// the call, and let the process exit (an idle pool does not hold it), before the task's output
// got there: its last lines were lost. Taken now, before any task could replace them.
const stdio = [process.stdout, process.stderr];
// Their own write(), for a task may wrap it (to capture its output) and drop the callback.
const stdioWrites = [process.stdout.write, process.stderr.write];
const EMPTY = new Uint8Array(0);
const { setTimeout: startTimer, clearTimeout: stopTimer } = globalThis;
// How long a task's outcome waits for its output to be taken. A pool's thread that is blocked
// (an Atomics.wait for a task queued behind this one) cannot take it: past this, the outcome
// goes anyway rather than never.
const OUTPUT_WAIT_MS = 1000;

/**
 * finishJsTask() now when the task's output has all reached the pool's thread; else once it has
 * (or OUTPUT_WAIT_MS has passed), with a promise that settles then. An empty write is
 * acknowledged after every write before it.
 */
function settleAfterOutput(seq: number, context: JsTaskContext, status: number, value: unknown): Promise<void> | undefined {
  let waiting = 1; // this function's own hold, dropped after the writes are made
  let done: (() => void) | undefined;
  const written = (): void => {
    if (--waiting === 0 && done !== undefined) done();
  };
  // Indexed, not for-of: see the builtins at the top.
  for (let i = 0; i < stdio.length; i++) {
    const stream = stdio[i]!;
    // A stream the task ended, destroyed or left corked would never acknowledge the empty write.
    if (stream.writableLength === 0 || stream.writableEnded || stream.destroyed || stream.writableCorked > 0) continue;
    waiting++;
    try {
      reflectApply(stdioWrites[i]!, stream, [EMPTY, written]);
    } catch {
      waiting--;
    }
  }
  if (--waiting === 0) {
    finishJsTask(seq, context, status, value);
    return undefined;
  }
  return new PromiseConstructor<void>((resolve) => {
    const timer = startTimer(() => {
      waiting = 0;
      done!();
    }, OUTPUT_WAIT_MS);
    done = () => {
      done = undefined; // once: the acknowledgements or the timer, whichever comes first
      stopTimer(timer);
      finishJsTask(seq, context, status, value);
      resolve();
    };
  });
}

function finishJsTask(seq: number, context: JsTaskContext, status: number, value: unknown): void {
  const cancelled = runOf(seq)?.cancelledFlag === true;
  context.finish();
  if (contextStore === undefined) contextSlot[taskRuntimeKeys.contextKey] = undefined;
  reply(seq, status === STATUS_OK && cancelled ? STATUS_CANCELLED : status, value);
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  // Reading `then` runs the task's code (a getter, a Proxy trap): what it throws is the task's error.
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as PromiseLike<unknown>).then === 'function';
}

// ---- Start-up ----------------------------------------------------------------------------

port.on('message', receive);

async function start(): Promise<void> {
  const init = setup.initializer;
  if (init !== undefined) {
    try {
      const fn = await loadFunction(init);
      await reflectApply(fn, undefined, decodeArgs(init.args));
    } catch (error) {
      let encoded;
      try {
        encoded = encodeError(error instanceof Error ? error : new Error(`the initializer threw ${reasonOf(error)}`));
      } catch (unreadable) {
        encoded = encodeError(new TypeError(`the initializer threw a value that cannot be sent back to the pool: ${reasonOf(unreadable)}`));
      }
      post([INIT_FAILED, encoded]);
      port.close();
      return;
    }
  }
  ready = true;
  post([READY]);
  if (inboxAt < inbox.length) runTasks();
}

void start();
