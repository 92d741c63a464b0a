// Scheduler: admission, the bounded queue, and the pool's lifecycle, over one Backend.
//
// A task is in exactly one place: the waiters (not yet accepted), the queue (accepted, not
// dispatched), the backend (dispatched, until the backend settles it), or nowhere (done).
// Counters, true whenever no scheduler method is on the stack:
//   waiting = WAITING tasks in `waiters`;   queued = QUEUED tasks in `queue`
//   running = dispatched tasks the backend has not settled yet (RUNNING or WITHDRAWN)
//   running < capacity implies queued = 0, and waiting > 0 implies unstarted = maxQueue:
//   pump() restores both whenever a slot or room appears.
//
// The bound. A backend runs at most `size` tasks at once and takes up to `capacity` (more than
// size), so that its threads find the next task in hand rather than waiting for the event loop.
// The tasks it holds beyond `size` have been accepted but not started, exactly like those in
// `queue`, so they count against maxQueue too:
//   queued + max(0, running - size) <= maxQueue        (hasRoom() admits only below it)
// `capacity` is therefore never above size + maxQueue: a small maxQueue, a shallow pipeline.
// `queue` and `waiters` may also hold dead entries (tasks withdrawn while there); they are
// skipped when reached, and compacted away once they outnumber the live ones.
//
// Plain calls (apply() with no options and at most two number arguments: a burst) follow the
// same rules and counts without a Task. They wait in the backlogs as their parts (backlog.ts)
// and, on a backend with the plain lane (Backend.dispatchPlain), run and report as their
// resolve function alone; elsewhere they become CallTasks when dispatched. A plain call can be
// answered early only by terminate(), which takes the running ones back with withdrawPlain().
// Keeping no object per call is what makes a burst cheap: V8's young-generation collector pays
// for every object a burst keeps alive.
//
// Close with a deadline: with closeTimeout, close() arms a timer; if the pool has not drained
// when it fires, the rest is terminated (every unsettled call rejects with an AbortError that says
// the close timed out) and join() resolves once the backend has stopped, as after terminate().
//
// Drain: `onDrain` is called (from a microtask, never inside a scheduler method) when the pool had
// accepted-but-unstarted or waiting calls and now has none: a producer that paused on a full
// queue may go on.
//
// Stats: submitted counts accepted tasks (queued or dispatched; a map chunk counts once).
// Each of them ends in exactly one of completed, failed or cancelled, counted when its
// caller gets the outcome. A waiting task withdrawn before acceptance counts nowhere.

import { Outcome, type Backend, type PlainSink } from '../backends/backend.js';
import { AbortError, PoolStateError } from '../errors.js';
import type { Runnable } from '../kernels/types.js';
import type { SharedCounter } from '../shared/counter.js';
import { Backlog } from './backlog.js';
import { TaskTimes } from './task-times.js';
import { settleByResolve } from './deferred.js';
import { CallTask, ChunkTask, DONE, numberArgCount, QUEUED, RUNNING, WAITING, WITHDRAWN, type ChunkOwner, type Task } from './task.js';

/** A call made of several tasks (a map, an imap): terminate() aborts it as a whole. */
export interface Job {
  abort(error: Error): void;
}

export type PoolState = 'open' | 'closed' | 'terminated';

const isQueued = (task: Task): boolean => task.state === QUEUED;
const isWaiting = (task: Task): boolean => task.state === WAITING;

export class Scheduler implements PlainSink {
  state: PoolState = 'open';
  waiting = 0;
  queued = 0;
  running = 0;
  submitted = 0;
  completed = 0;
  failed = 0;
  cancelled = 0;
  /** Maps and imaps in progress; join() waits for them as well as for tasks. */
  readonly jobs = new Set<Job>();

