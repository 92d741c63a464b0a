// The queue backend's API on a real redis-server, with a server running in this process
// (serve()), so that its pool can be looked at. Faults with real server processes are in
// queue-faults.test.ts; the codec alone in queue-codec.test.ts.

import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AsyncResult } from '../src-ts/async-result.js';
import { AbortError, TimeoutError } from '../src-ts/errors.js';
import { kernels } from '../src-ts/kernels/index.js';
import { noContext, type Kernel } from '../src-ts/kernels/types.js';
import { Pool } from '../src-ts/pool.js';
import { serve, type ServeHandle } from '../src-ts/serve/serve.js';
import { SharedCounter } from '../src-ts/shared/counter.js';
import { task } from '../src-ts/task.js';
import { RedisServer, redisAvailable } from './support/redis.js';
import { QUEUE_TASKS } from './support/redis-serve.js';

const { noop, countPrimes, sha256 } = kernels;
const echo = task(QUEUE_TASKS, 'echo');
const sleep = task(QUEUE_TASKS, 'sleep');
const fail = task(QUEUE_TASKS, 'fail');

const run = redisAvailable();

/** Far more work than any test waits for: only cancellation ends it. */
const FOREVER: [number, number] = [0, 2e11];
const twin = <R>(kernel: Kernel<any, R>, args: unknown[]): R => kernel.run(kernel.validate(args), noContext);
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

