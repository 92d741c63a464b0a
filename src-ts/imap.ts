// The lazy map family: imap, imapUnordered, istarmap, istarmapUnordered.
//
// Bounded: the iterator pulls items from its source only while fewer than `window` chunks are
// outstanding (submitted and unsettled, or settled and not yet read), so memory stays bounded
// however long the source is and however slow the consumer. At most one of its chunks waits
// for room in the pool at a time; pulling pauses meanwhile.
//
// Order of outcomes. Ordered: chunk by chunk in source order. Unordered: chunks in the order
// they settle. A chunk that fails ends the iteration at its place in that order; chunks that
// would come after it are withdrawn at once. A bad item, or a source that throws, stops the
// pulling: the items before it are still submitted and yielded, then the error is thrown.
// An abort (signal, timeout, terminate()) throws at once, dropping unread results.
//
// The source is touched only from the pull loop, which runs in a microtask (never inside
// the scheduler or a backend's completion), and at most one pull is in progress at a time.
// An iterator holds the pool (join() waits for it) until its source is finished or closed and
// none of its chunks is in flight: consume it, or break out of the loop (return()).

import type { Runnable } from './kernels/types.js';
import type { SharedCounter } from './shared/counter.js';
import { closeQuietly, inputName, itemArgs } from './internal/items.js';
import { Ring } from './internal/ring.js';
import type { Job, Scheduler } from './internal/scheduler.js';
import type { ChunkOwner, ChunkTask } from './internal/task.js';
import { unwatch, type Watched } from './internal/watch.js';

const NOT_READY = Symbol('not ready');
const END: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

// The source iterator's state.
const OPEN = 0;
/** It said done, or threw: nothing to close. */
const FINISHED = 1;
/** We called its return(). */
const CLOSED = 2;

interface Request<R> {
  resolve(result: IteratorResult<R>): void;
  reject(error: unknown): void;
}

export interface ImapSettings {
  method: string;
  kernel: Runnable;
  /** istarmap*: each item is an argument tuple. imap*: each item is the one argument. */
  spread: boolean;
  ordered: boolean;
  chunkSize: number;
  window: number;
  progress: SharedCounter | undefined;
  /** The `attempts` option (queue backend), for every chunk. */
  attempts: number | undefined;
}

/** Items a synchronous source gives in one turn of the event loop, at most (see pull()). */
const PULL_TURN_ITEMS = 65_536;

function isPromiseLike(v: unknown): v is PromiseLike<unknown> {
  return typeof (v as PromiseLike<unknown> | null)?.then === 'function';
}

export class ImapIterator<R> implements AsyncIterableIterator<R>, Job, ChunkOwner, Watched {
  signal: AbortSignal | undefined = undefined;
  timer: NodeJS.Timeout | undefined = undefined;
  timeout = 0;

  /**
   * Ordered: every chunk submitted and not yet read, in source order (settled or not).
   * Unordered: settled chunks not yet read, in the order they settled.
   */
  private readonly chunks = new Ring<ChunkTask>();
  /** Chunks submitted (waiting, queued or dispatched) and not yet settled. */
  private readonly live = new Set<ChunkTask>();
  /** The chunk that waits for room in the pool; no pulling until it is accepted. */
  private blocked: ChunkTask | undefined = undefined;
  /** The results of the chunk being read, and the next one to hand out. */
  private values: unknown[] | undefined = undefined;
  private valueIndex = 0;
  /** Argument tuples pulled for the next chunk. */
  private building: unknown[][] = [];
  /** The position of building[0] among the source's items. */
  private buildingFirst = 0;
  private nextChunkIndex = 0;
  private itemCount = 0;

  private sourceState = OPEN;
  /** Set when the source must not be pulled again; it is closed once no pull is in progress. */
  private stopPulling = false;
  /** A pull is scheduled or in progress (maybe awaiting the source). */
  private pulling = false;
  /** The source's next() returned a promise that has not settled yet. */
  private awaitingStep = false;

  /** A bad item or source error: thrown after everything pulled before it was read. */
  private failure: { error: unknown } | undefined = undefined;
  /** An abort: thrown at the next read, ahead of anything unread. */
  private aborted: { error: unknown } | undefined = undefined;
  /** The consumer has seen the end: done, an error, or return(). */
  private done = false;
  /** jobEnded() was called: this iterator no longer holds the pool. */
  private released = false;
  /** next() calls waiting for a value, in call order. */
  private readonly requests = new Ring<Request<R>>();

