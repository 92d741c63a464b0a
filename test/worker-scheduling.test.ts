// The worker backend never leaves a task waiting behind a slow one while a worker is idle: what a
// worker holds is bounded by expected run time (an async task's wall time counts), and an idle
// worker takes back tasks posted to a busy one that have not started (issue #12 item 10). Taking
// back keeps exactly-once: a task runs once, or never if it was cancelled first; none is lost.
// Timings are asserted only against the slow task's own length, never as tight bounds.

import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { TimeoutError } from '../src-ts/errors.js';
import { kernels } from '../src-ts/kernels/index.js';
import { Pool } from '../src-ts/pool.js';
import { task } from '../src-ts/task.js';
import { useWorkerPools } from './support/worker-pools.js';

const tasks = new URL('./fixtures/tasks/replies.mjs', import.meta.url);
const t = (name: string) => task(tasks, name);

const workerPool = useWorkerPools();

/** A burst of tiny tasks first, so the pool has measured them and sends them in big batches. */
async function warm(pool: Pool): Promise<void> {
  for (let round = 0; round < 3; round++) await Promise.all(Array.from({ length: 2000 }, (_, i) => pool.apply(t('add'), [i, 1])));
}

/** Submits `slow`, then `n` tiny tasks behind it; returns when each settled, in ms from the start. */
async function behind(pool: Pool, slow: Promise<unknown>, n: number, start: number) {
  const slowDone = slow.then(() => performance.now() - start);
  const tiny = Array.from({ length: n }, (_, i) => pool.apply(t('add'), [i, 1]).then((value) => {
    expect(value).toBe(i + 1);
    return performance.now() - start;
  }));
  const waits = await Promise.all(tiny);
  return { slowMs: await slowDone, maxTinyMs: Math.max(...waits) };
}

describe('head-of-line blocking', () => {
  it('200 tiny tasks submitted behind a CPU-bound 2 s task on 2 workers all settle long before it ends', async () => {
    const pool = workerPool();
    await warm(pool);
    const start = performance.now();
    const { slowMs, maxTinyMs } = await behind(pool, pool.apply(t('spin'), [2000]), 200, start);
    expect(slowMs).toBeGreaterThanOrEqual(1900);
    expect(maxTinyMs).toBeLessThan(1000);
    expect(pool.stats()).toMatchObject({ completed: 6000 + 201, failed: 0, running: 0 });
  }, 20_000);

  it('20 tiny tasks behind an async 3 s sleep on 2 workers: its wall time counts, none waits for it', async () => {
    const pool = workerPool();
    await warm(pool);
    const start = performance.now();
    const { slowMs, maxTinyMs } = await behind(pool, pool.apply(t('sleep'), [3000]), 20, start);
    expect(slowMs).toBeGreaterThanOrEqual(2900);
    expect(maxTinyMs).toBeLessThan(1500);
  }, 20_000);

  it('tasks arriving while both workers are busy with slow tasks go to the first one that frees up', async () => {
    const pool = workerPool();
    await warm(pool);
    const start = performance.now();
    const long = pool.apply(t('spin'), [2500]);
    const short = pool.apply(t('sleep'), [300]);
    const { slowMs, maxTinyMs } = await behind(pool, long, 100, start);
    await short;
    expect(slowMs).toBeGreaterThanOrEqual(2400);
    expect(maxTinyMs).toBeLessThan(1500);
  }, 20_000);
});

describe('a task still arriving is not stuck', () => {
  it('a 256 MiB argument, slower to arrive than the tiny tasks before it took to run, is hashed where it was sent', async () => {
    const pool = workerPool({ size: 2 });
    await pool.apply(kernels.noop, [1]); // both workers up; the pool expects tasks of microseconds
    const big = Buffer.alloc(256 * 1024 * 1024, 1);
    const expected = createHash('sha256').update(big).digest('hex');
    const takenBefore = pool.stats().backendInfo.takenBack;
    const hashed = pool.apply(kernels.sha256, [big]);
    // Before: each worker, busy receiving the message, looked stuck, so the task was taken back
    // and posted to the other, again and again, and never started.
    const outcome = await Promise.race([hashed, new Promise((resolve) => setTimeout(resolve, 30_000, 'never started'))]);
    expect(outcome).toBe(expected);
    expect(pool.stats().backendInfo.takenBack).toBe(takenBefore);
  }, 60_000);
});

