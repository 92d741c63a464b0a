// Tasks: the units of dispatch. A Task is the Dispatch the backend holds and the record the
// pool keeps, so the hot path allocates one object per task plus its promise, and no closures.
// CallTask is a call of its own (apply, applyAsync, submit); ChunkTask is one chunk of a map or
// imap call, which answers to that call rather than to a user.
//
// Who settles what: the backend calls settle() exactly once per dispatched task; the scheduler
// decides whether that outcome still reaches the caller (it does not once the caller was
// already answered by an abort, a timeout or terminate()). deliver() is the only way an
// outcome reaches the caller, and the scheduler calls it at most once per task.
//
// A burst of apply() calls keeps every waiting task alive until it runs, and V8's scavenger
// copies each live object it meets, so a task's size is paid for again at every young-generation
// collection: keep these objects small and their fields fixed (every field is initialized in
// the constructor, so all instances of a class share one hidden class).

import type { TransferListItem } from 'node:worker_threads';
import type { Dispatch, Outcome } from '../backends/backend.js';
import type { Runnable } from '../kernels/types.js';
import type { SharedCounter } from '../shared/counter.js';
import { settleResult, type AsyncResult } from '../async-result.js';
import type { Scheduler } from './scheduler.js';
import { promiseFor, type Resolvers } from './deferred.js';
import { unwatch, type Watched } from './watch.js';

// Where a task is. Only the Scheduler changes it.
/** In the scheduler's waiters, waiting for room in the queue; not yet accepted. */
export const WAITING = 0;
/** Accepted, in the scheduler's queue. */
export const QUEUED = 1;
/** Dispatched; the backend owes one settle() and the caller is owed an outcome. */
export const RUNNING = 2;
/** Dispatched, but the caller already has its outcome; the backend still owes settle(). */
export const WITHDRAWN = 3;
/** Finished on both sides. Waiting or queued tasks end here directly when withdrawn. */
export const DONE = 4;

export abstract class Task implements Dispatch {
  backendSlot: unknown = undefined;
  /** apply/applyAsync/submit's `transfer` option; chunks never transfer. */
  transfer: readonly TransferListItem[] | undefined = undefined;
  state = WAITING;
  /** The scheduler's list of dispatched tasks (RUNNING or WITHDRAWN), for terminate(). */
  prev: Task | undefined = undefined;
  next: Task | undefined = undefined;

  constructor(
    readonly scheduler: Scheduler,
    readonly id: number,
    readonly kernel: Runnable,
    readonly progress: SharedCounter | undefined,
  ) {}

  abstract get batch(): boolean;
  /** Dispatch.args: the one call's arguments; undefined for a chunk. */
  abstract readonly args: readonly unknown[] | undefined;
  /** Dispatch.calls: the argument tuples. */
  abstract readonly calls: readonly (readonly unknown[])[];

  /** Dispatch.settle: the backend's one report for this task. */
  settle(outcome: Outcome, value: unknown): void {
    this.scheduler.settled(this, outcome, value);
  }

  /** Hands the outcome to the caller. */
  abstract deliver(ok: boolean, value: unknown): void;

  /** The task had to wait and is now accepted (queued). Must not run user code. */
  abstract admitted(): void;
}

/** submit()'s own promise, while its task waits for room: it resolves with the AsyncResult once the task is accepted. */
export class Submitter implements Resolvers {
  resolveFn: ((result: AsyncResult<any>) => void) | undefined = undefined;
  rejectFn: ((error: unknown) => void) | undefined = undefined;

  /** A new Submitter on `task`, and the promise submit() returns. */
  static attach(task: CallTask): Promise<AsyncResult<any>> {
    const submitter = new Submitter();
    task.submitter = submitter;
    return promiseFor(submitter);
  }
}

/** apply, applyAsync, submit: one call, answered through an AsyncResult or a promise. */
export class CallTask extends Task implements Watched, Resolvers {
  // The caller's side: an AsyncResult (applyAsync, submit) or a promise's resolvers (apply).
  result: AsyncResult<any> | undefined = undefined;
  resolveFn: ((value: unknown) => void) | undefined = undefined;
  rejectFn: ((error: unknown) => void) | undefined = undefined;
  /** Set while a submit() call's task waits for room. */
  submitter: Submitter | undefined = undefined;
  signal: AbortSignal | undefined = undefined;
  timer: NodeJS.Timeout | undefined = undefined;
  timeout = 0;

  constructor(
    scheduler: Scheduler,
    id: number,
    kernel: Runnable,
    /** The validated arguments, held as they are: no wrapper array per call. */
    readonly args: readonly unknown[],
    progress: SharedCounter | undefined,
  ) {
    super(scheduler, id, kernel, progress);
  }

  /** Built on each read (the worker backend and tests use it); the native fast path reads `args`. */
  get calls(): readonly (readonly unknown[])[] {
    return [this.args];
  }

  override get batch(): boolean {
    return false;
  }

  /** Watched.abort: the task's signal fired or its timeout passed. */
  abort(error: Error): void {
    this.scheduler.abortTask(this, error);
  }

  override deliver(ok: boolean, value: unknown): void {
    unwatch(this);
    if (this.submitter !== undefined) {
      // Still waiting for room: submit() never handed out the AsyncResult, so it rejects.
      const submitter = this.submitter;
      this.submitter = undefined;
      submitter.rejectFn!(value);
    } else if (this.result !== undefined) {
      settleResult(this.result, ok, value);
    } else if (ok) {
      this.resolveFn!(value);
    } else {
      this.rejectFn!(value);
    }
  }

  override admitted(): void {
    const submitter = this.submitter;
    if (submitter === undefined) return;
    this.submitter = undefined;
    submitter.resolveFn!(this.result!);
  }
}

/** The map or imap call a chunk belongs to. */
export interface ChunkOwner {
  /** The chunk's outcome. Never called for a chunk its owner withdrew. */
  chunkSettled(chunk: ChunkTask, ok: boolean, value: unknown): void;
  /** The chunk, which had to wait, is now accepted. */
  chunkAdmitted(chunk: ChunkTask): void;
}

/** One chunk of a map or imap: a batch of calls whose outcome goes to its owner. */
export class ChunkTask extends Task {
  readonly args = undefined;
  /** An imap chunk's outcome, kept until the consumer reads it. */
  ok = false;
  value: unknown = undefined;

  constructor(
    scheduler: Scheduler,
    id: number,
    kernel: Runnable,
    readonly calls: readonly (readonly unknown[])[],
    progress: SharedCounter | undefined,
    readonly owner: ChunkOwner,
    /** The chunk's position among its owner's chunks. */
    readonly index: number,
  ) {
    super(scheduler, id, kernel, progress);
  }

  override get batch(): boolean {
    return true;
  }

  override deliver(ok: boolean, value: unknown): void {
    this.owner.chunkSettled(this, ok, value);
  }

  override admitted(): void {
    this.owner.chunkAdmitted(this);
  }
}