  /** Wait and run times of the tasks that started, for stats(). */
  readonly times = new TaskTimes();
  private readonly waiters = new Backlog((c) => this.plainTask(c.kernel, c.resolve, c.argc, c.a0, c.a1, c.acceptedAt, WAITING));
  private readonly queue = new Backlog((c) => this.plainTask(c.kernel, c.resolve, c.argc, c.a0, c.a1, c.acceptedAt, QUEUED));
  /** Dispatched tasks, newest first, linked through Task.prev/next. */
  private dispatched: Task | undefined = undefined;
  private nextId = 1;
  /** Set once backend.close() was called. */
  private closing = false;
  private terminated: Promise<void> | undefined = undefined;
  private readonly joined: Promise<void>;
  private resolveJoined!: () => void;
  private rejectJoined!: (error: unknown) => void;

  /** How many dispatched, unsettled tasks the backend may hold: its own capacity, within the bound. */
  private readonly capacity: number;
  private readonly size: number;

  /** ms after close() before what is left is terminated; undefined: no deadline. */
  closeTimeout: number | undefined = undefined;
  private closeTimer: NodeJS.Timeout | undefined = undefined;
  /** Called (from a microtask) when unstarted and waiting calls fall to zero; see the header. */
  onDrain: (() => void) | undefined = undefined;
  /** Set while calls were seen waiting or unstarted, since the last drain. */
  private backlogged = false;
  private drainQueued = false;

  constructor(
    readonly backend: Backend,
    readonly maxQueue: number,
  ) {
    this.size = backend.size;
    this.capacity = Math.min(backend.capacity, backend.size + maxQueue);
    this.joined = new Promise<void>((resolve, reject) => {
      this.resolveJoined = resolve;
      this.rejectJoined = reject;
    });
    // join() hands this promise out; a backend that fails to close must not also surface as
    // an unhandled rejection when nobody joined.
    this.joined.catch(() => {});
  }

  newCall(kernel: Runnable, args: readonly unknown[], progress: SharedCounter | undefined): CallTask {
    const n = numberArgCount(args);
    const task =
      n < 0
        ? new CallTask(this, this.nextId++, kernel, args, undefined, undefined)
        : new CallTask(this, this.nextId++, kernel, undefined, n > 0 ? (args[0] as number) : undefined, n > 1 ? (args[1] as number) : undefined);
    if (progress !== undefined) task.withExtras().progress = progress;
    return task;
  }

  /**
   * A plain call: apply() of `kernel` to the first `argc` (0 to 2) of a0, a1, with no options.
   * Accepted as tryAccept() and wait() would accept its CallTask, but it has none: it waits in
   * the backlogs as its parts and, where the backend has the plain lane, runs without one too.
   * Returns false, changing nothing, when there is no room and `canWait` is false.
   */
  acceptPlain(kernel: Runnable, resolve: (value: unknown) => void, argc: number, a0: number, a1: number, canWait: boolean): boolean {
    if (this.waiting === 0) {
      if (this.queued === 0 && this.running < this.capacity) {
        this.submitted++;
        if (this.running >= this.size) this.backlogged = true;
        this.runPlain(kernel, resolve, argc, a0, a1, this.times.clock());
        return true;
      }
      if (this.hasRoom()) {
        this.submitted++;
        this.queue.pushPlain(kernel, resolve, argc, a0, a1, this.times.clock());
        this.queued++;
        this.backlogged = true;
        return true;
      }
    }
    if (!canWait) return false;
    this.waiters.pushPlain(kernel, resolve, argc, a0, a1, 0);
    this.waiting++;
    this.backlogged = true;
    return true;
  }

  /** PlainSink.plainSettled: the backend's one report for a plain call. */
  plainSettled(resolve: ((value: unknown) => void) | undefined, outcome: Outcome, value: unknown): void {
    if (resolve !== undefined) settleByResolve(resolve, outcome === Outcome.Ok, this.tally(outcome, value));
    this.slotFreed();
  }

