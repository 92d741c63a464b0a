// The worker backend: kernels' JS twins and users' JS tasks run on a fixed set of
// worker_threads. This side assigns tasks to workers, sends them in batches, matches results,
// and keeps the set whole when workers crash, are recycled or must be killed. The other side
// is ./worker-entry.ts; the wire format is ./worker-protocol.ts.
//
// Where a dispatched task is (its backendSlot says which):
//   a SplitCall      shared out in parts (see split-call.ts), each of which is in one of the
//                    places below;
//   PENDING          in `pending`, not yet given to a worker;
//   a WorkerSlot     in that slot's `outbox` (posted at the next microtask) or `sent` (posted,
//                    unanswered, in sequence order);
//   undefined        settled (or cancelled while pending: then a dead entry in `pending`).
// `live` counts every task or part not yet settled; each is settled exactly once.
//
// Batching. Tasks are sent in messages of up to batchSize() tasks and each worker holds at most
// depth() unanswered ones, so a burst of small tasks costs one message each way per batch while
// a worker always has the next batch in hand. Both follow the measured task duration: tiny tasks
// travel 128 to a message, tasks of a few milliseconds one at a time, so no worker hoards work
// that an idle one could run.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort, type TransferListItem } from 'node:worker_threads';
import { WorkerCrashError } from '../errors.js';
import type { JsTask } from '../kernels/types.js';
import { Ring } from '../internal/ring.js';
import { packageRoot } from './addon.js';
import { Outcome, type Backend, type Dispatch } from './backend.js';
import { LiveTasks } from './live-tasks.js';
import { SplitCall } from './split-call.js';
import {
  CONTROL_WORDS,
  decodeError,
  decodeValue,
  encodeArgs,
  EPOCH,
  INIT_FAILED,
  READY,
  RESULT_STRIDE,
  RESULTS,
  STARTED,
  STATUS_CANCELLED,
  STATUS_ERROR,
  STATUS_OK,
  type EncodedError,
  type WorkerSetup,
} from './worker-protocol.js';

/** A batch should hold about this much work. */
const TARGET_BATCH_MICROS = 500;
const MAX_BATCH = 128;
/** Tasks at least this long go one per worker at a time. */
const LONG_TASK_MICROS = 5000;
/** A kernel call that can be split goes out in up to this many parts per worker, for balance. */
const PARTS_PER_WORKER = 4;
/** Workers dying before they are ready this many times in a row mean the pool is broken. */
const STARTUP_FAILURE_LIMIT = 3;

const PENDING = Symbol('pending');

export interface WorkerBackendOptions {
  size: number;
  initializer?: JsTask<any, any> | undefined;
  initArgs?: readonly unknown[] | undefined;
  maxTasksPerWorker?: number | undefined;
  /** ms; default 1000. */
  cancelGrace?: number | undefined;
}

/**
 * The parent's Node options, minus those about the parent's own entry point: a worker started
 * from `node --input-type=module -e ...` would otherwise refuse to start (--input-type applies
 * only to string input) or run the -e script again.
 */
export function workerExecArgv(execArgv: readonly string[] = process.execArgv): string[] {
  const kept: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i]!;
    const name = arg.split('=')[0]!;
    if (!DROPPED_OPTIONS.has(name)) kept.push(arg);
    else if (name === arg && OPTIONS_WITH_VALUE.has(name)) i++; // and its value
  }
  return kept;
}

/** Options about the parent's own entry point; the ones in OPTIONS_WITH_VALUE may take the next argument as their value. */
const DROPPED_OPTIONS = new Set(['-e', '--eval', '-p', '--print', '--input-type', '-i', '--interactive']);
const OPTIONS_WITH_VALUE = new Set(['-e', '--eval', '-p', '--print', '--input-type']);

/**
 * The execArgv option for new workers: undefined (inherit, as Node does by default, silently
 * dropping per-process flags such as --expose-gc) unless the parent's options had to be
 * cleaned. An explicit execArgv is validated by Node, which refuses per-process flags, so those
 * named in its refusal are dropped and the start retried.
 */
let execArgvForWorkers: string[] | undefined | null = null;

