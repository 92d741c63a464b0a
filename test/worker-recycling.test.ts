// The worker backend keeps `size` a hard bound while it replaces workers (issue #12, chaos test
// findings): a worker recycled by maxTasksPerWorker is replaced only once it has exited, as
// Python's maxtasksperchild does, so workers alive (starting, working, retiring) and tasks
// running at once never exceed `size`; a worker that dies before it is ready counts as a failed
// start even when it was handed its last task; and a worker that cannot be started at all
// (`new Worker` throws) is a failed start too, never an exception out of an event handler.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { WorkerCrashError } from '../src-ts/errors.js';
import { Pool } from '../src-ts/pool.js';
import { SharedCounter } from '../src-ts/shared/counter.js';
import { task } from '../src-ts/task.js';
import { useWorkerPools } from './support/worker-pools.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const chaosTasks = new URL('./fixtures/tasks/chaos-tasks.mjs', import.meta.url);
const gauge = task<(now: SharedCounter, peak: SharedCounter, ms: number) => Promise<number>>(chaosTasks, 'gauge');
const initFails = task(chaosTasks, 'initFails');
const slowInit = task(new URL('./fixtures/tasks/replies.mjs', import.meta.url), 'slowInit');
const who = task<(spinMs?: number) => number>(new URL('./fixtures/tasks/recycling.mjs', import.meta.url), 'who');

const workerPool = useWorkerPools();

/** The most workers `pool` had alive at any sample, every millisecond or so, until `until` settles. */
async function peakWorkers(pool: Pool, until: Promise<unknown>): Promise<number> {
  const count = () => pool.stats().backendInfo?.workers as number;
  let most = count();
  const sampler = setInterval(() => (most = Math.max(most, count())), 1);
  try {
    await until;
  } finally {
    clearInterval(sampler);
  }
  return Math.max(most, count());
}

const pendingAfter = <T>(promise: Promise<T>, ms: number): Promise<T | 'STILL PENDING'> =>
  Promise.race([promise, new Promise<'STILL PENDING'>((resolve) => setTimeout(() => resolve('STILL PENDING'), ms))]);

describe('maxTasksPerWorker keeps size a hard bound', () => {
  it.each([
    { size: 3, maxTasksPerWorker: 1 },
    { size: 3, maxTasksPerWorker: 2 },
    { size: 1, maxTasksPerWorker: 1 },
  ])('size $size, maxTasksPerWorker $maxTasksPerWorker: never more workers alive, nor tasks running, than size', async ({ size, maxTasksPerWorker }) => {
    // Before the fix, the replacement started when a worker was handed its last task, was handed
    // a task in that same pass and retired in turn: 30 workers starting at once, 14 tasks running.
    const pool = workerPool({ size, maxTasksPerWorker });
    const now = new SharedCounter(0);
    const peak = new SharedCounter(0);
    const n = 24;
    const calls = Promise.all(Array.from({ length: n }, () => pool.apply(gauge, [now, peak, 20])));
    const workers = await peakWorkers(pool, calls);
    expect(await calls).toHaveLength(n);
    expect(peak.value).toBeLessThanOrEqual(size);
    expect(workers).toBeLessThanOrEqual(size);
    // Every worker ran at most its quota, so at least n / quota were started; and each left only
    // after running it (a worker's `new Worker` costs the event loop milliseconds: the storm of
    // them stalled it for 0.5-2 s in the chaos test), so at most `size` more than that.
    const started = pool.stats().backendInfo?.workersStarted as number;
    expect(started).toBeGreaterThanOrEqual(Math.ceil(n / maxTasksPerWorker));
    expect(started).toBeLessThanOrEqual(Math.ceil(n / maxTasksPerWorker) + size);
  }, 30_000);

  it('a replacement slow to start (its initializer takes a while) still counts within size', async () => {
    const pool = workerPool({ size: 2, maxTasksPerWorker: 1, initializer: slowInit, initArgs: [50] });
    const now = new SharedCounter(0);
    const peak = new SharedCounter(0);
    const calls = Promise.all(Array.from({ length: 8 }, () => pool.apply(gauge, [now, peak, 5])));
    expect(await peakWorkers(pool, calls)).toBeLessThanOrEqual(2);
    expect(peak.value).toBeLessThanOrEqual(2);
    pool.close();
    await pool.join();
  }, 30_000);
});

