// Tasks: the units of dispatch. A Task is the Dispatch the backend holds and the record the
// pool keeps, so a call allocates one object plus its promise, and no closures. (A plain
// apply() gets none at all on a backend with the plain lane: see scheduler.ts.)
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
import { promiseFor, settleByResolve, type Resolver, type Resolvers } from './deferred.js';
import { unwatch, watch, type Watched } from './watch.js';

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
  state = WAITING;
  /** Dispatch.acceptedAt: set by the scheduler when it accepts the task. */
  acceptedAt = 0;
  /** The scheduler's list of dispatched tasks (RUNNING or WITHDRAWN), for terminate(). */
  prev: Task | undefined = undefined;
  next: Task | undefined = undefined;

  constructor(
    readonly scheduler: Scheduler,
    readonly id: number,
    readonly kernel: Runnable,
  ) {}

  /** Dispatch.progress: the counter kernels add their work done to. */
  abstract readonly progress: SharedCounter | undefined;

  abstract get batch(): boolean;
  /** Dispatch.args: the one call's arguments; undefined for a chunk. */
  abstract readonly args: readonly unknown[] | undefined;
  /** Dispatch.calls: the argument tuples. */
  abstract readonly calls: readonly (readonly unknown[])[];
  /** Dispatch.numberArgs/arg0/arg1: a call's arguments when they are at most two numbers. */
  abstract readonly numberArgs: number;
  abstract readonly arg0: number | undefined;
  abstract readonly arg1: number | undefined;
  /** apply/applyAsync/submit's `transfer` option; chunks never transfer. */
  abstract readonly transfer: readonly TransferListItem[] | undefined;

  /** Dispatch.settle: the backend's one report for this task. */
  settle(outcome: Outcome, value: unknown): void {
    this.scheduler.settled(this, outcome, value);
  }

  /** Dispatch.timed: where and for how long the task ran, for stats(). */
  timed(startedAt: number, runMs: number): void {
    this.scheduler.times.record(this.acceptedAt, startedAt, runMs);
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
    task.withExtras().submitter = submitter;
    return promiseFor(submitter);
  }
}

/**
 * What few calls use, kept off the task so that the many calls without it stay small: the
 * watch state of a signal or a timeout, the worker `transfer` list, and a waiting submit()'s
 * own promise. Allocated on first use.
 */
export class CallExtras implements Watched {
  signal: AbortSignal | undefined = undefined;
  timer: NodeJS.Timeout | undefined = undefined;
  timeout = 0;
  transfer: readonly TransferListItem[] | undefined = undefined;
  /** The call's `attempts` option (queue backend). */
  attempts: number | undefined = undefined;
  /** Set while a submit() call's task waits for room. */
  submitter: Submitter | undefined = undefined;
  progress: SharedCounter | undefined = undefined;

  constructor(readonly task: CallTask) {}

  /** Watched.abort: the task's signal fired or its timeout passed. */
  abort(error: Error): void {
    this.task.abort(error);
  }
}

/** How many numbers `args` is, when it is at most two numbers (held without an array); -1 otherwise. */
export function numberArgCount(args: readonly unknown[]): number {
  const n = args.length;
  return n <= 2 && (n < 1 || typeof args[0] === 'number') && (n < 2 || typeof args[1] === 'number') ? n : -1;
}

/** apply, applyAsync, submit: one call, answered through an AsyncResult or a promise. */
export class CallTask extends Task implements Resolver {
  /**
   * The caller's side, in one field: for apply its promise's resolve function only
   * (promiseResolvedBy; a failure resolves it with a Rejection), for applyAsync and submit the
   * AsyncResult.
   */
  private caller: AsyncResult<any> | ((value: unknown) => void) | undefined = undefined;
  extras: CallExtras | undefined = undefined;
  /**
   * The validated arguments: at most two numbers sit in a0/a1 (undefined past the last one)
   * and argv is undefined; any others stay in the validated array, argv.
   */
  private readonly argv: readonly unknown[] | undefined;
  readonly a0: number | undefined;
  readonly a1: number | undefined;

  /**
   * `argv` is the validated arguments, or undefined when they are the numbers a0, a1 (undefined
   * past the last one); see numberArgCount().
   */
  constructor(scheduler: Scheduler, id: number, kernel: Runnable, argv: readonly unknown[] | undefined, a0: number | undefined, a1: number | undefined) {
    super(scheduler, id, kernel);
    this.argv = argv;
    this.a0 = a0;
    this.a1 = a1;
  }