function startWorker(entry: URL, workerData: WorkerSetup, ports: MessagePort[]): Worker {
  if (execArgvForWorkers === null) {
    const cleaned = workerExecArgv();
    execArgvForWorkers = cleaned.length === process.execArgv.length ? undefined : cleaned;
  }
  for (;;) {
    const execArgv: string[] | undefined = execArgvForWorkers;
    try {
      return new Worker(entry, { workerData, transferList: ports, execArgv });
    } catch (error) {
      const refused = (error as { code?: string }).code === 'ERR_WORKER_INVALID_EXEC_ARGV' ? /flags: (.*)$/.exec((error as Error).message) : null;
      if (refused === null || execArgv === undefined) throw error;
      const names = new Set(refused[1]!.split(', ').map((flag) => flag.split('=')[0]));
      const kept: string[] = execArgv.filter((arg) => !names.has(arg.split('=')[0]!));
      if (kept.length === execArgv.length) throw error;
      execArgvForWorkers = kept;
    }
  }
}

/** The built worker runtime; throws when the package was not built. */
export function workerEntry(): URL {
  const path = join(packageRoot(), 'dist', 'worker.js');
  if (!existsSync(path)) throw new Error(`spindle's worker runtime ${path} is missing: build the package (npm run build:ts)`);
  return pathToFileURL(path);
}

class WorkerSlot {
  readonly worker: Worker;
  readonly control: Int32Array;
  readonly controlPort: MessagePort;
  /**
   * The pool's private channel to this worker: tasks out, replies in. User code in the worker
   * can reach parentPort but never this port, so nothing a task posts is taken for a reply.
   */
  readonly port: MessagePort;
  /** Sequence numbers of sent tasks the pool cancelled: never requeued, never run again. */
  readonly cancelledSeqs = new Set<number>();
  /** Posted, unanswered tasks in sequence order; the oldest has sequence number headSeq. */
  readonly sent = new Ring<Dispatch>();
  headSeq = 1;
  /** Assigned tasks waiting for the next flush. */
  outbox: Dispatch[] = [];
  /** How many of the backend's JS task definitions this worker has been sent. */
  knownDefs = 0;
  /** Tasks ever assigned here, for maxTasksPerWorker. */
  assigned = 0;
  ready = false;
  /** Takes no new tasks; exits once its last one is answered. */
  retiring = false;
  alive = true;
  /** Whether the worker keeps the process alive: only while it has work. */
  referenced = true;
  /** The sequence number of the task the backend terminated this worker to stop, if any. */
  killedFor = 0;
  /** Why it died, as far as known: its uncaught error, or its initializer's. */
  crash: Error | undefined = undefined;
  readonly exited: Promise<void>;
  markExited!: () => void;
  /** Settles once the worker has started (its initializer ran: READY) or is gone. */
  readonly startedOrGone: Promise<void>;
  markStarted!: () => void;

  constructor(entry: URL, setup: Omit<WorkerSetup, 'control' | 'controlPort' | 'port'>) {
    const buffer = new SharedArrayBuffer(CONTROL_WORDS * Int32Array.BYTES_PER_ELEMENT);
    this.control = new Int32Array(buffer);
    const { port1, port2 } = new MessageChannel();
    this.controlPort = port1;
    const protocol = new MessageChannel();
    this.port = protocol.port1;
    const workerData: WorkerSetup = { ...setup, control: buffer, controlPort: port2, port: protocol.port2 };
    this.worker = startWorker(entry, workerData, [port2, protocol.port2]);
    this.exited = new Promise((resolve) => (this.markExited = resolve));
    this.startedOrGone = new Promise((resolve) => (this.markStarted = resolve));
    void this.exited.then(this.markStarted);
  }

  get load(): number {
    return this.sent.length + this.outbox.length;
  }

  /** Only a worker with work keeps the process alive, as an idle pool must not. */
  updateRef(): void {
    const busy = this.load > 0;
    if (busy === this.referenced) return;
    this.referenced = busy;
    if (busy) this.worker.ref();
    else this.worker.unref();
  }
}

export class WorkerBackend implements Backend {
  readonly name = 'worker' as const;
  readonly size: number;
  readonly capacity: number;
  private readonly entry: URL;
  private readonly options: WorkerBackendOptions;
  private readonly cancelGrace: number;
  private readonly slots: WorkerSlot[] = [];
  private readonly pending = new Ring<Dispatch>();
  /** JS tasks by index, as sent to workers in `defs`. */
  private readonly defs: JsTask<any, any>[] = [];
  private readonly defIndex = new Map<string, number>();
  private readonly live = new LiveTasks();
  /** Moving average of one task's run time in a worker; negative until measured. */
  private taskMicros = -1;
  private cursor = 0;
  private flushQueued = false;
  private state: 'open' | 'closing' | 'terminating' = 'open';
  private startupFailures = 0;
  /** Set when workers keep dying at start: every task fails with it from then on. */
  private broken: WorkerCrashError | undefined = undefined;
  private spawned = 0;

