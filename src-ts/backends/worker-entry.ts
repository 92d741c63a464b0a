// The worker runtime: the script every worker of the worker backend runs (built to
// dist/worker.js). It receives batches of tasks, runs them one at a time in arrival order, and
// sends replies back in batches. Wire format: ./worker-protocol.ts.
//
// Invariants:
// - One task at a time, in sequence order; an async task is awaited before the next starts.
// - A task runs only after this worker claimed it in the claim table (claim-table.ts); a task
//   whose claim fails was taken back by the pool, which runs it elsewhere: it is skipped, with
//   no reply.
// - Every claimed task gets exactly one reply, naming it by sequence number. reply() never
//   throws: a result or thrown value that cannot be read or cloned becomes a TypeError for that
//   task, and the run loop checks that each task it ran has replied.
// - `control[STARTED]` holds the sequence number of the task being run (or last run), stored
//   after its claim and before it starts: the pool reads it when this worker dies.
// - Replies are held back to share a message, but never past the end of an incoming batch,
//   never while awaiting an async task, never for more than FLUSH_AFTER_MS, and never into a
//   task not known to be short (knownShort): a worker killed to stop a task takes the replies
//   it holds with it.
// - worker_threads' workerData is the user's value (WorkerBackendOptions.workerData), set before
//   any user module (task or initializer) loads; spindle's own setup arrives beside it and is
//   taken out here, out of every task's reach.

import { syncBuiltinESMExports } from 'node:module';
import { performance } from 'node:perf_hooks';
import workerThreads, { receiveMessageOnPort, workerData, type MessagePort, type TransferListItem } from 'node:worker_threads';
import { kernels } from '../kernels/index.js';
import type { Kernel, KernelContext } from '../kernels/types.js';
import { SharedCounter } from '../shared/counter.js';
import { taskRuntimeKeys, type TaskContext } from '../task.js';
import {
  decodeArgs,
  decodeValue,
  encodeError,
  encodeKernelResult,
  encodeValue,
  EPOCH,
  reasonOf,
  INIT_FAILED,
  READY,
  RESULT_STRIDE,
  RESULTS,
  STARTED,
  STATUS_CANCELLED,
  STATUS_ERROR,
  STATUS_OK,
  STATUS_THROWN,
  TASK_STRIDE,
} from './worker-protocol.js';
import { ClaimTable } from './claim-table.js';
import type { WorkerEnvelope } from './worker-start.js';

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

const kernelsByName = new Map<string, Kernel>(Object.values(kernels).map((k) => [k.name, k as Kernel]));

// ---- Cancellation ------------------------------------------------------------------------

/** Sequence numbers the pool cancelled that have not been run or skipped yet. */
const cancelledSeqs = new Set<number>();
let seenEpoch = 0;

function takeCancellations(list: unknown): void {
  if (!Array.isArray(list)) return;
  for (const seq of list) {
    if (seq === current.seq) current.cancel();
    else if (seq > current.seq) cancelledSeqs.add(seq as number);
  }
}

/** Picks up cancellations posted since the last look, synchronously: works inside busy code. */
function pollCancellations(): void {
  const epoch = Atomics.load(control, EPOCH);
  if (epoch === seenEpoch) return;
  seenEpoch = epoch;
  for (let m = receiveMessageOnPort(controlPort); m !== undefined; m = receiveMessageOnPort(controlPort)) takeCancellations(m.message);
}

// While an async task awaits, cancellations arrive as events instead. Unref'd: the control
// port alone must not keep the worker alive.
// (The handler leaves seenEpoch alone: the next poll drains the port once more, finds it empty,
// and no cancellation whose epoch bump was seen before its event can be missed.)
controlPort.on('message', takeCancellations);
controlPort.unref();

// ---- The task being run ------------------------------------------------------------------

/** The call being run; one object reused for kernels, a fresh TaskContext per JS task. */
class Current implements KernelContext {
  seq = 0;
  cancelledFlag = false;
  counter: SharedCounter | undefined = undefined;
  context: JsTaskContext | undefined = undefined;