  /** PlainSink.plainTimed: a plain call accepted at `acceptedAt` started at `startedAt` and ran `runMs`. */
  plainTimed(acceptedAt: number, startedAt: number, runMs: number): void {
    this.times.record(acceptedAt, startedAt, runMs);
  }

  newChunk(kernel: Runnable, calls: readonly (readonly unknown[])[], progress: SharedCounter | undefined, owner: ChunkOwner, index: number, firstItem: number): ChunkTask {
    return new ChunkTask(this, this.nextId++, kernel, calls, progress, owner, index, firstItem);
  }

  /**
   * Accepts `task` if there is room: dispatches it when the backend has a free slot, else
   * queues it. Returns false, changing nothing, when it must wait. Never delivers an outcome
   * synchronously.
   */
  tryAccept(task: Task): boolean {
    // Waiters came first: while any wait, there is no room for newcomers (FIFO).
    if (this.waiting !== 0) return false;
    if (this.queued === 0 && this.running < this.capacity) {
      this.submitted++;
      if (this.running >= this.size) this.backlogged = true;
      task.acceptedAt = this.times.clock();
      this.dispatch(task);
      return true;
    }
    if (this.hasRoom()) {
      this.submitted++;
      task.acceptedAt = this.times.clock();
      task.state = QUEUED;
      this.queue.push(task);
      this.queued++;
      this.backlogged = true;
      return true;
    }
    return false;
  }

  /** Parks a task that tryAccept() refused; pump() accepts waiters in arrival order. */
  wait(task: Task): void {
    task.state = WAITING;
    this.waiters.push(task);
    this.waiting++;
    this.backlogged = true;
  }

  /** Dispatch.settle lands here: the backend's one report for a dispatched task. */
  settled(task: Task, outcome: Outcome, value: unknown): void {
    const state = task.state;
    // Anything else would be a second report for the same task: a backend bug, ignored.
    if (state !== RUNNING && state !== WITHDRAWN) return;
    task.state = DONE;
    this.unlink(task);
    if (state === RUNNING) task.deliver(outcome === Outcome.Ok, this.tally(outcome, value));
    // The slot is freed only after delivery: a failed map chunk withdraws its siblings during
    // delivery, and none of them may be dispatched into this slot for nothing meanwhile.
    this.slotFreed();
  }

  /** Counts an outcome its caller is about to get; returns what to deliver (an AbortError for a cancellation). */
  private tally(outcome: Outcome, value: unknown): unknown {
    if (outcome === Outcome.Ok) {
      this.completed++;
    } else if (outcome === Outcome.Error) {
      this.failed++;
    } else {
      this.cancelled++;
      return new AbortError('the task was cancelled');
    }
    return value;
  }

  /** Dispatched tasks the backend holds beyond the `size` it can run: accepted, not started. */
  get queuedInBackend(): number {
    return this.running > this.size ? this.running - this.size : 0;
  }

  /** Accepted, not started tasks, wherever they wait: the pool's queue and the backend's. */
  get unstarted(): number {
    return this.queued + this.queuedInBackend;
  }

  /** Whether one more task may be accepted without going past maxQueue. */
  private hasRoom(): boolean {
    return this.unstarted < this.maxQueue;
  }

  /** A dispatched call has been reported: its backend slot goes to the next call. */
  private slotFreed(): void {
    this.running--;
    this.pump();
    this.checkDrained();
    if (this.backlogged) this.checkBacklog();
  }

  /** After calls left the queue or the waiters: once none is unstarted or waiting, onDrain is due. */
  private checkBacklog(): void {
    if (this.unstarted !== 0 || this.waiting !== 0) return;
    this.backlogged = false;
    if (this.onDrain === undefined || this.drainQueued) return;
    this.drainQueued = true;
    queueMicrotask(this.drained);
  }

  private readonly drained = (): void => {
    this.drainQueued = false;
    // Refilled meanwhile: the drain is reported when it empties again.
    if (this.unstarted !== 0 || this.waiting !== 0) return;
    this.onDrain?.();
  };