  constructor(options: WorkerBackendOptions) {
    this.options = options;
    this.size = options.size;
    this.cancelGrace = options.cancelGrace ?? 1000;
    this.capacity = Math.max(1024, options.size * 2 * MAX_BATCH);
    this.entry = workerEntry();
    for (let i = 0; i < this.size; i++) this.spawn();
  }

  // ---- Workers ---------------------------------------------------------------------------

  private spawn(): void {
    const init = this.options.initializer;
    const slot = new WorkerSlot(this.entry, {
      initializer: init === undefined ? undefined : { module: init.module, exportName: init.exportName, args: [...encodeArgs(this.options.initArgs ?? [])] },
    });
    this.spawned++;
    slot.controlPort.unref();
    slot.port.on('message', (message: unknown) => this.onMessage(slot, message));
    // The worker's ref (updateRef) decides whether the process stays alive, not this port.
    slot.port.unref();
    // Whatever user tasks post on parentPort is theirs, never a reply: read and dropped here.
    slot.worker.on('message', () => {});
    slot.worker.on('error', (error: Error) => {
      slot.crash ??= error;
    });
    slot.worker.on('exit', (code: number) => this.onExit(slot, code));
    // After the listeners: adding a 'message' listener refs the worker's port again.
    slot.updateRef();
    this.slots.push(slot);
  }

  private onMessage(slot: WorkerSlot, message: unknown): void {
    if (!Array.isArray(message)) return;
    const tag = message[0];
    if (tag === RESULTS) this.onResults(slot, message);
    else if (tag === READY) {
      slot.ready = true;
      slot.markStarted();
      this.startupFailures = 0;
    } else if (tag === INIT_FAILED) {
      const error = decodeError(message[1] as EncodedError);
      slot.crash = new Error(`the pool's initializer failed: ${error.message}`, { cause: error });
    }
  }

  private onResults(slot: WorkerSlot, message: unknown[]): void {
    const count = (message.length - 2) / RESULT_STRIDE;
    if (count > 0) {
      const perTask = (message[1] as number) / count;
      this.taskMicros = this.taskMicros < 0 ? perTask : 0.7 * this.taskMicros + 0.3 * perTask;
    }
    let firstError: unknown;
    for (let i = 2; i < message.length; i += RESULT_STRIDE) {
      const d = slot.sent.shift();
      slot.cancelledSeqs.delete(slot.headSeq);
      slot.headSeq++;
      if (d === undefined || d.id !== message[i]) continue; // cannot happen: results come in order
      try {
        const status = message[i + 1];
        const value = message[i + 2];
        if (status === STATUS_OK) this.settle(d, Outcome.Ok, decodeValue(value));
        else if (status === STATUS_CANCELLED) this.settle(d, Outcome.Cancelled, undefined);
        else this.settle(d, Outcome.Error, status === STATUS_ERROR ? decodeError(value as EncodedError) : value);
      } catch (error) {
        // Settle every result of the message even if one settle() throws; report the first.
        firstError ??= error;
      }
    }
    if (slot.retiring && slot.load === 0) void slot.worker.terminate();
    slot.updateRef();
    this.assign();
    if (firstError !== undefined) throw firstError;
  }

  private onExit(slot: WorkerSlot, code: number): void {
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
    slot.alive = false;
    this.slots.splice(this.slots.indexOf(slot), 1);
    const started = Atomics.load(slot.control, STARTED);
    const requeue: Dispatch[] = slot.outbox;
    slot.outbox = [];
    const crash = (): WorkerCrashError => {
      const why = slot.crash !== undefined ? `${slot.crash.name}: ${slot.crash.message}` : `it exited with code ${code}`;
      return new WorkerCrashError(`the worker running this task died: ${why}`, { cause: slot.crash });
    };
    for (let seq = slot.headSeq, d = slot.sent.shift(); d !== undefined; seq++, d = slot.sent.shift()) {
      if (this.state === 'terminating') this.settle(d, Outcome.Cancelled, undefined);
      else if (slot.cancelledSeqs.has(seq)) this.settle(d, Outcome.Cancelled, undefined); // settled for its caller: never run again
      else if (seq > started) requeue.push(d); // never started: another worker runs it
      else if (seq === slot.killedFor) this.settle(d, Outcome.Cancelled, undefined);
      else if (seq === started) this.settle(d, Outcome.Error, crash());
      else this.settle(d, Outcome.Error, new WorkerCrashError('the worker died after running this task but before it could send the result', { cause: slot.crash }));
    }
    slot.markExited();

    if (this.state === 'terminating') {
      for (const d of requeue) this.settle(d, Outcome.Cancelled, undefined);
      return;
    }
    for (const d of requeue) d.backendSlot = PENDING;
    this.requeueFront(requeue);
    if (!slot.ready && !slot.retiring && slot.killedFor === 0 && this.state === 'open' && this.broken === undefined) {
      this.startupFailures++;
      if (this.startupFailures >= STARTUP_FAILURE_LIMIT) {
        const why = slot.crash !== undefined ? slot.crash.message : `the last one exited with code ${code}`;
        this.broken = new WorkerCrashError(`spindle: workers keep dying before they can run a task (${this.startupFailures} in a row): ${why}`, { cause: slot.crash });
      }
    }
    // Broken: what this worker (or any before it) left unanswered fails now; nothing respawns.
    if (this.broken !== undefined) this.failPending(this.broken);
    if (this.state === 'open' && this.broken === undefined && this.workingSlots() < this.size) this.spawn();
    this.assign();
  }

