// MapJob: one map/starmap call. Its validated argument tuples are cut into chunks, each chunk
// one batch Task, submitted in input order through the same admission as every other task:
// at most one chunk waits for room at a time, queued behind earlier waiters.
//
// Outcome: the results in input order, or the error of the first failing chunk in input order
// (so the error a map reports does not depend on timing). When chunk k fails, chunks after k
// are withdrawn at once and no more are submitted; the map rejects as soon as every chunk
// before k has settled, since one of them may fail too and come first.

import type { AsyncResult } from '../async-result.js';
import { settleResult } from '../async-result.js';
import type { Runnable } from '../kernels/types.js';
import type { SharedCounter } from '../shared/counter.js';
import type { Job, Scheduler } from './scheduler.js';
import type { ChunkOwner, ChunkTask } from './task.js';
import { unwatch, type Watched } from './watch.js';

export class MapJob implements Job, ChunkOwner, Watched {
  signal: AbortSignal | undefined = undefined;
  timer: NodeJS.Timeout | undefined = undefined;
  timeout = 0;

  // The caller's side: an AsyncResult (mapAsync) or a promise's resolvers (map).
  result: AsyncResult<any> | undefined = undefined;
  resolveFn: ((value: unknown) => void) | undefined = undefined;
  rejectFn: ((error: unknown) => void) | undefined = undefined;

  private readonly chunkCount: number;
  private readonly results: unknown[];
  /** Chunks created (accepted or waiting) so far: chunks [0, created) in input order. */
  private created = 0;
  /** Created chunks that have not settled; chunks[i] is set exactly for those. */
  private unsettled = 0;
  private readonly chunks: (ChunkTask | undefined)[];
  /** The lowest index of a chunk known to have failed, and its error. */
  private failedAt = Infinity;
  private failure: unknown = undefined;
  private finished = false;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly kernel: Runnable,
    private readonly calls: readonly (readonly unknown[])[],
    private readonly chunkSize: number,
    private readonly progress: SharedCounter | undefined,
    /** ChunkOwner.attempts: the map's `attempts` option. */
    readonly attempts: number | undefined = undefined,
  ) {
    this.chunkCount = Math.ceil(calls.length / chunkSize);
    this.chunks = new Array<ChunkTask | undefined>(this.chunkCount);
    this.results = new Array<unknown>(calls.length);
  }

  /**
   * Submits the first chunk, then as many more as fit. Returns false, having accepted
   * nothing, when the first chunk finds no room and `rejectWhenFull`. Needs calls.length > 0.
   */
  start(rejectWhenFull: boolean): boolean {
    const first = this.createChunk();
    const accepted = this.scheduler.tryAccept(first);
    if (!accepted && rejectWhenFull) return false;
    this.scheduler.jobs.add(this);
    if (accepted) this.submitMore();
    else this.scheduler.wait(first);
    return true;
  }

  chunkAdmitted(): void {
    this.submitMore();
  }

  chunkSettled(task: ChunkTask, ok: boolean, value: unknown): void {
    this.chunks[task.index] = undefined;
    this.unsettled--;
    if (ok) {
      const values = value as unknown[];
      const base = task.index * this.chunkSize;
      for (let i = 0; i < values.length; i++) this.results[base + i] = values[i];
    } else if (task.index < this.failedAt) {
      this.failedAt = task.index;
      this.failure = value;
      // Nothing after the failure will be used.
      for (let i = this.created - 1; i > task.index; i--) this.withdrawChunk(i);
    }
    if (this.unsettled === 0 && (this.failedAt !== Infinity || this.created === this.chunkCount)) {
      if (this.failedAt === Infinity) this.finish(true, this.results);
      else this.finish(false, this.failure);
    }
  }

  /** Watched.abort and Job.abort: a signal, the timeout, or terminate(). */
  abort(error: Error): void {
    if (this.finished) return;
    // Newest first: the chunk that is waiting for room goes before it could be admitted.
    for (let i = this.created - 1; i >= 0; i--) this.withdrawChunk(i);
    this.finish(false, error);
  }

  private submitMore(): void {
    while (!this.finished && this.failedAt === Infinity && this.created < this.chunkCount) {
      const chunk = this.createChunk();
      if (!this.scheduler.tryAccept(chunk)) {
        this.scheduler.wait(chunk);
        return;
      }
    }
  }

  private createChunk(): ChunkTask {
    const index = this.created++;
    const from = index * this.chunkSize;
    const task = this.scheduler.newChunk(this.kernel, this.calls.slice(from, from + this.chunkSize), this.progress, this, index, from);
    this.chunks[index] = task;
    this.unsettled++;
    return task;
  }

  private withdrawChunk(index: number): void {
    const task = this.chunks[index];
    if (task === undefined) return;
    this.chunks[index] = undefined;
    this.unsettled--;
    this.scheduler.withdraw(task);
  }

  private finish(ok: boolean, value: unknown): void {
    this.finished = true;
    unwatch(this);
    this.scheduler.jobEnded(this);
    if (this.result !== undefined) settleResult(this.result, ok, value);
    else if (ok) this.resolveFn!(value);
    else this.rejectFn!(value);
  }
}