describe.runIf(run)('queue backend', () => {
  let redis: RedisServer;
  let server: ServeHandle;
  let pool: Pool;
  let queueNo = 0;

  beforeAll(async () => {
    redis = await RedisServer.start();
    server = await serve({ queue: 'api', connection: redis.url, pool: new Pool({ backend: 'worker', size: 2 }), tasks: [QUEUE_TASKS] });
    pool = new Pool({ backend: 'queue', queue: 'api', connection: redis.url, size: 4 });
  });

  afterAll(async () => {
    await pool?.terminate();
    await server?.close();
    await server?.pool.terminate();
    await redis?.close();
  });

  it('apply, applyAsync with callbacks, and submit compute the oracles', async () => {
    expect(pool.backend).toBe('queue');
    expect(await pool.apply(countPrimes, [0, 1e6])).toBe(78498);
    expect(await pool.apply(sha256, ['abc'])).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(await pool.apply(sha256, ['abc', { encoding: 'base64' }])).toBe('ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=');
    const seen: number[] = [];
    const result = pool.applyAsync(countPrimes, [0, 100], { callback: (n) => seen.push(n) });
    expect(await result.get()).toBe(25);
    expect(seen).toEqual([25]);
    const submitted = await pool.submit(echo, ['hi']);
    expect(await submitted.get()).toBe('hi');
  });

  it('map and starmap: one job per chunk, results in input order', async () => {
    const before = pool.stats().submitted;
    const items = Array.from({ length: 1000 }, (_, i) => i);
    expect(await pool.map(noop, items, { chunkSize: 300 })).toEqual(items);
    expect(pool.stats().submitted - before).toBe(4);
    expect(await pool.starmap(countPrimes, [[0, 10], [0, 100], [10, 20]])).toEqual([4, 25, 4]);
  });

  it('imap yields in order and imapUnordered yields all, within the window', async () => {
    const peak = { jobs: 0 };
    const out: number[] = [];
    for await (const value of pool.imap(noop, Array.from({ length: 200 }, (_, i) => i), { window: 5 })) {
      out.push(value);
      peak.jobs = Math.max(peak.jobs, pool.stats().backendInfo.jobsInFlight as number);
    }
    expect(out).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(peak.jobs).toBeLessThanOrEqual(5);
    const unordered: number[] = [];
    for await (const value of pool.imapUnordered(sleep, [30, 10, 20].map((ms) => ms))) unordered.push(value as never);
    expect(unordered).toHaveLength(3);
  });

  it('a task that throws rejects with its name, message, code and stack, run once', async () => {
    const error = (await pool.apply(fail, ['no luck']).catch((e: unknown) => e)) as Error & { code?: string };
    expect(error).toBeInstanceOf(RangeError);
    expect(error.name).toBe('RangeError');
    expect(error.message).toBe('no luck');
    expect(error.code).toBe('E_QUEUE_TEST');
    expect(error.stack).toContain('queue-tasks.mjs');
  });

  it('a job naming a task the server was not started with fails saying what it runs', async () => {
    const other = task(new URL('./fixtures/queue-other.mjs', import.meta.url), 'nope');
    await expect(pool.apply(other, [])).rejects.toThrow(/this server does not run "task:queue-other.mjs#nope"; it runs kernel:noop, .*task:queue-tasks.mjs#echo/);
  });

  it('progress: the client counter reaches the units the server reported', async () => {
    const progress = new SharedCounter();
    expect(await pool.apply(countPrimes, [0, 2e6], { progress })).toBe(148933);
    expect(progress.value).toBe(2e6);
  });

  it('abort of a waiting job removes it from Redis and rejects with AbortError', async () => {
    // No server serves this queue: the job waits.
    const name = `idle${++queueNo}`;
    const idle = new Pool({ backend: 'queue', queue: name, connection: redis.url, size: 2 });
    const raw = new Queue(name, { connection: { host: '127.0.0.1', port: redis.port } });
    try {
      const controller = new AbortController();
      const call = idle.apply(noop, [1], { signal: controller.signal });
      await waitFor(async () => (await raw.getWaitingCount()) === 1);
      controller.abort();
      await expect(call).rejects.toBeInstanceOf(AbortError);
      await waitFor(async () => (await raw.getWaitingCount()) === 0);
      expect(await raw.getJobCounts('waiting', 'active', 'completed', 'failed')).toMatchObject({ waiting: 0, active: 0, completed: 0, failed: 0 });
    } finally {
      await idle.terminate();
      await raw.close();
    }
  });

  it('a running job is cancelled on its server: AbortError here, the task stopped there', async () => {
    const cancelledBefore = server.pool.stats().cancelled;
    const controller = new AbortController();
    const call = pool.apply(sleep, [60_000, 'late'], { signal: controller.signal });
    await waitFor(async () => server.pool.stats().running === 1);
    controller.abort();
    await expect(call).rejects.toBeInstanceOf(AbortError);
    await waitFor(async () => server.pool.stats().cancelled === cancelledBefore + 1 && server.pool.stats().running === 0);
    await expect(pool.apply(sleep, [60_000, 'late'], { timeout: 300 })).rejects.toBeInstanceOf(TimeoutError);
    await waitFor(async () => server.pool.stats().running === 0);
  });

  it('refuses arguments the codec cannot carry, at the call', async () => {
    await expect(pool.apply(echo, [new SharedCounter()])).rejects.toThrow(/args\[0\] cannot travel through the queue: a SharedCounter .*`progress` option.*Redis counter/);
    await expect(pool.apply(echo, [{ f: () => 1 }])).rejects.toThrow(/args\[0\]\.f cannot travel through the queue: a function/);
    expect(() => pool.applyAsync(echo, [new (class Thing {})()])).toThrow(TypeError);
    await expect(pool.map(echo, [1, Symbol('s')])).rejects.toThrow(/map: args\[0\] cannot travel/);
    const unsendable = task(QUEUE_TASKS, 'unsendable');
    await expect(pool.apply(unsendable, [])).rejects.toThrow(/the result\.buf cannot travel through the queue: a SharedArrayBuffer/);
  });

  it('serve() refuses what it cannot serve, before it connects', async () => {
    await expect(serve({ queue: 'a:b', connection: redis.url })).rejects.toThrow(/options.queue must be a non-empty queue name without ':'/);
    const native = new Pool({ backend: 'native', size: 1 });
    try {
      await expect(serve({ queue: 's', connection: redis.url, pool: native, tasks: [QUEUE_TASKS] })).rejects.toThrow("serve: task modules run only on a pool with backend 'worker'");
    } finally {
      await native.terminate();
    }
    const copy = new URL('./fixtures/queue-tasks.mjs', import.meta.url).href.replace('/fixtures/', '/fixtures/../fixtures/');
    await expect(serve({ queue: 's', connection: redis.url, pool: server.pool, tasks: [QUEUE_TASKS, copy] })).rejects.toThrow(/share the file name queue-tasks\.mjs/);
  });

  // The conformance suite's cases that apply to a pool whose tasks run elsewhere (not those on
  // SharedCounter arguments, nor its million-task floods: one job per task is BullMQ's rate).
  describe('conformance cases', () => {
    it('gives results identical to the JS twins', async () => {
      const ranges: [number, number][] = [[0, 0], [0, 2], [2, 3], [0, 100], [999_983, 1_000_003], [123_456, 7_654_321], [1e9, 1e9 + 1e6], [1e12, 1e12 + 2e5], [2 ** 40 - 1e5, 2 ** 40]];
      const results = await Promise.all(ranges.map((r) => pool.apply(countPrimes, r)));
      expect(results).toEqual(ranges.map((r) => twin(countPrimes, r)));
      const values = [0, -1.5, 1e300, -0, Number.MIN_VALUE];
      const mapped = await pool.map(noop, values);
      expect(mapped).toEqual(values.map((v) => twin(noop, [v])));
      expect(Object.is(mapped[3], -0)).toBe(true);
    });

    it('a queued or waiting apply runs with its arguments as they were at the call', async () => {
      const small = new Pool({ backend: 'queue', queue: 'api', connection: redis.url, size: 2, maxQueue: 2 });
      try {
        const args: unknown[] = [0];
        const calls: Promise<number>[] = [];
        for (let i = 0; i < 300; i++) {
          args[0] = i;
          calls.push(small.apply(noop, args as [number]));
          args[0] = -1;
        }
        expect(await Promise.all(calls)).toEqual(range(300));
      } finally {
        await small.terminate();
      }
    });

    it('applyAsync and submit give AsyncResults; mapAsync calls back with the whole result', async () => {
      const result = pool.applyAsync(countPrimes, [0, 1e6]);
      expect(result).toBeInstanceOf(AsyncResult);
      expect(await result.get()).toBe(78498);
      expect(result.ready() && result.successful()).toBe(true);
      const submitted = await pool.submit(countPrimes, [0, 1e5]);
      expect('then' in submitted).toBe(false);
      expect(await submitted.get()).toBe(9592);
      const seen: number[][] = [];
      const mapped = pool.starmapAsync(countPrimes, [[0, 10], [0, 100]], { callback: (r) => seen.push(r) });
      expect(await mapped.get()).toEqual([4, 25]);
      expect(seen).toEqual([[4, 25]]);
    });

    it('an imap consumer that breaks early cancels the rest and closes the source', async () => {
      const local = new Pool({ backend: 'queue', queue: 'api', connection: redis.url, size: 2 });
      let closed = false;
      function* work() {
        try {
          yield [0, 10] as [number, number];
          for (;;) yield FOREVER;
        } finally {
          closed = true;
        }
      }
      for await (const count of local.istarmap(countPrimes, work())) {
        expect(count).toBe(4);
        break;
      }
      expect(closed).toBe(true);
      local.close();
      await local.join();
      expect(local.stats()).toMatchObject({ running: 0, queued: 0, completed: 1 });
      expect(local.stats().cancelled).toBeGreaterThan(0);
      // The server stopped the jobs that had started.
      await waitFor(() => server.pool.stats().running === 0);
    });

    it('terminate() settles running and queued tasks at once, and the server stops them', async () => {
      const local = new Pool({ backend: 'queue', queue: 'api', connection: redis.url, size: 2, maxQueue: 100 });
      const capacity = (local.stats().backendInfo as { capacity: number }).capacity;
      const calls = range(capacity + 50).map(() => local.apply(countPrimes, FOREVER));
      await waitFor(() => server.pool.stats().running === 2);
      expect(local.stats().queued).toBeGreaterThan(0);
      const started = performance.now();
      const terminated = local.terminate();
      const outcomes = await Promise.allSettled(calls);
      expect(outcomes.every((o) => o.status === 'rejected' && (o.reason as Error).name === 'AbortError')).toBe(true);
      await terminated;
      expect(performance.now() - started).toBeLessThan(1000);
      expect(local.stats()).toMatchObject({ state: 'terminated', running: 0, queued: 0, waiting: 0 });
      await waitFor(() => server.pool.stats().running === 0);
    });

    it('reject with TypeError/RangeError naming the argument, submitting nothing', async () => {
      const local = new Pool({ backend: 'queue', queue: 'api', connection: redis.url, size: 2 });
      const loose = local as any;
      try {
        const cases: [unknown[], ErrorConstructor, RegExp][] = [
          [[-1, 5], RangeError, /lo/],
          [[5, 1], RangeError, /lo must be <= hi/],
          [[0, Infinity], RangeError, /hi/],
          [['0', 1], TypeError, /lo/],
          [[0, 1, 2], TypeError, /countPrimes takes 2/],
        ];
        for (const [args, type, pattern] of cases) {
          const error = await loose.apply(countPrimes, args).then(() => undefined, (e: unknown) => e);
          expect(error, JSON.stringify(args)).toBeInstanceOf(type);
          expect((error as Error).message).toMatch(pattern);
          expect(() => loose.applyAsync(countPrimes, args)).toThrow(pattern);
        }
        await expect(loose.apply(kernels.increment, [new SharedCounter()])).rejects.toThrow(/SharedCounter is memory shared/);
        await expect(loose.starmap(countPrimes, [[0, 1], [2, 1]])).rejects.toThrow(/tuples\[1\]/);
        const iterator = loose.istarmap(countPrimes, [[0, 10], [10, 5]]);
        expect(await iterator.next()).toEqual({ done: false, value: 4 });
        await expect(iterator.next()).rejects.toThrow(/tuples\[1\]/);
        expect(local.stats().submitted).toBe(1);
      } finally {
        await local.terminate();
      }
    });
  });

  it('options: queue and connection are required with backend queue, and only there', () => {
    expect(() => new Pool({ backend: 'queue', connection: redis.url } as never)).toThrow(/options.queue must be a non-empty queue name/);
    expect(() => new Pool({ backend: 'queue', queue: 'x' } as never)).toThrow(/options.connection must be a redis:\/\/ URL/);
    expect(() => new Pool({ backend: 'worker', queue: 'x' })).toThrow("Pool: options.queue applies only to backend 'queue'");
    expect(() => new Pool({ backend: 'queue', queue: 'x', connection: 'http://x' })).toThrow(/must be a redis:\/\/ or rediss:\/\/ URL/);
    expect(() => new Pool({ backend: 'queue', queue: 'x', connection: redis.url, attempts: 0 })).toThrow(RangeError);
    expect(() => new Pool({ backend: 'queue', queue: 'x', connection: redis.url, queu: 1 } as never)).toThrow(/unknown option 'queu'/);
  });

  it('a client whose Redis is unreachable rejects its calls with a clear error', async () => {
    const lost = new Pool({ backend: 'queue', queue: 'lost', connection: { host: '127.0.0.1', port: 1, connectTimeout: 500 }, size: 1 });
    try {
      const started = Date.now();
      await expect(lost.apply(noop, [1])).rejects.toThrow(/cannot reach Redis for queue 'lost' on Redis at 127\.0\.0\.1:1 within 500 ms/);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await lost.terminate();
    }
  });

  it('close and join settle everything accepted, then the pool is closed', async () => {
    const local = new Pool({ backend: 'queue', queue: 'api', connection: redis.url, size: 2 });
    const calls = [1, 2, 3].map((i) => local.apply(noop, [i]));
    local.close();
    await expect(local.apply(noop, [4])).rejects.toThrow(/closed/);
    await local.join();
    expect(await Promise.all(calls)).toEqual([1, 2, 3]);
    expect(local.stats()).toMatchObject({ state: 'closed', completed: 3, failed: 0 });
  });
});

async function waitFor(condition: () => Promise<boolean> | boolean, limitMs = 10_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