describe('taking back unstarted tasks keeps exactly-once', () => {
  it('a mix of tiny, CPU-bound and sleeping tasks, some cancelled, on 4 workers: each runs at most once, every uncancelled one exactly once', async () => {
    const pool = workerPool({ size: 4, cancelGrace: 50 });
    const n = 3000;
    const runs = new Int32Array(new SharedArrayBuffer(4 * n));
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const calls: Promise<unknown>[] = [];
    const cancelled = new Set<number>();
    for (let i = 0; i < n; i++) {
      const r = random();
      const [kind, ms] = r < 0.01 ? [1, 40 + random() * 60] : r < 0.03 ? [2, random() * 80] : r < 0.1 ? [1, random() * 2] : [0, 0];
      const timeout = random() < 0.03 ? 1 + random() * 30 : undefined;
      const call = pool.apply(t('mark'), [runs, i, kind, ms], timeout === undefined ? {} : { timeout });
      calls.push(call.then(
        (value) => expect(value, `task ${i}`).toBe(1),
        (error) => {
          expect(error, `task ${i}`).toBeInstanceOf(TimeoutError);
          cancelled.add(i);
        },
      ));
      if (i % 500 === 499) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await Promise.all(calls);
    for (let i = 0; i < n; i++) {
      if (cancelled.has(i)) expect(runs[i], `cancelled task ${i}`).toBeLessThanOrEqual(1);
      else expect(runs[i], `task ${i}`).toBe(1);
    }
    const stats = pool.stats();
    // A call that timed out before the pool accepted it counts nowhere.
    expect(stats.completed).toBe(n - cancelled.size);
    expect(stats.completed + stats.cancelled).toBe(stats.submitted);
    expect(stats.running).toBe(0);
    // Tasks a busy worker held were taken back and run elsewhere.
    expect(stats.backendInfo.takenBack).toBeGreaterThan(0);
  }, 60_000);

  it('map chunks taken back run once each; the map keeps input order', async () => {
    const pool = workerPool({ size: 3 });
    await warm(pool);
    const n = 600;
    const runs = new Int32Array(new SharedArrayBuffer(4 * n));
    const slow = pool.apply(t('spin'), [800]);
    const tuples = Array.from({ length: n }, (_, i) => [runs, i, i % 97 === 0 ? 5 : 0] as const);
    const results = await pool.starmap(t('markSync'), tuples, { chunkSize: 4 });
    expect(results).toEqual(Array.from({ length: n }, () => 1));
    await slow;
    expect(Array.from(runs)).toEqual(Array.from({ length: n }, () => 1));
  }, 20_000);

  it('workers slow to start keep their tasks: none is taken back from a starting worker, so recycling never churns', async () => {
    // A starting worker has not replied for a while but is not stuck in a task. Taking its tasks
    // retired it (maxTasksPerWorker) before it ran any, and its replacement met the same fate.
    const pool = workerPool({ size: 4, maxTasksPerWorker: 2, initializer: t('slowInit'), initArgs: [300] });
    const n = 32;
    const runs = new Int32Array(new SharedArrayBuffer(4 * n));
    const results = await Promise.all(Array.from({ length: n }, (_, i) => pool.apply(t('mark'), [runs, i, 0, 0])));
    expect(results).toEqual(Array.from({ length: n }, () => 1));
    // Each worker runs at most 2 tasks: 16 to run 32, plus the replacements started meanwhile.
    expect(pool.stats().backendInfo.workersStarted).toBeLessThanOrEqual(n / 2 + 4);
  }, 30_000);
});