  /**
   * Takes a task back for its caller: out of the waiters or the queue, or, when dispatched,
   * asks the backend to cancel it (its slot stays taken until the backend settles it).
   * Returns false when the caller already had the task's outcome. Delivers nothing.
   */
  withdraw(task: Task): boolean {
    switch (task.state) {
      case WAITING:
        task.state = DONE;
        this.waiting--;
        break;
      case QUEUED:
        task.state = DONE;
        this.queued--;
        this.cancelled++;
        break;
      case RUNNING:
        task.state = WITHDRAWN;
        this.cancelled++;
        this.backend.cancel(task);
        return true;
      default:
        return false;
    }
    if (this.queue.length > 2 * this.queued + 64) this.queue.retain(isQueued);
    if (this.waiters.length > 2 * this.waiting + 64) this.waiters.retain(isWaiting);
    this.pump();
    this.checkDrained();
    if (this.backlogged) this.checkBacklog();
    return true;
  }

  /** Ends a task early with `error` (its signal fired, its timeout passed, terminate()). */
  abortTask(task: Task, error: Error): void {
    if (this.withdraw(task)) task.deliver(false, error);
  }

  jobEnded(job: Job): void {
    this.jobs.delete(job);
    this.checkDrained();
  }

  close(): void {
    if (this.state !== 'open') return;
    this.state = 'closed';
    if (this.closeTimeout !== undefined) {
      // Referenced: join() may be all that is left to keep the process alive for. It bounds the
      // backend's own close too (a worker whose initializer never returns), so it is cleared
      // only once join() has settled.
      this.closeTimer = setTimeout(this.closeTimedOut, this.closeTimeout);
      const stop = (): void => clearTimeout(this.closeTimer);
      this.joined.then(stop, stop);
    }
    this.checkDrained();
  }

  private readonly closeTimedOut = (): void => {
    this.closeTimer = undefined;
    if (this.state !== 'closed') return;
    const ms = this.closeTimeout;
    this.terminateWith(() => new AbortError(`the pool was closed with closeTimeout ${ms} ms, and this call had not finished by then`)).catch(() => {
      // join() reports a backend that failed to stop; nobody else waits on this promise.
    });
  };

  join(): Promise<void> {
    if (this.state === 'open') return Promise.reject(new PoolStateError('join() called before close() or terminate()'));
    return this.joined;
  }

  /**
   * Every call not yet answered rejects with an AbortError now; resolves once the backend
   * has stopped everything it ran.
   */
  terminate(): Promise<void> {
    return this.terminateWith(() => new AbortError('the pool was terminated'));
  }

  /** terminate(), with `error` making each unsettled call's error. */
  private terminateWith(error: () => AbortError): Promise<void> {
    if (this.terminated !== undefined) return this.terminated;
    this.state = 'terminated';
    clearTimeout(this.closeTimer);
    this.closeTimer = undefined;
    // Jobs first: each withdraws its own chunks, so the sweeps below meet standalone tasks only.
    for (const job of Array.from(this.jobs)) job.abort(error());
    for (let task = this.waiters.shift(); task !== undefined; task = this.waiters.shift()) this.abortTask(task, error());
    for (let task = this.queue.shift(); task !== undefined; task = this.queue.shift()) this.abortTask(task, error());
    // Collected first: cancelling one task may settle others at once (a backend answers a task it
    // never started straight away), which unlinks them and would cut a walk of the live list short.
    const running: Task[] = [];
    for (let task = this.dispatched; task !== undefined; task = task.next) running.push(task);
    for (const task of running) if (task.state === RUNNING) this.abortTask(task, error());
    for (const resolve of this.backend.withdrawPlain?.() ?? []) {
      this.cancelled++;
      settleByResolve(resolve, false, error());
    }
    this.terminated = this.backend.terminate().then(this.resolveJoined, (failure: unknown) => {
      this.rejectJoined(failure);
      throw failure;
    });
    return this.terminated;
  }