describe('the quota counts tasks a worker runs', () => {
  it('a task taken back from a retiring worker no longer counts toward its quota: the worker runs another before it leaves', async () => {
    // A gets [slow, y], B gets [x, z]: both are retiring. B leaves; its replacement, or B's
    // reply, takes y back from A, which has then run one task of its two and stays.
    const pool = workerPool({ size: 2, maxTasksPerWorker: 2 });
    const slow = pool.apply(who, [1000]);
    const rest = Promise.all([pool.apply(who, []), pool.apply(who, []), pool.apply(who, [])]);
    const a = await slow;
    await rest;
    const later = await Promise.all(Array.from({ length: 4 }, () => pool.apply(who, [])));
    expect(later).toContain(a);
  }, 30_000);
});

describe('failed starts while recycling', () => {
  it.each([1, 2])('an initializer that always throws breaks the pool with maxTasksPerWorker %i too: every call settles, join() resolves', async (maxTasksPerWorker) => {
    // A worker handed its last task is retiring; one that died before it was ready was not
    // counted as a failed start, so the pool respawned for ever and no call settled.
    const pool = workerPool({ size: 2, maxTasksPerWorker, initializer: initFails });
    const calls = Promise.allSettled(Array.from({ length: 20 }, (_, i) => pool.apply(gauge, [new SharedCounter(), new SharedCounter(), i])));
    const results = await pendingAfter(calls, 10_000);
    expect(results).not.toBe('STILL PENDING');
    for (const result of results as PromiseSettledResult<number>[]) {
      expect(result.status).toBe('rejected');
      expect((result as PromiseRejectedResult).reason).toBeInstanceOf(WorkerCrashError);
      expect(((result as PromiseRejectedResult).reason as Error).message).toMatch(/keep dying.*initializer failed: chaos: this initializer always fails/);
    }
    expect(pool.stats().backendInfo?.workersStarted).toBeLessThanOrEqual(2 + 3);
    pool.close();
    expect(await pendingAfter(pool.join(), 5000)).toBeUndefined();
  }, 30_000);
});

describe('a worker that cannot be started at all', () => {
  // A real refusal, not a mock: the fixture lowers its own RLIMIT_NPROC to 1, so `new Worker`
  // throws ERR_WORKER_INIT_FAILED (EAGAIN). RLIMIT_NPROC counts every thread of the user, so the
  // fixture runs as a user that owns nothing else, which takes root (setpriv) to arrange.
  const canSwitchUser = process.getuid?.() === 0 && spawnSync('setpriv', ['--version']).status === 0 && spawnSync('prlimit', ['--version']).status === 0;

  it.skipIf(!canSwitchUser).each(['replace', 'construct'])('%s: a failed spawn is a failed start; calls reject with its cause, nothing escapes, terminate() resolves', (mode) => {
    // Before the fix: `replace` threw EAGAIN out of the worker's 'exit' handler (the process dies)
    // and its calls never settled; `construct` threw from the Pool constructor.
    const fixture = fileURLToPath(new URL('./fixtures/worker-spawn-fails.mjs', import.meta.url));
    const child = spawnSync('setpriv', ['--reuid=54321', '--regid=54321', '--clear-groups', process.execPath, fixture, mode], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
    expect({ status: child.status, signal: child.signal }, `${child.stdout}\n${child.stderr}`).toEqual({ status: 0, signal: null });
    const report = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as { broken: string; uncaught: string[] };
    expect(report.uncaught).toEqual([]);
    expect(report.broken).toMatch(/could not be started: EAGAIN/);
  }, 60_000);
});