  start(seq: number, counter: SharedCounter | undefined): void {
    this.seq = seq;
    this.cancelledFlag = cancelledSeqs.delete(seq);
    this.counter = counter;
    this.context = undefined;
  }

  cancel(): void {
    this.cancelledFlag = true;
    this.context?.abort();
  }

  cancelled(): boolean {
    if (!this.cancelledFlag) pollCancellations();
    return this.cancelledFlag;
  }

  progress(units: number): void {
    this.counter?.add(units);
  }
}

const current = new Current();

/** `this` of a JS task. Its AbortController is made only if the task looks at `signal`. */
class JsTaskContext implements TaskContext {
  private controller: AbortController | undefined = undefined;
  private done = false;

  constructor(private readonly seq: number) {}

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
        if (!this.done && current.seq === this.seq) current.cancelled();
      };
      Object.defineProperty(signal, 'aborted', {
        get() {
          poll();
          return aborted.call(signal);
        },
      });
      signal.throwIfAborted = () => {
        poll();
        throwIfAborted.call(signal);
      };
      if (current.seq === this.seq && current.cancelledFlag) controller.abort(cancelReason());
    }
    return this.controller.signal;
  }

  cancelled(): boolean {
    return !this.done && current.seq === this.seq ? current.cancelled() : false;
  }

  progress(units: number): void {
    if (!this.done && current.seq === this.seq) current.progress(units);
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

const defs: JsTaskDef[] = [];

function addDefs(list: unknown): void {
  if (!Array.isArray(list)) return;
  for (const [index, module, exportName] of list as [number, string, string][]) defs[index] = { module, exportName, fn: undefined };
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
  if (fn === undefined) throw new TypeError(`task module ${def.module} has no export named '${def.exportName}'`);
  if (typeof fn !== 'function') throw new TypeError(`task export '${def.exportName}' of ${def.module} is not a function (it is ${typeof fn})`);
  return fn as (...args: unknown[]) => unknown;
}

// ---- Replies ----------------------------------------------------------------------------

let results: unknown[] = [RESULTS, 0];
let resultTransfer: TransferListItem[] = [];
/** Wall time of the tasks whose replies are in `results`, start to settle. */
let runMicros = 0;
let lastFlush = performance.now();
/** The last task given a reply: the run loop checks that each task it ran got one. */
let lastReplied = 0;

/** The TypeError a task gets for a reply that cannot be sent: its result, or what it threw. */
function cannotSend(status: number, error: unknown): Error {
  const what = status === STATUS_OK ? 'result' : 'thrown value';
  return new TypeError(`the task's ${what} cannot be sent back to the pool: ${reasonOf(error)}`);
}

/**
 * Adds task seq's reply to the next message. status: STATUS_OK (value: the result),
 * STATUS_ERROR (value: whatever was thrown) or STATUS_CANCELLED. Never throws: encoding runs
 * the task's own code (getters, Proxy traps), and what it throws becomes the task's TypeError.
 */
function reply(seq: number, status: number, value: unknown): void {
  lastReplied = seq;
  let transfer: TransferListItem[] | undefined;
  try {
    if (status === STATUS_OK) {
      if (typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[taskRuntimeKeys.transferKey] === true) {
        const wrapped = value as { value: unknown; transferList: TransferListItem[] };
        transfer = [...wrapped.transferList];
        value = wrapped.value;
      }
      value = encodeValue(value);
    } else if (status === STATUS_ERROR) {
      if (value instanceof Error) value = encodeError(value);
      else status = STATUS_THROWN;
    }
  } catch (error) {
    transfer = undefined;
    value = encodeError(cannotSend(status, error));
    status = STATUS_ERROR;
  }
  if (transfer !== undefined) for (const item of transfer) resultTransfer.push(item);
  results.push(seq, status, value);
}

function flush(): void {
  lastFlush = performance.now();
  if (results.length === 2) return;
  const message = results;
  const transfer = resultTransfer;
  message[1] = runMicros;
  runMicros = 0;
  results = [RESULTS, 0];
  resultTransfer = [];
  try {
    if (transfer.length === 0) port.postMessage(message);
    else port.postMessage(message, transfer);
  } catch {
    // Some reply cannot be cloned: send them one by one, each that fails as its task's TypeError.
    message[1] = 0;
    for (let i = 2; i < message.length; i += RESULT_STRIDE) postOne(message[i] as number, message[i + 1] as number, message[i + 2], transfer);
  }
}

function postOne(seq: number, status: number, value: unknown, transfer: TransferListItem[]): void {
  try {
    const own = transfer.length === 0 ? transfer : transfer.filter((item) => contains(value, item, new Set()));
    port.postMessage([RESULTS, 0, seq, status, value], own);
  } catch (error) {
    port.postMessage([RESULTS, 0, seq, STATUS_ERROR, encodeError(cannotSend(status, error))]);
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
let running = false;
let ready = false;

function receive(message: { defs?: unknown; tasks: unknown[] }): void {
  if (message.defs !== undefined) addDefs(message.defs);
  if (inboxAt === inbox.length) {
    inbox = message.tasks;
    inboxAt = 0;
  } else {
    for (const slot of message.tasks) inbox.push(slot);
  }
  if (ready && !running) runTasks();
}

/**
 * Runs tasks until the inbox is empty or a task turns out to be async, in which case it
 * resumes when that task settles. A task the pool took back (its claim fails) is skipped: the
 * pool has given it to another worker, or settled it.
 */
function runTasks(): void {
  running = true;
  // Resuming after an async task: its reply goes now, not behind a next task that might never
  // end (a worker the pool kills to stop a task loses the replies it holds).
  if (results.length > 2) flush();
  let clock = performance.now();
  while (inboxAt < inbox.length) {
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
    if (results.length > 2 && !knownShort(ref)) {
      flush();
      clock = performance.now();
    }
    Atomics.store(control, STARTED, seq);
    const started = clock;
    // A first call imports its module before it runs: that run's time says nothing of the task.
    const timed = typeof ref === 'string' || defs[ref]?.fn !== undefined;
    current.start(seq, progress === null ? undefined : SharedCounter.from(progress));
    if (current.cancelled()) {
      reply(seq, STATUS_CANCELLED, undefined);
      continue;
    }
    let pending: Promise<void> | undefined;
    try {
      pending = typeof ref === 'string' ? runKernel(seq, ref, batch, payload) : runJsTask(seq, defs[ref]!, batch, payload);
    } catch (error) {
      // Not expected (both report every outcome themselves); if it happens, the task still gets its reply.
      if (lastReplied !== seq) reply(seq, STATUS_ERROR, error);
    }
    if (pending !== undefined) {
      // What could spin is the synchronous part, this one (its awaits leave the worker free): it
      // is what recordRun() counts.
      if (timed) recordRun(ref, (performance.now() - started) * 1000);
      flush();
      const settled = (): void => {
        if (lastReplied !== seq) reply(seq, STATUS_ERROR, new Error('the task ended without an outcome'));
        runMicros += (performance.now() - started) * 1000;
        runTasks();
      };
      pending.then(settled, settled);
      return;
    }
    if (lastReplied !== seq) reply(seq, STATUS_ERROR, new Error('the task ended without an outcome'));
    clock = performance.now();
    const micros = (clock - started) * 1000;
    runMicros += micros;
    if (timed) recordRun(ref, micros);
    if (clock - lastFlush > FLUSH_AFTER_MS) flush();
  }
  inbox = [];
  inboxAt = 0;
  flush();
  running = false;
}

function runKernel(seq: number, name: string, batch: boolean, payload: unknown[]): undefined {
  const kernel = kernelsByName.get(name);
  try {
    if (kernel === undefined) throw new TypeError(`this worker has no kernel named ${name}`);
    let value: unknown;
    if (batch) {
      const out = new Array<unknown>(payload.length);
      for (let i = 0; i < payload.length && !current.cancelled(); i++) out[i] = kernel.run(decodeArgs(payload[i] as unknown[]), current);
      value = out;
    } else {
      value = kernel.run(decodeArgs(payload), current);
    }
    // Only byte-returning kernels (those with fromBytes) may return Buffers, which must travel marked.
    if (kernel.fromBytes !== undefined) value = encodeKernelResult(value, batch);
    reply(seq, current.cancelledFlag ? STATUS_CANCELLED : STATUS_OK, value);
  } catch (error) {
    reply(seq, STATUS_ERROR, error);
  }
  return undefined;
}

/**
 * Runs a JS task. Returns undefined when its reply is already in `results`, or a promise
 * that settles (never rejects) once it is.
 */
function runJsTask(seq: number, def: JsTaskDef, batch: boolean, payload: unknown[]): Promise<void> | undefined {
  if (def.fn === undefined) {
    return loadFunction(def).then(
      (fn) => {
        def.fn = fn;
        return runJsTask(seq, def, batch, payload);
      },
      (error) => reply(seq, STATUS_ERROR, error),
    );
  }
  const context = new JsTaskContext(current.seq);
  current.context = context;
  const contextSlot = globalThis as { [taskRuntimeKeys.contextKey]?: TaskContext };
  contextSlot[taskRuntimeKeys.contextKey] = context;
  const fn = def.fn;
  try {
    if (!batch) {
      const value = fn.apply(context, decodeArgs(payload));
      if (isThenable(value)) return settleLater(seq, context, Promise.resolve(value));
      finishJsTask(seq, context, STATUS_OK, value);
      return undefined;
    }
    // A chunk: its calls run in order; an async call makes the rest of the chunk async.
    const out = new Array<unknown>(payload.length);
    for (let i = 0; i < payload.length && !current.cancelled(); i++) {
      const value = fn.apply(context, decodeArgs(payload[i] as unknown[]));
      if (isThenable(value)) return settleLater(seq, context, runChunkAsync(fn, context, payload, out, i, value));
      out[i] = value;
    }
    finishJsTask(seq, context, STATUS_OK, out);
  } catch (error) {
    finishJsTask(seq, context, STATUS_ERROR, error);
  }
  return undefined;
}

async function runChunkAsync(fn: (...args: unknown[]) => unknown, context: JsTaskContext, payload: unknown[], out: unknown[], from: number, first: PromiseLike<unknown>): Promise<unknown[]> {
  out[from] = await first;
  for (let i = from + 1; i < payload.length && !current.cancelled(); i++) out[i] = await fn.apply(context, decodeArgs(payload[i] as unknown[]));
  return out;
}

function settleLater(seq: number, context: JsTaskContext, promise: Promise<unknown>): Promise<void> {
  return promise.then(
    (value) => finishJsTask(seq, context, STATUS_OK, value),
    (error) => finishJsTask(seq, context, STATUS_ERROR, error),
  );
}

function finishJsTask(seq: number, context: JsTaskContext, status: number, value: unknown): void {
  context.finish();
  const contextSlot = globalThis as { [taskRuntimeKeys.contextKey]?: TaskContext };
  contextSlot[taskRuntimeKeys.contextKey] = undefined;
  reply(seq, status === STATUS_OK && current.cancelledFlag ? STATUS_CANCELLED : status, value);
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
      await fn(...decodeArgs(init.args));
    } catch (error) {
      let encoded;
      try {
        encoded = encodeError(error instanceof Error ? error : new Error(`the initializer threw ${reasonOf(error)}`));
      } catch (unreadable) {
        encoded = encodeError(new TypeError(`the initializer threw a value that cannot be sent back to the pool: ${reasonOf(unreadable)}`));
      }
      port.postMessage([INIT_FAILED, encoded]);
      port.close();
      return;
    }
  }
  ready = true;
  port.postMessage([READY]);
  if (inboxAt < inbox.length) runTasks();
}

void start();
