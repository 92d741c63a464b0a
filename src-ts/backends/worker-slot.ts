// One worker as the pool sees it: its thread, its private channels, the claim table it shares,
// and the tasks posted to it and not yet answered or taken back. WorkerBackend (worker.ts) is the
// only user: it decides what each slot gets; a slot only keeps the books for its own worker.

import { performance } from 'node:perf_hooks';
import { MessageChannel, type MessagePort, type Worker, type WorkerOptions } from 'node:worker_threads';
import type { Dispatch } from './backend.js';
import { CLAIM_MASK, CLAIM_SLOTS, ClaimTable } from './claim-table.js';
import { CONTROL_WORDS, RUNNING, STARTED, type WorkerSetup } from './worker-protocol.js';
import { startWorker, type WorkerEnvelope } from './worker-start.js';

/**
 * Why the pool stopped a worker: recycled by maxTasksPerWorker, idle for idleTimeout above
 * minSize, killed to stop a cancelled task, or the pool's close or terminate.
 */
export type StopReason = 'recycled' | 'idle' | 'cancel' | 'shutdown';

export class WorkerSlot {
  readonly worker: Worker;
  /** Tasks the worker may have in flight at once (WorkerSetup.concurrency). */
  readonly concurrency: number;
  /** The worker's threadId, kept: events name the worker by it, after it has exited too. */
  readonly threadId: number;
  readonly control: Int32Array;
  readonly controlPort: MessagePort;
  /**
   * The pool's private channel to this worker: tasks out, replies in. User code in the worker
   * can reach parentPort but never this port, so nothing a task posts is taken for a reply.
   */
  readonly port: MessagePort;
  /** Decides, per posted task, whether this worker runs it or the pool took it back. */
  readonly claims = new ClaimTable();
  /** Sequence numbers of started tasks the pool cancelled: never requeued, never run again. */
  readonly cancelledSeqs = new Set<number>();
  /**
   * Posted tasks with no reply yet that the pool has not taken back, at index seq & mask
   * (heldSeq says whose the cell is). No cell (here or in the claim table) is reused while held:
   * a sequence number whose cell is held is skipped, never posted (nextFreeSeq), so one task
   * that runs for long (with concurrentTasksPerWorker > 1) pins only its own cell. Before, the
   * span from the oldest held task to the next was kept below CLAIM_SLOTS, and a worker running
   * one long task took no new one after 1023 short ones. Held sequence numbers are at least
   * tailSeq (a lower bound, advanced lazily).
   */
  private readonly heldTask = new Array<Dispatch | undefined>(CLAIM_SLOTS);
  private readonly heldSeq = new Float64Array(CLAIM_SLOTS);
  /** When each held task was posted (performance.now(), ms). */
  private readonly postedAt = new Float64Array(CLAIM_SLOTS);
  heldCount = 0;
  private tailSeq = 1;
  /** The sequence number the next posted task gets. */
  nextSeq = 1;
  /** Every held task up to this sequence number is known to be claimed (a take-back found so). */
  private claimedThrough = 0;
  /** Assigned tasks waiting for the next flush. */
  outbox: Dispatch[] = [];
  /** When this worker last showed progress (a reply, READY) or was given work while idle; ms. */
  lastProgressAt = performance.now();
  /** How many of the backend's JS task definitions this worker has been sent. */
  knownDefs = 0;
  /** Tasks assigned here and not taken back or cancelled unstarted: those it runs, for maxTasksPerWorker. */
  assigned = 0;
  ready = false;
  /** Whether a reply to a task came from it: a worker that never answered one counts as a failed start if it dies. */
  answered = false;
  /**
   * Has its maxTasksPerWorker tasks: takes no new ones, and the pool stops it once it is ready
   * and has answered them all. It still counts within `size` until it has exited.
   */
  retiring = false;
  /** Why the pool terminated it, if it did (the first reason given): its exit is then no failed start. */
  stopReason: StopReason | undefined = undefined;
  alive = true;
  /** Whether the worker keeps the process alive: only while it has work. */
  referenced = true;
  /**
   * When (performance.now(), ms) this worker, ready and neither retiring nor stopping, was last
   * left with nothing to do; -1 while it has work or is not such a worker. Kept by the backend,
   * and only in a pool that may shrink (minSize < size).
   */
  idleSince = -1;
  /** The sequence number of the task the backend terminated this worker to stop, if any. */
  killedFor = 0;
  /** Why it died, as far as known: its uncaught error, or its initializer's. */
  crash: Error | undefined = undefined;
  /** What its initializer threw (then `crash` says so too): the worker exits without running a task. */
  initFailure: Error | undefined = undefined;
  readonly exited: Promise<void>;
  markExited!: () => void;
  /** Settles once the worker has started (its initializer ran: READY) or is gone. */
  readonly startedOrGone: Promise<void>;
  markStarted!: () => void;