  constructor(
    private readonly scheduler: Scheduler,
    private readonly source: Iterator<unknown> | AsyncIterator<unknown>,
    private readonly settings: ImapSettings,
  ) {
    scheduler.jobs.add(this);
    this.requestPull();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<R>> {
    if (this.requests.length === 0) {
      try {
        const result = this.take();
        if (result !== NOT_READY) return Promise.resolve(result);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return new Promise<IteratorResult<R>>((resolve, reject) => this.requests.push({ resolve, reject }));
  }

  /** The consumer stops early (`break` in for await): withdraw the chunks, close the source. */
  return(): Promise<IteratorResult<R>> {
    if (!this.done) this.finish();
    this.serve();
    return Promise.resolve(END);
  }

  /** Job.abort and Watched.abort: a signal, the timeout, or terminate(). */
  abort(error: Error): void {
    if (this.done || this.aborted !== undefined) return;
    this.aborted = { error };
    this.withdrawAll();
    this.stopSource();
    this.serve();
  }

  /** ChunkOwner.attempts. */
  get attempts(): number | undefined {
    return this.settings.attempts;
  }

  chunkAdmitted(): void {
    this.blocked = undefined;
    this.requestPull();
  }

  chunkSettled(task: ChunkTask, ok: boolean, value: unknown): void {
    this.live.delete(task);
    task.ok = ok;
    task.value = value;
    if (!this.settings.ordered) this.chunks.push(task);
    if (!ok) {
      // Chunks that would be read after this one never will be.
      this.stopSource();
      for (const other of Array.from(this.live)) {
        if (!this.settings.ordered || other.index > task.index) this.withdraw(other);
      }
    }
    this.serve();
  }

  /** The next value, the end, or NOT_READY; throws the error the consumer must see next. */
  private take(): IteratorResult<R> | typeof NOT_READY {
    if (this.done) return END;
    if (this.aborted !== undefined) return this.fail(this.aborted.error);
    if (this.values === undefined) {
      const chunk = this.chunks.peek();
      if (chunk !== undefined) {
        if (this.live.has(chunk)) return NOT_READY;
        this.chunks.shift();
        this.requestPull(); // a window slot is free
        if (!chunk.ok) return this.fail(chunk.value);
        this.values = chunk.value as unknown[];
        this.valueIndex = 0;
        chunk.value = undefined;
      } else if (this.live.size > 0) {
        return NOT_READY;
      } else if (this.failure !== undefined) {
        return this.fail(this.failure.error);
      } else if (this.sourceState !== OPEN && !this.pulling && this.building.length === 0) {
        this.finish();
        return END;
      } else {
        return NOT_READY;
      }
    }
    const value = this.values[this.valueIndex++] as R;
    if (this.valueIndex === this.values.length) this.values = undefined;
    return { done: false, value };
  }

  private fail(error: unknown): never {
    this.finish();
    throw error;
  }

  /** Answers waiting next() calls with whatever is ready. */
  private serve(): void {
    while (this.requests.length > 0) {
      let result: IteratorResult<R> | typeof NOT_READY;
      try {
        result = this.take();
      } catch (error) {
        this.requests.shift()!.reject(error);
        continue;
      }
      if (result === NOT_READY) break;
      this.requests.shift()!.resolve(result);
    }
    this.releaseIfIdle();
  }

  private finish(): void {
    this.done = true;
    unwatch(this);
    this.withdrawAll();
    this.chunks.retain(() => false);
    this.values = undefined;
    this.building = [];
    this.stopSource();
    this.releaseIfIdle();
  }

  private withdrawAll(): void {
    // The waiting chunk first, so that withdrawing the others cannot make room for it.
    if (this.blocked !== undefined) this.withdraw(this.blocked);
    for (const task of Array.from(this.live)) this.withdraw(task);
  }

  private withdraw(task: ChunkTask): void {
    this.live.delete(task);
    if (this.blocked === task) this.blocked = undefined;
    this.scheduler.withdraw(task);
  }

  private releaseIfIdle(): void {
    if (this.released || this.pulling || this.sourceState === OPEN || this.live.size > 0) return;
    this.released = true;
    this.scheduler.jobEnded(this);
  }

  // ---- pulling from the source ----

  private requestPull(): void {
    if (this.pulling || this.stopPulling || this.sourceState !== OPEN) return;
    this.schedulePull();
  }

  private schedulePull(): void {
    this.pulling = true;
    queueMicrotask(this.runPull);
  }

  private readonly runPull = (): void => this.pull();

  /**
   * Pulls and submits while the window has room. `pulling` is true on entry. A synchronous
   * source is pulled at most PULL_TURN_ITEMS at a time before the loop goes on in a later turn
   * of the event loop: filling a huge chunk from an endless generator froze the process, its
   * timeout and signal with it.
   */
  private pull(): void {
    const { window } = this.settings;
    let pulled = 0;
    while (!this.stopPulling && this.sourceState === OPEN && this.blocked === undefined) {
      if (++pulled > PULL_TURN_ITEMS) {
        setImmediate(this.runPull);
        return;
      }
      const outstanding = this.chunks.length + (this.settings.ordered ? 0 : this.live.size);
      if (this.building.length === 0 && outstanding >= window) break;
      let step: IteratorResult<unknown> | Promise<IteratorResult<unknown>>;
      let later: boolean;
      try {
        step = this.source.next();
        later = isPromiseLike(step); // reads `then`: the source's code
      } catch (error) {
        this.sourceFailed(error);
        break;
      }
      if (later) {
        // `pulling` stays true until the source answers. Adopted by a promise of ours: a
        // thenable that calls back at once would otherwise recurse once per item, and one whose
        // `then` throws must fail the source, not this loop.
        this.awaitingStep = true;
        Promise.resolve(step).then(this.onStep, this.onStepError);
        return;
      }
      this.accept(step as IteratorResult<unknown>);
    }
    this.pullEnded();
  }

  private readonly onStep = (step: IteratorResult<unknown>): void => {
    if (!this.awaitingStep) return; // abandoned by stopSource(): the iterator is done with the source
    this.awaitingStep = false;
    if (this.stopPulling) {
      this.pullEnded();
      return;
    }
    this.accept(step);
    this.pull();
  };

  private readonly onStepError = (error: unknown): void => {
    if (!this.awaitingStep) return; // abandoned by stopSource()
    this.awaitingStep = false;
    this.sourceFailed(error);
    this.pullEnded();
  };

  private pullEnded(): void {
    this.pulling = false;
    if (this.stopPulling) this.closeSource();
    this.serve();
  }

  /** One step of the source: an item to validate and add to the chunk being built, or the end. */
  private accept(step: IteratorResult<unknown>): void {
    if (typeof step !== 'object' || step === null) {
      this.sourceFailed(new TypeError(`${this.settings.method}: the source iterator's next() returned a non-object`));
      return;
    }
    // The step's own getters are the source's code: what they throw fails the source.
    let done: unknown;
    let value: unknown;
    try {
      done = step.done;
      if (!done) value = step.value;
    } catch (error) {
      this.sourceFailed(error);
      return;
    }
    if (done) {
      this.sourceState = FINISHED;
      this.submitBuilding();
      return;
    }
    const { method, kernel, spread, chunkSize } = this.settings;
    let args: unknown[];
    const position = this.itemCount++;
    try {
      args = itemArgs(method, kernel, value, position, spread);
      // Arguments the backend cannot carry (the queue's codec) fail the imap at their item.
      this.scheduler.backend.checkArgs?.(`${method}: ${inputName(spread)}[${position}]`, kernel, args);
    } catch (error) {
      this.submitBuilding();
      this.failure = { error };
      this.stopSource();
      return;
    }
    if (this.building.length === 0) this.buildingFirst = position;
    this.building.push(args);
    if (this.building.length === chunkSize) this.submitBuilding();
  }

  private sourceFailed(error: unknown): void {
    this.sourceState = FINISHED;
    this.submitBuilding();
    this.failure = { error };
  }

  private submitBuilding(): void {
    if (this.building.length === 0 || this.done || this.aborted !== undefined) return;
    const { kernel, progress } = this.settings;
    const task = this.scheduler.newChunk(kernel, this.building, progress, this, this.nextChunkIndex++, this.buildingFirst);
    this.building = [];
    this.live.add(task);
    if (this.settings.ordered) this.chunks.push(task);
    if (!this.scheduler.tryAccept(task)) {
      this.scheduler.wait(task);
      this.blocked = task;
    }
  }

  /**
   * No more pulls. The source is closed by the pull loop, so never from inside the scheduler;
   * but while the source has not answered a next() (an async source that has nothing yet: an
   * events.on() iterator, a socket), it may never answer, so its return() is called in a
   * microtask rather than when it answers (such sources answer a pending next() on return()),
   * and the pending step is abandoned there: its answer, if it ever comes, is ignored, and the
   * pool is not held for it (an async generator suspended in an await queues return() behind
   * that await, and join() waited for ever).
   */
  private stopSource(): void {
    if (this.stopPulling) return;
    this.stopPulling = true;
    if (this.awaitingStep) queueMicrotask(this.abandonStep);
    else if (!this.pulling && this.sourceState === OPEN) this.schedulePull();
  }

  private readonly abandonStep = (): void => {
    this.closeSource();
    if (!this.awaitingStep) return; // it answered meanwhile, and pullEnded() ran
    this.awaitingStep = false;
    this.pullEnded();
  };

  /** Calls the source's return() if it may still yield. Its errors are not the consumer's concern. */
  private closeSource(): void {
    if (this.sourceState !== OPEN) return;
    this.sourceState = CLOSED;
    closeQuietly(this.source);
  }
}
