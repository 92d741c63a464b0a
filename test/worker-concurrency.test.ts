// concurrentTasksPerWorker (issue #13): a worker runs up to N tasks at once, for async tasks
// that await between bursts of CPU. At most size × N run at once, and the Pool counts that
// product as its size; synchronous code still runs one task at a time. Cancelling one of a
// worker's running tasks stops that one alone when it cooperates; when it does not, the worker
// is killed after cancelGrace and its other running tasks fail with a WorkerCrashError, as in
// any crash, while the tasks it had not started run elsewhere. Every call settles exactly once.
//
// How many run at once is measured from inside the tasks with a SharedCounter gauge.

import { describe, expect, it } from 'vitest';
import { backendInfo } from '../src-ts/backends/select.js';
import { TimeoutError, WorkerCrashError } from '../src-ts/errors.js';
import { kernels } from '../src-ts/kernels/index.js';
import { Pool, type PoolOptions, type WorkerExitInfo } from '../src-ts/pool.js';
import { SharedCounter } from '../src-ts/shared/counter.js';
import { task } from '../src-ts/task.js';
import { useWorkerPools } from './support/worker-pools.js';

const tasks = new URL('./fixtures/tasks/concurrency.mjs', import.meta.url);
const gauged = task<(now: SharedCounter, peak: SharedCounter, ms: number, value: number) => Promise<[number, number]>>(tasks, 'gauged');
const spin = task<(ms: number, now?: SharedCounter, peak?: SharedCounter) => number>(tasks, 'spin');
const cooperative = task<(ms: number, value: number) => Promise<[number, number]>>(tasks, 'cooperative');
const ignoresCancel = task<() => Promise<never>>(tasks, 'ignoresCancel');
const crashesLater = task<(ms: number) => Promise<never>>(tasks, 'crashesLater');
const ownContext = task<(ms: number) => Promise<[boolean, boolean, boolean]>>(tasks, 'ownContext');
const who = task<() => number>(tasks, 'who');
const chaosTasks = new URL('./fixtures/tasks/chaos-tasks.mjs', import.meta.url);
const chaos = task<(...args: unknown[]) => unknown>(chaosTasks, 'chaos');

const workerPool = useWorkerPools();

/** A worker pool and the workerExit events it reports. */
function pool(options: PoolOptions): { pool: Pool; exits: WorkerExitInfo[] } {
  const p = workerPool(options);
  const exits: WorkerExitInfo[] = [];
  p.on('workerExit', (info: WorkerExitInfo) => exits.push(info));
  return { pool: p, exits };
}

const gauge = () => ({ now: new SharedCounter(0), peak: new SharedCounter(0) });
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
/** A call's outcome, settled either way. */
const outcome = <T>(promise: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: Error }> =>
  promise.then(
    (value) => ({ ok: true as const, value }),
    (error: Error) => ({ ok: false as const, error }),
  );