  private workingSlots(): number {
    let n = 0;
    for (const slot of this.slots) if (!slot.retiring) n++;
    return n;
  }

  /** Fails every task not yet posted to a worker: once the pool is broken, none ever will be. */
  private failPending(error: WorkerCrashError): void {
    for (let d = this.pending.shift(); d !== undefined; d = this.pending.shift()) {
      if (d.backendSlot === PENDING) this.settle(d, Outcome.Error, error);
    }
    for (const slot of this.slots) {
      for (const d of slot.outbox) this.settle(d, Outcome.Error, error);
      slot.outbox = [];
    }
  }

  private requeueFront(items: Dispatch[]): void {
    if (items.length === 0) return;
    const rest: Dispatch[] = [];
    for (let d = this.pending.shift(); d !== undefined; d = this.pending.shift()) rest.push(d);
    for (const d of items) this.pending.push(d);
    for (const d of rest) this.pending.push(d);
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
    if (kernel.kind === 'kernel' && kernel.split !== undefined && !d.batch && this.size > 1) {
      const pieces = kernel.split(d.calls[0]!, this.size * PARTS_PER_WORKER);
      if (pieces.length > 1) {
        const call = new SplitCall(d, kernel, pieces, (part) => this.cancel(part));
        d.backendSlot = call;
        for (const part of call.parts) this.enqueue(part);
        this.assign();
        return;
      }
    }
    this.enqueue(d);
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

  /** Unanswered tasks one worker may hold. */
  private depth(): number {
    if (this.taskMicros >= LONG_TASK_MICROS) return 1;
    return 2 * this.batchSize();
  }

  /** Gives pending tasks to workers with room, spreading them round-robin. */
  private assign(): void {
    if (this.pending.length === 0 || this.state === 'terminating') return;
    const depth = this.depth();
    const max = this.options.maxTasksPerWorker;
    const slots = this.slots;
    let idleScans = 0;
    while (this.pending.length > 0 && idleScans < slots.length) {
      const d = this.pending.peek()!;
      if (d.backendSlot !== PENDING) {
        this.pending.shift();
        continue;
      }
      if (this.cursor >= slots.length) this.cursor = 0;
      const slot = slots[this.cursor++]!;
      if (slot.retiring || !slot.alive || slot.load >= depth) {
        idleScans++;
        continue;
      }
      idleScans = 0;
      this.pending.shift();
      d.backendSlot = slot;
      slot.outbox.push(d);
      slot.assigned++;
      slot.updateRef();
      if (max !== undefined && slot.assigned >= max) {
        // Recycle: the replacement starts now, the old worker leaves once it is done.
        slot.retiring = true;
        if (this.state === 'open' && this.broken === undefined) this.spawn();
      }
    }
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(this.flush);
    }
  }

  /** Posts every outbox, in messages of at most batchSize() tasks. */
  private readonly flush = (): void => {
    this.flushQueued = false;
    const batch = this.batchSize();
    for (const slot of this.slots) {
      if (slot.outbox.length === 0) continue;
      const outbox = slot.outbox;
      slot.outbox = [];
      for (let from = 0; from < outbox.length; from += batch) this.post(slot, outbox.slice(from, from + batch));
      slot.updateRef();
      if (slot.retiring && slot.load === 0) void slot.worker.terminate();
    }
  };