  /** Fills free backend slots from the queue, then free queue room from the waiters. */
  private pump(): void {
    for (;;) {
      // Checked each turn: a task dispatched below may settle at once and run a callback that
      // terminates the pool, and then nothing more may go to the backend.
      if (this.state === 'terminated') return;
      if (this.queued > 0 && this.running < this.capacity) {
        if (this.queue.headIsPlain()) {
          const call = this.queue.takeHead();
          this.queued--;
          this.runPlain(call.kernel, call.resolve, call.argc, call.a0, call.a1, call.acceptedAt);
          continue;
        }
        const task = this.queue.shift()!;
        if (task.state !== QUEUED) continue;
        this.queued--;
        this.dispatch(task);
      } else if (this.waiting > 0 && this.hasRoom()) {
        if (this.waiters.headIsPlain()) {
          // Admitted as its parts; a plain call has nobody to tell (no submit() waits on it).
          this.waiters.moveHeadTo(this.queue, this.times.clock());
          this.waiting--;
          this.submitted++;
          this.queued++;
          continue;
        }
        const task = this.waiters.shift()!;
        if (task.state !== WAITING) continue;
        this.waiting--;
        this.submitted++;
        task.acceptedAt = this.times.clock();
        task.state = QUEUED;
        this.queue.push(task);
        this.queued++;
        task.admitted();
      } else {
        return;
      }
    }
  }

  /** Starts a plain call: on the backend's plain lane if it has one for this kernel, else as a CallTask. */
  private runPlain(kernel: Runnable, resolve: (value: unknown) => void, argc: number, a0: number, a1: number, acceptedAt: number): void {
    if (this.backend.dispatchPlain?.(kernel, resolve, argc, a0, a1, acceptedAt, this) === true) {
      this.running++;
      return;
    }
    this.dispatch(this.plainTask(kernel, resolve, argc, a0, a1, acceptedAt));
  }

  /** The CallTask of a plain call: one leaving a backlog as a Task (terminate), or one a backend without the plain lane runs. */
  private plainTask(kernel: Runnable, resolve: (value: unknown) => void, argc: number, a0: number, a1: number, acceptedAt: number, state = WAITING): CallTask {
    const task = new CallTask(this, this.nextId++, kernel, undefined, argc > 0 ? a0 : undefined, argc > 1 ? a1 : undefined);
    task.resolveFn = resolve;
    task.acceptedAt = acceptedAt;
    task.state = state;
    return task;
  }

  private dispatch(task: Task): void {
    task.state = RUNNING;
    task.next = this.dispatched;
    if (this.dispatched !== undefined) this.dispatched.prev = task;
    this.dispatched = task;
    this.running++;
    try {
      this.backend.dispatch(task);
    } catch (error) {
      this.dispatchFailed(task, error);
    }
  }

  /**
   * The backend broke its contract (dispatch must not throw). Settle the task with the error,
   * asynchronously like every outcome, rather than lose it. A method of its own so that
   * dispatch() creates no closure, whose captured variables would cost an allocation per call.
   */
  private dispatchFailed(task: Task, error: unknown): void {
    queueMicrotask(() => this.settled(task, Outcome.Error, error));
  }

  private unlink(task: Task): void {
    if (task.prev !== undefined) task.prev.next = task.next;
    else this.dispatched = task.next;
    if (task.next !== undefined) task.next.prev = task.prev;
    task.prev = undefined;
    task.next = undefined;
  }

  /** After close(): once nothing is left to run, close the backend and resolve join(). */
  private checkDrained(): void {
    if (this.state !== 'closed' || this.closing) return;
    if (this.running + this.queued + this.waiting + this.jobs.size !== 0) return;
    this.closing = true;
    this.backend.close().then(this.resolveJoined, this.rejectJoined);
  }
}