describe('concurrentTasksPerWorker: tasks at once', () => {
  it('N async tasks overlap on one worker, and no more than N', async () => {
    const { pool: p } = pool({ size: 1, concurrentTasksPerWorker: 4 });
    await p.apply(who, []);
    const { now, peak } = gauge();
    const started = performance.now();
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => p.apply(gauged, [now, peak, 150, i])));
    const elapsed = performance.now() - started;
    expect(results.map(([, value]) => value)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(new Set(results.map(([threadId]) => threadId)).size).toBe(1);
    expect(peak.value).toBe(4);
    // Two rounds of four, not eight in a row (1200 ms).
    expect(elapsed).toBeLessThan(900);
  });

  it('size × N bounds the tasks running at once; the pool\'s size stays the workers asked for', async () => {
    const { pool: p } = pool({ size: 2, concurrentTasksPerWorker: 3 });
    expect(p.size).toBe(2);
    const { now, peak } = gauge();
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => p.apply(gauged, [now, peak, 20 + (i % 5) * 15, i])));
    expect(results.map(([, value]) => value)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(peak.value).toBeLessThanOrEqual(6);
    expect(peak.value).toBeGreaterThan(2);
    const stats = p.stats();
    expect(stats.size).toBe(2);
    expect(stats.running).toBeLessThanOrEqual(6);
    expect(stats.backendInfo).toMatchObject({ workers: 2 });
  });

  it('synchronous tasks still run one after another on a worker', async () => {
    const { pool: p } = pool({ size: 1, concurrentTasksPerWorker: 4 });
    await p.apply(who, []);
    const { now, peak } = gauge();
    const started = performance.now();
    await Promise.all(Array.from({ length: 4 }, () => p.apply(spin, [60, now, peak])));
    expect(peak.value).toBe(1);
    expect(performance.now() - started).toBeGreaterThanOrEqual(4 * 60 - 5);
  });

  it('kernels and maps run as before', async () => {
    const { pool: p } = pool({ size: 2, concurrentTasksPerWorker: 8 });
    const items = Array.from({ length: 500 }, (_, i) => i);
    expect(await p.map(kernels.noop, items)).toEqual(items);
    expect(await p.apply(kernels.countPrimes, [0, 100_000])).toBe(9592);
  });

  it('taskContext() is each task’s own across its awaits', async () => {
    for (const concurrentTasksPerWorker of [1, 4]) {
      const { pool: p } = pool({ size: 1, concurrentTasksPerWorker });
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => p.apply(ownContext, [5 + (i % 3) * 7])));
      expect(results).toEqual(Array(8).fill([true, true, true]));
    }
  });

  it('a task waiting behind a worker whose places are all taken moves to an idle worker', async () => {
    const { pool: p } = pool({ size: 2, concurrentTasksPerWorker: 2 });
    const [a, b] = await Promise.all([p.apply(spin, [30]), p.apply(spin, [30])]);
    expect(a).not.toBe(b);
    const { now, peak } = gauge();
    // Least loaded first, ties to the first worker: A gets 0, 2, 4 (4 waits: both places taken), B gets 1, 3.
    const long0 = p.apply(gauged, [now, peak, 1500, 0]);
    const short1 = p.apply(gauged, [now, peak, 50, 1]);
    const long2 = p.apply(gauged, [now, peak, 1500, 2]);
    const short3 = p.apply(gauged, [now, peak, 50, 3]);
    const started = performance.now();
    const [thread4] = await p.apply(gauged, [now, peak, 10, 4]);
    expect(performance.now() - started).toBeLessThan(1000);
    const [[thread0], [thread1]] = await Promise.all([long0, short1, long2, short3]);
    expect(thread4).toBe(thread1);
    expect(thread4).not.toBe(thread0);
  });

  it('a task waiting behind a worker busy in synchronous code moves to an idle worker, although a place is free', async () => {
    const { pool: p } = pool({ size: 2, concurrentTasksPerWorker: 4 });
    await Promise.all([p.apply(spin, [30]), p.apply(spin, [30])]);
    const { now, peak } = gauge();
    const blocking = p.apply(spin, [1500]); // A
    const other = p.apply(gauged, [now, peak, 80, 0]); // B
    const started = performance.now();
    const quick = await p.apply(who, []); // A (a tie), stuck behind the spin
    expect(performance.now() - started).toBeLessThan(1000);
    const [[otherThread], blockingThread] = await Promise.all([other, blocking]);
    expect(quick).toBe(otherThread);
    expect(quick).not.toBe(blockingThread);
  });
});

describe('concurrentTasksPerWorker: a long task beside many short ones', () => {
  it('one long task does not cut its worker off: thousands of short tasks pass beside it through its free place', async () => {
    // Each posted task takes a cell of the worker's claim table (1024): the long task pins
    // its cell, and the short ones used to stop once they had gone round to it (call 1024
    // waited for the long task to end).
    const { pool: p } = pool({ size: 1, concurrentTasksPerWorker: 2 });
    const controller = new AbortController();
    const long = p.apply(cooperative, [600_000, 0], { signal: controller.signal }).catch((e: Error) => e.name);
    for (let i = 0; i < 2500; i++) expect(await p.apply(kernels.noop, [i])).toBe(i);
    const burst = await Promise.all(Array.from({ length: 3000 }, (_, i) => p.apply(kernels.noop, [i])));
    expect(burst).toEqual(Array.from({ length: 3000 }, (_, i) => i));
    expect(p.stats().running).toBe(1);
    controller.abort();
    expect(await long).toBe('AbortError');
  });
});