  private post(slot: WorkerSlot, tasks: Dispatch[]): void {
    const records: unknown[] = [];
    const transfer: TransferListItem[] = [];
    const sendable: Dispatch[] = [];
    for (const d of tasks) {
      const ref = d.kernel.kind === 'kernel' ? d.kernel.name : this.defOf(d.kernel);
      let payload: unknown;
      try {
        // Reading the arguments runs the caller's code (a getter, a Proxy trap, a revoked Proxy
        // that throws): what it throws belongs to that task alone, never to this flush.
        payload = d.batch ? d.calls.map(encodeArgs) : encodeArgs(d.calls[0]!);
      } catch (error) {
        this.failUnsendable(d, error);
        continue;
      }
      sendable.push(d);
      records.push(d.id, ref, d.batch ? 1 : 0, payload, d.progress === undefined ? null : d.progress.buffer);
      if (d.transfer !== undefined) for (const t of d.transfer) transfer.push(t);
    }
    const defs = slot.knownDefs < this.defs.length ? this.defs.slice(slot.knownDefs).map((t, i) => [slot.knownDefs + i, t.module, t.exportName]) : undefined;
    if (sendable.length === 0) return;
    try {
      if (transfer.length === 0) slot.port.postMessage({ defs, tasks: records });
      else slot.port.postMessage({ defs, tasks: records }, transfer);
    } catch (error) {
      if (sendable.length === 1) {
        this.failUnsendable(sendable[0]!, error);
        return;
      }
      // One task's arguments cannot be cloned (or transferred): find it, send the others.
      for (const d of sendable) this.post(slot, [d]);
      return;
    }
    slot.knownDefs = this.defs.length;
    for (const d of sendable) slot.sent.push(d);
  }

  /** Settles a task whose arguments cannot be read or cloned with a TypeError; it never reaches a worker. */
  private failUnsendable(d: Dispatch, error: unknown): void {
    d.backendSlot = undefined;
    let why: string;
    try {
      why = error instanceof Error ? error.message : String(error);
    } catch {
      why = 'reading them threw';
    }
    queueMicrotask(() => {
      this.settle(d, Outcome.Error, new TypeError(`${d.kernel.name}: the arguments cannot be sent to a worker: ${why}`, { cause: error }));
      // It left its worker's load: tasks held back by that load may go now, as after a reply.
      this.assign();
    });
  }

  private defOf(t: JsTask<any, any>): number {
    const key = `${t.module}\0${t.exportName}`;
    let index = this.defIndex.get(key);
    if (index === undefined) {
      index = this.defs.length;
      this.defs.push(t);
      this.defIndex.set(key, index);
    }
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
      d.backendSlot = undefined;
      queueMicrotask(() => this.settle(d, Outcome.Cancelled, undefined));
      return;
    }
    let index = 0;
    while (index < slot.sent.length && slot.sent.at(index) !== d) index++;
    if (index === slot.sent.length) return; // not here after all: nothing to cancel
    const seq = slot.headSeq + index;
    slot.cancelledSeqs.add(seq);
    // Post before bumping the epoch: a worker that sees the new epoch must find the message.
    slot.controlPort.postMessage([seq]);
    Atomics.add(slot.control, EPOCH, 1);
    const stopIfStillRunning = (): void => {
      if (slot.alive && d.backendSlot === slot && Atomics.load(slot.control, STARTED) === seq) {
        slot.killedFor = seq;
        void slot.worker.terminate();
      }
    };
    if (this.cancelGrace === 0) stopIfStillRunning();
    else setTimeout(stopIfStillRunning, this.cancelGrace).unref();
  }

  terminate(): Promise<void> {
    this.state = 'terminating';
    for (let d = this.pending.shift(); d !== undefined; d = this.pending.shift()) {
      if (d.backendSlot === PENDING) this.settle(d, Outcome.Cancelled, undefined);
    }
    for (const slot of this.slots) {
      const outbox = slot.outbox;
      slot.outbox = [];
      for (const d of outbox) this.settle(d, Outcome.Cancelled, undefined);
    }
    return this.stopAll();
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
    const slots = [...this.slots];
    for (const slot of slots) void slot.worker.terminate();
    await Promise.all(slots.map((slot) => slot.exited));
    await this.live.drained();
  }

  describe(): Record<string, unknown> {
    return {
      capacity: this.capacity,
      workers: this.slots.length,
      ready: this.slots.filter((s) => s.ready).length,
      workersStarted: this.spawned,
      batchSize: this.batchSize(),
      taskMicros: this.taskMicros < 0 ? undefined : Math.round(this.taskMicros * 100) / 100,
      broken: this.broken?.message,
    };
  }
}