  /**
   * Starts the worker. `options` are the pool's controlOptions() (worker-start.ts), `userData` its
   * snapshotWorkerData(): the worker's workerData, as its tasks see it.
   */
  constructor(entry: URL, setup: Omit<WorkerSetup, 'control' | 'controlPort' | 'port' | 'claims'>, options: WorkerOptions, userData: unknown) {
    this.concurrency = setup.concurrency;
    const buffer = new SharedArrayBuffer(CONTROL_WORDS * Int32Array.BYTES_PER_ELEMENT);
    this.control = new Int32Array(buffer);
    const { port1, port2 } = new MessageChannel();
    this.controlPort = port1;
    const protocol = new MessageChannel();
    this.port = protocol.port1;
    const envelope: WorkerEnvelope = {
      setup: { ...setup, control: buffer, controlPort: port2, port: protocol.port2, claims: this.claims.buffer },
      userData,
    };
    try {
      this.worker = startWorker(entry, envelope, [port2, protocol.port2], options);
    } catch (error) {
      for (const port of [port1, port2, protocol.port1, protocol.port2]) port.close();
      throw error;
    }
    this.threadId = this.worker.threadId;
    this.exited = new Promise((resolve) => (this.markExited = resolve));
    this.startedOrGone = new Promise((resolve) => (this.markStarted = resolve));
    void this.exited.then(this.markStarted);
  }

  /** Whether the pool terminated it on purpose. */
  get stopping(): boolean {
    return this.stopReason !== undefined;
  }

  /** Terminates the worker on purpose; the first reason given is the one its exit reports. */
  stop(reason: StopReason): void {
    this.stopReason ??= reason;
    // Referenced until it has exited: terminate() and join() wait for its 'exit'. Node's
    // worker.terminate() refs it too, but a reply that arrives meanwhile would make updateRef
    // unref it again, and the process could exit with them pending; updateRef counts a
    // stopping worker as busy.
    this.updateRef();
    void this.worker.terminate();
  }

  get load(): number {
    return this.heldCount + this.outbox.length;
  }

  /** Records a task posted at `now`. */
  hold(seq: number, d: Dispatch, now: number): void {
    const i = seq & CLAIM_MASK;
    this.heldTask[i] = d;
    this.heldSeq[i] = seq;
    this.postedAt[i] = now;
    this.heldCount++;
  }

  /** The held task seq, no longer held; undefined when it is not held (a reply nobody waits for). */
  release(seq: number): Dispatch | undefined {
    const i = seq & CLAIM_MASK;
    const d = this.heldTask[i];
    if (d === undefined || this.heldSeq[i] !== seq) return undefined;
    this.heldTask[i] = undefined;
    this.heldCount--;
    return d;
  }

  /** The sequence number under which `d` is held, or 0. O(CLAIM_SLOTS): for cancellations only. */
  seqOf(d: Dispatch): number {
    const i = this.heldTask.indexOf(d);
    return i < 0 ? 0 : this.heldSeq[i]!;
  }

  /** How many more tasks may be posted now: the free cells. */
  room(): number {
    return CLAIM_SLOTS - this.heldCount;
  }

  /** The first sequence number after `seq` whose cell is free: the next one to post. */
  nextFreeSeq(seq: number): number {
    let next = seq + 1;
    while (this.heldTask[next & CLAIM_MASK] !== undefined) next++;
    return next;
  }

  /** The held tasks' sequence numbers, oldest first (walking the cells, not the span: a long-held task may be far behind). */
  private heldSeqs(): number[] {
    const seqs: number[] = [];
    for (let i = 0; i < CLAIM_SLOTS; i++) if (this.heldTask[i] !== undefined) seqs.push(this.heldSeq[i]!);
    return seqs.sort((a, b) => a - b);
  }

  /** Advances tailSeq past sequence numbers no longer held, as far as the oldest held task. */
  private advanceTail(): void {
    // Each number is passed once over the slot's life: amortized O(1) per task.
    for (let i = this.tailSeq & CLAIM_MASK; this.tailSeq < this.nextSeq; i = ++this.tailSeq & CLAIM_MASK) {
      if (this.heldTask[i] !== undefined && this.heldSeq[i] === this.tailSeq) break;
    }
  }