describe('concurrentTasksPerWorker: cancellation, timeouts and crashes', () => {
  it('cancelling one of several running tasks stops that one alone when it cooperates', async () => {
    const { pool: p, exits } = pool({ size: 1, concurrentTasksPerWorker: 3, cancelGrace: 2000 });
    await p.apply(who, []);
    const controller = new AbortController();
    const first = p.apply(cooperative, [400, 1]);
    const second = p.apply(cooperative, [400, 2], { signal: controller.signal });
    const third = p.apply(cooperative, [400, 3]);
    await sleep(50);
    const aborted = performance.now();
    controller.abort();
    await expect(second).rejects.toMatchObject({ name: 'AbortError' });
    expect(performance.now() - aborted).toBeLessThan(200);
    const [[thread1, one], [thread3, three]] = await Promise.all([first, third]);
    expect([one, three]).toEqual([1, 3]);
    expect(thread1).toBe(thread3);
    await sleep(50);
    expect(exits).toEqual([]);
    expect(p.stats().cancelled).toBe(1);
  });

  it('a task that ignores its cancellation gets its worker killed after cancelGrace: the others running there fail with WorkerCrashError, the unstarted run elsewhere', async () => {
    const cancelGrace = 100;
    const { pool: p, exits } = pool({ size: 1, concurrentTasksPerWorker: 3, cancelGrace });
    const first = await p.apply(who, []);
    const controller = new AbortController();
    const { now, peak } = gauge();
    const stubborn = outcome(p.apply(ignoresCancel, [], { signal: controller.signal }));
    const beside = [outcome(p.apply(gauged, [now, peak, 3000, 1])), outcome(p.apply(gauged, [now, peak, 3000, 2]))];
    const behind = p.apply(who, []); // no free place: it waits, unstarted
    await sleep(80);
    controller.abort();
    const settled = await stubborn;
    expect(settled.ok).toBe(false);
    expect(!settled.ok && settled.error.name).toBe('AbortError');
    for (const result of await Promise.all(beside)) {
      expect(result.ok).toBe(false);
      if (!result.ok) {
        expect(result.error).toBeInstanceOf(WorkerCrashError);
        expect(result.error.message).toMatch(/terminated to stop another task on it that ignored its cancellation for cancelGrace \(100 ms\)/);
      }
    }
    const replacement = await behind;
    expect(replacement).not.toBe(first);
    expect(exits.map((e) => e.reason)).toEqual(['cancel']);
  });

  it('timeouts: a cooperative task times out alone; one that ignores it takes its worker’s running tasks with it', async () => {
    const { pool: p } = pool({ size: 1, concurrentTasksPerWorker: 3, cancelGrace: 50 });
    await p.apply(who, []);
    const timedOut = outcome(p.apply(cooperative, [2000, 0], { timeout: 60 }));
    const fine = p.apply(cooperative, [200, 1]);
    expect(await timedOut).toMatchObject({ ok: false, error: { name: 'TimeoutError' } });
    expect((await fine)[1]).toBe(1);
    const stubborn = outcome(p.apply(ignoresCancel, [], { timeout: 60 }));
    const { now, peak } = gauge();
    const beside = outcome(p.apply(gauged, [now, peak, 2000, 2]));
    const result = await stubborn;
    expect(!result.ok && result.error).toBeInstanceOf(TimeoutError);
    const besideResult = await beside;
    expect(!besideResult.ok && besideResult.error).toBeInstanceOf(WorkerCrashError);
    // The pool goes on, with a new worker.
    expect((await p.apply(cooperative, [10, 3]))[1]).toBe(3);
  });

  it('a crash fails the tasks running on that worker; those it had not started run elsewhere', async () => {
    const { pool: p, exits } = pool({ size: 1, concurrentTasksPerWorker: 2 });
    const first = await p.apply(who, []);
    const { now, peak } = gauge();
    // The worker runs the first two; the other two wait for a place, unstarted.
    const crashing = outcome(p.apply(crashesLater, [100]));
    const beside = outcome(p.apply(gauged, [now, peak, 3000, 1]));
    const waiting = [p.apply(gauged, [now, peak, 10, 2]), p.apply(gauged, [now, peak, 10, 3])];
    const crashed = await crashing;
    expect(!crashed.ok && crashed.error).toBeInstanceOf(WorkerCrashError);
    const besideResult = await beside;
    expect(!besideResult.ok && besideResult.error).toBeInstanceOf(WorkerCrashError);
    expect(!besideResult.ok && besideResult.error.message).toMatch(/the worker running this task died/);
    for (const [threadId] of await Promise.all(waiting)) expect(threadId).not.toBe(first);
    expect(exits.map((e) => e.reason)).toEqual(['crash']);
  });
});

