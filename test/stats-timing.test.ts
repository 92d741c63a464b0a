// stats().waitTime, runTime, utilization and workerUtilization: the histogram against exact
// percentiles, the pool's bookkeeping against a backend the test times by hand, and both real
// backends against tasks of known length.

import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { Histogram } from '../src-ts/internal/histogram.js';
import { kernels } from '../src-ts/kernels/index.js';
import { createPoolWithBackend, type Pool } from '../src-ts/pool.js';
import { task } from '../src-ts/task.js';
import { availableBackends } from './support/backends.js';
import { ManualBackend } from './support/manual-backend.js';

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** The nearest-rank percentile of sorted values: what Histogram.percentile approximates. */
function exactPercentile(sorted: number[], p: number): number {
  return sorted[Math.max(1, Math.ceil(p * sorted.length)) - 1]!;
}

/** A deterministic pseudo-random sequence (xorshift), so a failure replays. */
function random(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

describe('Histogram', () => {
  it('is all zeros before anything is recorded', () => {
    expect(new Histogram().summary()).toEqual({ count: 0, mean: 0, min: 0, max: 0, p50: 0, p90: 0, p99: 0 });
  });

  it('keeps count, mean, min and max exact and every percentile within 3.2% of the exact one', () => {
    for (const [seed, scale] of [
      [1, 1e-4],
      [2, 1],
      [3, 1e3],
      [4, 1e6],
    ] as const) {
      const next = random(seed);
      const h = new Histogram();
      const values: number[] = [];
      for (let i = 0; i < 5000; i++) {
        // Log-uniform over six decades: exercises the linear buckets and many octaves.
        const ms = Math.round(scale * 10 ** (6 * next() - 3) * 1e6) / 1e6;
        values.push(ms);
        h.record(ms);
      }
      values.sort((a, b) => a - b);
      const s = h.summary();
      expect(s.count).toBe(5000);
      expect(s.min).toBe(values[0]);
      expect(s.max).toBe(values[values.length - 1]);
      expect(s.mean).toBeCloseTo(values.reduce((a, b) => a + b, 0) / values.length, 6);
      for (const p of [0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1]) {
        const exact = exactPercentile(values, p);
        const got = h.percentile(p);
        // A whole nanosecond of rounding on top of the bucket's half-width.
        expect(Math.abs(got - exact), `seed ${seed}, p${p * 100}: ${got} vs ${exact}`).toBeLessThanOrEqual(exact / 32 + 1e-6);
      }
    }
  });

  it('reports a single value exactly, counts negative durations as 0, and keeps huge ones', () => {
    const one = new Histogram();
    one.record(12.345678);
    expect(one.summary()).toMatchObject({ count: 1, min: 12.345678, max: 12.345678, p50: 12.345678, p99: 12.345678 });
    const skewed = new Histogram();
    skewed.record(-0.5);
    expect(skewed.summary()).toMatchObject({ count: 1, min: 0, max: 0, p50: 0 });
    const huge = new Histogram();
    huge.record(30 * 86_400_000); // 30 days: past the last bucket's start
    huge.record(1);
    expect(huge.summary()).toMatchObject({ count: 2, max: 30 * 86_400_000, p99: 30 * 86_400_000 });
    expect(huge.percentile(0.5)).toBe(1);
  });
});

describe('stats() timing bookkeeping (manual backend)', () => {
  it('waitTime is start minus acceptance and runTime what the backend reports, per task that started', async () => {
    const backend = new ManualBackend({ size: 1, capacity: 1 });
    const pool = createPoolWithBackend(backend, { maxQueue: 10 });
    const done = [pool.apply(kernels.noop, [1], {}), pool.apply(kernels.noop, [2], {}), pool.apply(kernels.noop, [3], {})];
    const first = backend.oldest();
    first.timed(first.acceptedAt + 4, 10);
    backend.complete(first);
    await tick();
    const second = backend.oldest();
    expect(second.acceptedAt).toBe(first.acceptedAt); // accepted in the same synchronous run
    second.timed(second.acceptedAt + 14, 2);
    backend.complete(second);
    await tick();
    // The third is cancelled before it starts: it is in neither histogram.
    backend.cancelled(backend.oldest());
    await Promise.allSettled(done);
    const s = pool.stats();
    expect(s.waitTime).toMatchObject({ count: 2, min: 4, max: 14, mean: 9 });
    expect(s.runTime).toMatchObject({ count: 2, min: 2, max: 10, mean: 6 });
    await pool.terminate();
  });

  it('times plain calls (no Task) through the plain lane', async () => {
    const backend = new ManualBackend({ plainLane: true, size: 2, capacity: 4 });
    const pool = createPoolWithBackend(backend);
    const before = performance.now();
    const result = pool.apply(kernels.noop, [41]);
    const d = backend.oldest();
    expect(d.acceptedAt).toBeGreaterThanOrEqual(before);
    expect(d.acceptedAt).toBeLessThanOrEqual(performance.now());
    d.timed(d.acceptedAt + 1.5, 0.25);
    backend.complete(d);
    expect(await result).toBe(41);
    expect(pool.stats().waitTime).toMatchObject({ count: 1, min: 1.5 });
    expect(pool.stats().runTime).toMatchObject({ count: 1, max: 0.25 });
    await pool.terminate();
  });

  it('a call that waited for room is accepted (and stamped) when room appears, not when it was made', async () => {
    const backend = new ManualBackend({ size: 1, capacity: 1 });
    const pool = createPoolWithBackend(backend, { maxQueue: 1 });
    void pool.apply(kernels.noop, [1], {});
    void pool.apply(kernels.noop, [2], {});
    const waiting = pool.submit(kernels.noop, [3]);
    await new Promise((resolve) => setTimeout(resolve, 30));
    backend.complete();
    await tick();
    backend.complete();
    await tick();
    const third = backend.oldest();
    expect(third.calls[0]).toEqual([3]);
    expect(performance.now() - third.acceptedAt).toBeLessThan(25);
    backend.complete(third);
    await (await waiting).get();
    await pool.terminate();
  });

  it('utilization is busy time over size × age, from the backend where it knows better', async () => {
    const backend = new ManualBackend({ size: 2, capacity: 2 });
    const pool = createPoolWithBackend(backend);
    const created = performance.now();
    expect(pool.stats().utilization).toBe(0);
    const call = pool.apply(kernels.noop, [1], {});
    const d = backend.oldest();
    await new Promise((resolve) => setTimeout(resolve, 40));
    d.timed(d.acceptedAt, 30);
    backend.complete(d);
    await call;
    // 30 ms of one of 2 places over the pool's age, which is at least `age` (not 40 ms: a timer
    // of 40 ms can fire after 39.8, as libuv counts from the loop's cached time); busy time over
    // age alone would be twice that.
    const age = performance.now() - created;
    const fromRuns = pool.stats().utilization;
    expect(fromRuns).toBeGreaterThan(0);
    expect(fromRuns).toBeLessThanOrEqual(30 / (2 * age));
    (backend as { busyTime?: () => number }).busyTime = () => 1e9;
    expect(pool.stats().utilization).toBe(1); // capped
    await pool.terminate();
  });
});

const spin = task<(ms: number) => number>(new URL('./fixtures/tasks/concurrency.mjs', import.meta.url), 'spin');

describe.each(availableBackends())('stats() timing on the $name backend', ({ name, make }) => {
  let pool: Pool | undefined;
  afterEach(async () => {
    await pool?.terminate();
    pool = undefined;
  });

  it('a queued task waited about as long as the one ahead of it ran, and both ran as long as they took', async () => {
    pool = make({ size: 1 });
    // Warm up (starts the worker, loads the kernel). Its wait (a worker's start-up) stays in
    // the histogram, so the two measured calls are read as what they add to the sums.
    await pool.apply(kernels.countPrimes, [0, 10]);
    const before = pool.stats();
    expect(before.runTime.count).toBe(1);
    const sum = (t: { mean: number; count: number }): number => t.mean * t.count;
    // Hundreds of ms of sieving each on this machine, far above any clock skew.
    const n = 4e8;
    const started = performance.now();
    const first = pool.apply(kernels.countPrimes, [0, n]);
    const second = pool.apply(kernels.countPrimes, [0, n]);
    const firstDone = await first.then(() => performance.now() - started);
    await second;
    const elapsed = performance.now() - started;
    const s = pool.stats();
    expect(s.runTime.count).toBe(3);
    expect(s.waitTime.count).toBe(3);
    const ran = sum(s.runTime) - sum(before.runTime);
    const waited = sum(s.waitTime) - sum(before.waitTime);
    // One thread ran both back to back: their runs fill most of the wall time and never exceed it.
    expect(ran).toBeLessThanOrEqual(elapsed + 1);
    expect(ran).toBeGreaterThan(0.5 * elapsed);
    // The first started at once; the second when the first ended, which its caller saw later.
    expect(waited).toBeLessThanOrEqual(1.25 * firstDone + 5); // plus the first's own short wait
    expect(waited).toBeGreaterThan(0.5 * firstDone);
    expect(s.utilization).toBeGreaterThan(0);
    expect(s.utilization).toBeLessThanOrEqual(1);
    if (name === 'worker') {
      expect(s.workerUtilization).toHaveLength(1);
      const [w] = s.workerUtilization;
      expect(w!.eventLoopUtilization).toBeGreaterThan(0);
      expect(w!.eventLoopUtilization).toBeLessThanOrEqual(1);
    } else {
      expect(s.workerUtilization).toEqual([]);
    }
  });

  it('a burst of tiny calls is timed call by call', async () => {
    pool = make({ size: 2 });
    await pool.apply(kernels.noop, [0]);
    const started = performance.now();
    await Promise.all(Array.from({ length: 3000 }, (_, i) => pool!.apply(kernels.noop, [i])));
    const elapsed = performance.now() - started;
    const s = pool.stats();
    expect(s.runTime.count).toBe(3001);
    expect(s.waitTime.count).toBe(3001);
    // Every call waited and ran within the burst (the warm-up's start-up wait aside).
    expect(s.waitTime.p99).toBeLessThanOrEqual(elapsed * 1.04);
    expect(s.runTime.max).toBeLessThanOrEqual(elapsed);
    // Later calls queue behind earlier ones: the waits spread out; a noop's run does not.
    expect(s.waitTime.p90).toBeGreaterThan(s.runTime.p90);
  });

  if (name === 'worker') {
    it("a user's task's run time is measured in the worker", async () => {
      pool = make({ size: 1 });
      await pool.apply(spin, [1]); // loads the module: its first run is not the measured one
      await pool.apply(spin, [60]);
      const s = pool.stats();
      expect(s.runTime.count).toBe(2);
      expect(s.runTime.max).toBeGreaterThanOrEqual(60 * 0.96);
    });
  }
});