  /** Dispatch.args; built on each read when the arguments are held as numbers. */
  get args(): readonly unknown[] {
    if (this.argv !== undefined) return this.argv;
    if (this.a0 === undefined) return [];
    return this.a1 === undefined ? [this.a0] : [this.a0, this.a1];
  }

  get numberArgs(): number {
    if (this.argv !== undefined) return -1;
    return this.a0 === undefined ? 0 : this.a1 === undefined ? 1 : 2;
  }

  get arg0(): number | undefined {
    return this.a0;
  }

  get arg1(): number | undefined {
    return this.a1;
  }

  /** Built on each read (the worker backend and tests use it); the native fast path reads the numbers. */
  get calls(): readonly (readonly unknown[])[] {
    return [this.args];
  }

  override get batch(): boolean {
    return false;
  }

  get transfer(): readonly TransferListItem[] | undefined {
    return this.extras?.transfer;
  }

  get attempts(): number | undefined {
    return this.extras?.attempts;
  }

  get progress(): SharedCounter | undefined {
    return this.extras?.progress;
  }

  /** Resolver.resolveFn: apply's promise resolves through it. */
  get resolveFn(): ((value: unknown) => void) | undefined {
    return typeof this.caller === 'function' ? this.caller : undefined;
  }
  set resolveFn(resolve: ((value: unknown) => void) | undefined) {
    this.caller = resolve;
  }

  /** The AsyncResult that applyAsync and submit hand out. */
  get result(): AsyncResult<any> | undefined {
    return typeof this.caller === 'function' ? undefined : this.caller;
  }
  set result(result: AsyncResult<any> | undefined) {
    this.caller = result;
  }

  /** The task's extras, allocated on first use. */
  withExtras(): CallExtras {
    return (this.extras ??= new CallExtras(this));
  }

  /** Arms the call's signal and timeout, when it has either (their state lives in its extras). */
  watch(signal: AbortSignal | undefined, timeout: number | undefined): void {
    if (signal !== undefined || timeout !== undefined) watch(this.withExtras(), signal, timeout);
  }

  /** The task's signal fired or its timeout passed. */
  abort(error: Error): void {
    this.scheduler.abortTask(this, error);
  }

  override deliver(ok: boolean, value: unknown): void {
    const extras = this.extras;
    if (extras !== undefined) {
      unwatch(extras);
      const submitter = extras.submitter;
      if (submitter !== undefined) {
        // Still waiting for room: submit() never handed out the AsyncResult, so it rejects.
        extras.submitter = undefined;
        submitter.rejectFn!(value);
        return;
      }
    }
    const caller = this.caller;
    if (typeof caller === 'function') settleByResolve(caller, ok, value);
    else if (caller !== undefined) settleResult(caller, ok, value);
  }

  override admitted(): void {
    const submitter = this.extras?.submitter;
    if (submitter === undefined) return;
    this.extras!.submitter = undefined;
    submitter.resolveFn!(this.result!);
  }
}

/** The map or imap call a chunk belongs to. */
export interface ChunkOwner {
  /** The chunk's outcome. Never called for a chunk its owner withdrew. */
  chunkSettled(chunk: ChunkTask, ok: boolean, value: unknown): void;
  /** The chunk, which had to wait, is now accepted. */
  chunkAdmitted(chunk: ChunkTask): void;
  /** The map's or imap's `attempts` option (queue backend), for each of its chunks. */
  readonly attempts: number | undefined;
}

/** One chunk of a map or imap: a batch of calls whose outcome goes to its owner. */
export class ChunkTask extends Task {
  readonly args = undefined;
  get numberArgs(): number {
    return -1;
  }
  get arg0(): undefined {
    return undefined;
  }
  get arg1(): undefined {
    return undefined;
  }
  get transfer(): undefined {
    return undefined;
  }
  get attempts(): number | undefined {
    return this.owner.attempts;
  }
  /** An imap chunk's outcome, kept until the consumer reads it. */
  ok = false;
  value: unknown = undefined;

  constructor(
    scheduler: Scheduler,
    id: number,
    kernel: Runnable,
    readonly calls: readonly (readonly unknown[])[],
    readonly progress: SharedCounter | undefined,
    readonly owner: ChunkOwner,
    /** The chunk's position among its owner's chunks. */
    readonly index: number,
    /** The position of its first call among its owner's items. */
    readonly firstItem: number,
  ) {
    super(scheduler, id, kernel);
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