describe('concurrentTasksPerWorker: exactly once under a mixed load', () => {
  type Mode = 'return' | 'sleep' | 'throw' | 'reject' | 'crash' | 'asyncCrash';
  it.each([
    { size: 2, concurrentTasksPerWorker: 3 },
    { size: 3, concurrentTasksPerWorker: 2, minSize: 0, idleTimeout: 5 },
    { size: 2, concurrentTasksPerWorker: 4, minSize: 1, idleTimeout: 20, maxTasksPerWorker: 9 },
  ])('%o', async (options) => {
    const { pool: p } = pool({ cancelGrace: 20, ...options });
    const bound = options.size * options.concurrentTasksPerWorker;
    const { now, peak } = gauge();
    const modes: Mode[] = ['return', 'sleep', 'sleep', 'sleep', 'throw', 'reject', 'sleep', 'crash', 'asyncCrash'];
    interface Call {
      mode: Mode;
      value: string;
      counter: SharedCounter;
      callbacks: number;
      settled: Promise<{ ok: boolean; value: unknown }>;
    }
    const calls: Call[] = [];
    let seed = 11;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 12; round++) {
      const n = 1 + Math.floor(random() * 10);
      for (let i = 0; i < n; i++) {
        const mode = modes[Math.floor(random() * modes.length)]!;
        const value = `v${calls.length}`;
        const counter = new SharedCounter(0);
        const ms = 5 + Math.floor(random() * 40);
        const args = mode === 'sleep' || mode === 'return' ? [counter, mode, value, ms, now, peak] : [counter, mode, value, ms];
        const call: Call = { mode, value, counter, callbacks: 0, settled: Promise.resolve({ ok: false, value: undefined }) };
        const handle = p.applyAsync(chaos, args, { callback: () => call.callbacks++, errorCallback: () => call.callbacks++ });
        call.settled = handle.get().then(
          (result) => ({ ok: true, value: result }),
          (error: unknown) => ({ ok: false, value: error }),
        );
        calls.push(call);
      }
      await sleep(Math.floor(random() * 40));
    }
    // A gauged task killed mid-run (a crash beside it) never leaves the gauge: one slot each.
    let leaks = 0;
    for (const call of calls) {
      const { ok, value } = await call.settled;
      if (!ok && (call.mode === 'sleep' || call.mode === 'return')) leaks++;
      expect(call.callbacks).toBe(1);
      expect(call.counter.value).toBeLessThanOrEqual(1);
      if (ok) {
        expect(['return', 'sleep']).toContain(call.mode);
        expect(value).toBe(call.value);
        expect(call.counter.value).toBe(1);
      } else if (value instanceof WorkerCrashError) {
        // Its own crash, or one beside it on the same worker: any mode may meet one.
      } else {
        expect(['throw', 'reject']).toContain(call.mode);
        expect(value).toMatchObject({ name: 'ChaosTaskError', message: `chaos task error ${call.value}` });
      }
      if (call.mode === 'crash' || call.mode === 'asyncCrash') expect(ok).toBe(false);
    }
    expect(peak.value).toBeLessThanOrEqual(bound + leaks);
    p.close();
    await p.join();
  });
});

describe('concurrentTasksPerWorker: validation', () => {
  it.each([
    [0, new RangeError('Pool: options.concurrentTasksPerWorker must be an integer in [1, 1024], got 0')],
    [1.5, new RangeError('Pool: options.concurrentTasksPerWorker must be an integer in [1, 1024], got 1.5')],
    [1025, new RangeError('Pool: options.concurrentTasksPerWorker must be an integer in [1, 1024], got 1025')],
    [Number.NaN, new RangeError('Pool: options.concurrentTasksPerWorker must be an integer in [1, 1024], got NaN')],
    [Infinity, new RangeError('Pool: options.concurrentTasksPerWorker must be an integer in [1, 1024], got Infinity')],
    ['2', new TypeError('Pool: options.concurrentTasksPerWorker must be a number, got string "2"')],
  ])('%s', (value, error) => {
    expect(() => new Pool({ backend: 'worker', size: 1, concurrentTasksPerWorker: value } as PoolOptions)).toThrow(error);
  });

  it('accepts the bounds', async () => {
    for (const concurrentTasksPerWorker of [1, 1024]) {
      const { pool: p } = pool({ size: 1, concurrentTasksPerWorker });
      expect(p.size).toBe(1);
      expect(await p.apply(who, [])).toEqual(expect.any(Number));
    }
  });

  it.runIf(backendInfo().native)('applies only to the worker backend', () => {
    expect(() => new Pool({ backend: 'native', concurrentTasksPerWorker: 2 })).toThrow(
      new TypeError("Pool: options.concurrentTasksPerWorker applies only to the worker backend, and this pool's backend is 'native'"),
    );
  });
});