  /**
   * At most how many of its tasks the worker has not claimed yet: the outbox, and the held tasks
   * after the last it started and after the last a take-back found claimed (it claims in
   * sequence order).
   */
  unstarted(): number {
    const posted = Math.min(this.heldCount, this.nextSeq - 1 - Math.max(Atomics.load(this.control, STARTED), this.claimedThrough));
    return posted + this.outbox.length;
  }

  /**
   * Whether what the worker holds unstarted waits behind tasks it is running: every place is
   * taken (RUNNING >= concurrency; with concurrency 1, any task in flight), or it runs some and
   * has left a posted task unclaimed for `patience` ms although a place is free (its thread is
   * busy in synchronous code, which no await interrupts). A worker running nothing is not: what
   * it has not claimed is still on its way (a large argument takes a while to arrive).
   */
  busyInTask(now: number, patience: number): boolean {
    const running = Atomics.load(this.control, RUNNING);
    if (running >= this.concurrency) return true;
    return running > 0 && this.unclaimedFor(now) > patience;
  }

  /** How long (ms) the oldest posted task the worker has not claimed has been posted; 0 when there is none. */
  private unclaimedFor(now: number): number {
    for (let seq = Math.max(Atomics.load(this.control, STARTED), this.claimedThrough, this.tailSeq - 1) + 1; seq < this.nextSeq; seq++) {
      const i = seq & CLAIM_MASK;
      if (this.heldTask[i] !== undefined && this.heldSeq[i] === seq) return now - this.postedAt[i]!;
    }
    return 0;
  }

  /**
   * Takes back up to `max` held tasks the worker has not claimed, newest first; returns them
   * oldest first. Stops at the first claimed one (every older task is claimed too), and at a
   * task with a transfer list: its buffers moved with the message, so this worker must run it.
   */
  takeBack(max: number): Dispatch[] {
    const taken: Dispatch[] = [];
    let seq = this.nextSeq - 1;
    let pinned = false;
    // Unclaimed tasks are the newest (the worker claims in order), all within the last
    // CLAIM_SLOTS numbers: older held ones are claimed (a long task pinning its cell).
    this.advanceTail();
    const oldest = Math.max(this.tailSeq, this.nextSeq - CLAIM_SLOTS);
    if (oldest > this.tailSeq) pinned = true; // not walked to the end: nothing said of the rest
    for (; seq >= oldest && taken.length < max; seq--) {
      const i = seq & CLAIM_MASK;
      const d = this.heldTask[i];
      if (d === undefined || this.heldSeq[i] !== seq) continue;
      if (d.transfer !== undefined) {
        pinned = true;
        break;
      }
      if (!this.claims.takeBack(seq)) break;
      taken.push(this.release(seq)!);
    }
    // Stopped at a claimed task or at the end, not at `max`: every task still held is claimed.
    if (taken.length < max && !pinned) this.claimedThrough = this.nextSeq - 1;
    return taken.reverse();
  }

  /**
   * The held tasks the worker has finished with a result kept in the claim table (a primitive,
   * whose reply it may hold back to share a message), released, oldest first, with their
   * results: for a worker stuck in a later task, which sends nothing until that task ends. Safe
   * while the worker lives: a held task's cell is not offered again, so it stays done(seq), and
   * the reply that comes later finds the task no longer held. Returns [seq, task, result].
   */
  releaseFinished(): [number, Dispatch, unknown][] {
    const found: [number, Dispatch, unknown][] = [];
    for (const seq of this.heldSeqs()) {
      const kept = this.claims.keptResult(seq);
      if (kept.kept) found.push([seq, this.release(seq)!, kept.value]);
    }
    return found;
  }

  /** Every held task with its sequence number, oldest first, released: for a worker that is gone. */
  releaseAll(): [number, Dispatch][] {
    const all: [number, Dispatch][] = [];
    for (const seq of this.heldSeqs()) all.push([seq, this.release(seq)!]);
    return all;
  }

  /**
   * Only a worker with work keeps the process alive, as an idle pool must not. A retiring one
   * counts as busy until it has exited: tasks may be waiting for its replacement, which starts
   * only then (and it exits soon by itself). So does a stopping one (see stop()).
   */
  updateRef(): void {
    const busy = this.load > 0 || this.retiring || this.stopping;
    if (busy === this.referenced) return;
    this.referenced = busy;
    if (busy) this.worker.ref();
    else this.worker.unref();
  }
}
