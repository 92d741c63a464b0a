// stats() on the queue backend: a job's wait ends when the client hears it went active, its run
// time is what the server's pool took (sent with the result), utilization is run time over the
// jobs in flight. Against a real redis-server and an in-process serve() whose pool runs one job
// at a time, so that the second of two jobs waits in Redis for exactly the first one's run.

import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorFromReason, failureReason, readResult, reasonRunMs } from '../src-ts/backends/queue/wire.js';
import { Pool } from '../src-ts/pool.js';
import { serve, type ServeHandle } from '../src-ts/serve/serve.js';
import { task } from '../src-ts/task.js';
import { RedisServer, redisAvailable } from './support/redis.js';
import { QUEUE_TASKS } from './support/redis-serve.js';

const sleep = task(QUEUE_TASKS, 'sleep');

describe('the run time a server sends with a result', () => {
  it('is read when it is a finite number of ms, at least 0, and ignored otherwise; a task error carries one too', () => {
    expect(readResult('j', { r: 1, ms: 12.5 })).toEqual({ value: 1, runMs: 12.5 });
    expect(readResult('j', JSON.stringify({ r: 1, ms: 0 }))).toEqual({ value: 1, runMs: 0 });
    // A server from before the field, or a result from another producer: no timing, same value.
    expect(readResult('j', { r: 1 })).toEqual({ value: 1, runMs: undefined });
    for (const ms of [-1, Number.NaN, Number.POSITIVE_INFINITY, '5', null]) {
      expect(readResult('j', { r: 1, ms })).toEqual({ value: 1, runMs: undefined });
    }
    expect(reasonRunMs(failureReason(new RangeError('x'), 3))).toBe(3);
    expect(reasonRunMs(failureReason(new RangeError('x')))).toBeUndefined();
    expect(errorFromReason('j', failureReason(new RangeError('x'), 3))).toBeInstanceOf(RangeError);
    expect(reasonRunMs('job stalled more than allowable limit')).toBeUndefined();
    expect(reasonRunMs('{"ms": 3}')).toBeUndefined(); // not a spindle server's
  });
});

describe.runIf(redisAvailable())('stats() timing on the queue backend', () => {
  let redis: RedisServer;
  let server: ServeHandle;

  beforeAll(async () => {
    redis = await RedisServer.start();
    server = await serve({ queue: 'timed', connection: redis.url, pool: new Pool({ backend: 'worker', size: 1 }), tasks: [QUEUE_TASKS] });
  });

  afterAll(async () => {
    await server?.close();
    await server?.pool.terminate();
    await redis?.close();
  });

  it('two jobs on a one-job server: both ran as long as they slept, the second waited for the first', async () => {
    const pool = new Pool({ backend: 'queue', queue: 'timed', connection: redis.url, size: 2 });
    try {
      // Warm up: the server's worker loads the task module. That job is in the summaries too,
      // so the two measured jobs are read as what they add to the sums.
      await pool.apply(sleep, [1, 0]);
      const before = pool.stats();
      expect(before.runTime.count).toBe(1);
      expect(before.waitTime.count).toBe(1);
      const sum = (t: { mean: number; count: number }): number => t.mean * t.count;
      const ms = 300;
      const started = performance.now();
      const first = pool.apply(sleep, [ms, 1]);
      const second = pool.apply(sleep, [ms, 2]);
      const firstDone = await first.then(() => performance.now() - started);
      expect(await second).toBe(2);
      const elapsed = performance.now() - started;
      const s = pool.stats();
      expect(s.runTime.count).toBe(3);
      expect(s.waitTime.count).toBe(3);
      const ran = sum(s.runTime) - sum(before.runTime);
      const waited = sum(s.waitTime) - sum(before.waitTime);
      // Each slept `ms` in the server's worker (timers fire no earlier than asked) and the
      // server ran them one after the other, within the wall time the client saw.
      expect(s.runTime.max).toBeGreaterThanOrEqual(ms * 0.99);
      expect(ran).toBeGreaterThanOrEqual(2 * ms * 0.99);
      expect(ran).toBeLessThanOrEqual(elapsed);
      // The second went active only once the first was done (about when the first's caller
      // heard of it, firstDone); the first after the client's add and the server's fetch, a few
      // Redis round trips, which took at most firstDone - ms (the first ran ms after that).
      expect(waited).toBeGreaterThan(0.9 * ms);
      expect(waited).toBeLessThanOrEqual(2 * firstDone - ms + 50);
      // Two jobs in flight at most (size 2), busy for about 2 × ms of the pool's age.
      expect(s.utilization).toBeGreaterThan(0);
      expect(s.utilization).toBeLessThanOrEqual(1);
      expect(s.workerUtilization).toEqual([]);
    } finally {
      await pool.terminate();
    }
  });

  it('a job whose task threw is timed too; one refused before it ran (a task the server lacks) is not', async () => {
    const pool = new Pool({ backend: 'queue', queue: 'timed', connection: redis.url, size: 1 });
    try {
      await expect(pool.apply(task(QUEUE_TASKS, 'fail'), ['no'])).rejects.toThrow('no');
      let s = pool.stats();
      expect(s.failed).toBe(1);
      expect(s.runTime.count).toBe(1);
      expect(s.waitTime.count).toBe(1);
      const missing = task(new URL('./fixtures/queue-other.mjs', import.meta.url), 'nope');
      await expect(pool.apply(missing, [])).rejects.toThrow('does not run');
      s = pool.stats();
      expect(s.failed).toBe(2);
      expect(s.runTime.count).toBe(1);
    } finally {
      await pool.terminate();
    }
  });
});
