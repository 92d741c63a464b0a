// What only the queue backend has, on a real redis-server, with a server running in this
// process (serve()), so that its pool can be looked at: task modules, jobs in Redis, the codec's
// refusals, options and connections. The Pool API itself runs on the queue backend in
// conformance.test.ts; faults with real server processes are in queue-faults.test.ts; the codec
// alone in queue-codec.test.ts.

import { createHash } from 'node:crypto';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeConnection, redisOptions } from '../src-ts/backends/queue/bullmq.js';
import { AbortError, TimeoutError } from '../src-ts/errors.js';
import { kernels } from '../src-ts/kernels/index.js';
import { Pool } from '../src-ts/pool.js';
import { serve, type ServeHandle } from '../src-ts/serve/serve.js';
import { SharedCounter } from '../src-ts/shared/counter.js';
import { task } from '../src-ts/task.js';
import { RedisServer, redisAvailable } from './support/redis.js';
import { QUEUE_TASKS } from './support/redis-serve.js';

const { noop, sha256 } = kernels;
const echo = task(QUEUE_TASKS, 'echo');
const sleep = task(QUEUE_TASKS, 'sleep');
const fail = task(QUEUE_TASKS, 'fail');
const reportProgress = task(QUEUE_TASKS, 'reportProgress');

const run = redisAvailable();

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

  it("a kernel with an options object, and a task module's function, run through the queue", async () => {
    expect(pool.backend).toBe('queue');
    expect(await pool.apply(sha256, ['abc'])).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(await pool.apply(sha256, ['abc', { encoding: 'base64' }])).toBe('ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=');
    // From 1 MiB an ordinary buffer is copied into shared memory at the call (kernels/staging.ts):
    // its bytes still travel; a caller's own SharedArrayBuffer is still refused.
    const big = Buffer.alloc(3 << 20, 'spindle');
    expect(await pool.apply(sha256, [big])).toBe(createHash('sha256').update(big).digest('hex'));
    const shared = new Uint8Array(new SharedArrayBuffer(3 << 20));
    await expect(pool.apply(sha256, [shared])).rejects.toThrow(/SharedArrayBuffer/);
    const submitted = await pool.submit(echo, ['hi']);
    expect(await submitted.get()).toBe('hi');
  });

  it('map: one job per chunk', async () => {
    const before = pool.stats().submitted;
    const items = Array.from({ length: 1000 }, (_, i) => i);
    expect(await pool.map(noop, items, { chunkSize: 300 })).toEqual(items);
    expect(pool.stats().submitted - before).toBe(4);
  });

  it('imap keeps at most its window of jobs in Redis', async () => {
    const peak = { jobs: 0 };
    const out: number[] = [];
    for await (const value of pool.imap(noop, Array.from({ length: 200 }, (_, i) => i), { window: 5 })) {
      out.push(value);
      peak.jobs = Math.max(peak.jobs, pool.stats().backendInfo.jobsInFlight as number);
    }
    expect(out).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(peak.jobs).toBeLessThanOrEqual(5);
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

  it("a task's progress beyond 2^53 stops the client's counter at 2^53 - 1; the server and the call go on", async () => {
    // The server read its counter's `value` in the timer that reports progress: beyond 2^53 that
    // threw a RangeError there (an uncaught exception, which ends a `spindle serve` process), and
    // once more after the task, failing a job whose task had succeeded.
    const small = new SharedCounter();
    expect(await pool.apply(reportProgress, [1000, 120], { progress: small })).toBe('reported');
    expect(small.value).toBe(1000);
    const huge = new SharedCounter();
    expect(await pool.apply(reportProgress, [2n ** 60n, 120], { progress: huge })).toBe('reported');
    expect(huge.value).toBe(Number.MAX_SAFE_INTEGER);
    const quick = new SharedCounter();
    expect(await pool.apply(reportProgress, [2n ** 60n, 0], { progress: quick })).toBe('reported');
    expect(quick.value).toBe(Number.MAX_SAFE_INTEGER);
    expect(await pool.apply(echo, ['still serving'])).toBe('still serving');
  });

  it('refuses arguments the codec cannot carry, at the call', async () => {
    await expect(pool.apply(echo, [new SharedCounter()])).rejects.toThrow(/args\[0\] cannot travel through the queue: a SharedCounter .*`progress` option.*Redis counter/);
    await expect(pool.apply(kernels.increment, [new SharedCounter()])).rejects.toThrow(/SharedCounter is memory shared/);
    await expect(pool.apply(echo, [{ f: () => 1 }])).rejects.toThrow(/args\[0\]\.f cannot travel through the queue: a function/);
    expect(() => pool.applyAsync(echo, [new (class Thing {})()])).toThrow(TypeError);
    // Map refusals name the method and the item (they said `map: args[0]` for any item, imap's too).
    await expect(pool.map(echo, [1, Symbol('s')])).rejects.toThrow(/^map: items\[1\]: args\[0\] cannot travel/);
    await expect(pool.starmap(echo, [[1], [2], [() => 3]])).rejects.toThrow(/^starmap: tuples\[2\]: args\[0\] cannot travel/);
    const imapped: unknown[] = [];
    const imapError = await (async () => {
      for await (const value of pool.imap(echo, [1, 2, 3, () => 4, 5])) imapped.push(value);
    })().catch((e: unknown) => e);
    expect(String(imapError)).toMatch(/^TypeError: imap: items\[3\]: args\[0\] cannot travel through the queue: a function/);
    expect(imapped).toEqual([1, 2, 3]);
    // Encoded once, at the call: a change made after the call does not travel.
    const arg = { x: 1 };
    const sent = pool.apply(echo, [arg]);
    arg.x = 2;
    expect(await sent).toEqual({ x: 1 });
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

  it('connection.connectTimeout must be a number of ms in [1, 2^31 - 1], for Pool and serve()', async () => {
    // ioredis took any: calls failed at once against a Redis that was up, and -5 or Infinity
    // killed the process with ERR_OUT_OF_RANGE from ioredis's socket timer.
    const at = (connectTimeout: unknown) => () => new Pool({ backend: 'queue', queue: 'ct', connection: { host: '127.0.0.1', port: redis.port, connectTimeout } });
    for (const bad of [-5, Infinity, NaN, 0, 1e12]) {
      expect(at(bad)).toThrow(RangeError);
      expect(at(bad)).toThrow(/^Pool: options\.connection\.connectTimeout must be a finite number of ms in \[1, 2147483647\], got /);
    }
    expect(at('abc')).toThrow(TypeError);
    await expect(serve({ queue: 'ct', connection: { host: '127.0.0.1', port: redis.port, connectTimeout: -5 }, pool: server.pool })).rejects.toThrow(/^serve: options\.connection\.connectTimeout must be/);
    const ok = new Pool({ backend: 'queue', queue: 'api', connection: { host: '127.0.0.1', port: redis.port, connectTimeout: 2000 }, size: 1 });
    try {
      expect(await ok.apply(noop, [5])).toBe(5);
    } finally {
      await ok.terminate();
    }
  });

  it('serve() refuses bad lockDuration, stalledInterval, connectTimeout and tasks with errors naming them', async () => {
    // lockDuration 0 or 'x' started a server that never completed a job; tasks as a string was
    // imported per character; {} and [5] failed inside Node.
    const base = { queue: 'opts', connection: redis.url, pool: server.pool };
    const cases: [Record<string, unknown>, ErrorConstructor, RegExp][] = [
      [{ lockDuration: 0 }, RangeError, /^serve: options\.lockDuration must be an integer number of ms in \[1, 2147483647\], got 0$/],
      [{ lockDuration: 'x' }, TypeError, /^serve: options\.lockDuration must be an integer number of ms, got "x"$/],
      [{ lockDuration: 1.5 }, RangeError, /options\.lockDuration/],
      [{ stalledInterval: 0 }, RangeError, /^serve: options\.stalledInterval must be/],
      [{ stalledInterval: -1 }, RangeError, /^serve: options\.stalledInterval must be/],
      [{ connectTimeout: -1 }, RangeError, /^serve: options\.connectTimeout must be a finite number of ms in \[1, 2147483647\], got -1$/],
      [{ connectTimeout: 'abc' }, TypeError, /^serve: options\.connectTimeout must be a number of ms, got "abc"$/],
      [{ connectTimeout: Infinity }, RangeError, /^serve: options\.connectTimeout/],
      [{ tasks: QUEUE_TASKS }, TypeError, /^serve: options\.tasks must be an array of module paths or file URLs, got the string/],
      [{ tasks: {} }, TypeError, /^serve: options\.tasks must be an array/],
      [{ tasks: [5] }, TypeError, /^serve: options\.tasks\[0\] must be a module path or a file URL, got number$/],
      [{ onError: 5 }, TypeError, /^serve: options\.onError must be a function$/],
    ];
    for (const [extra, Class, message] of cases) {
      const error = await serve({ ...base, ...extra } as never).then(
        async (handle) => {
          await handle.close();
          return undefined;
        },
        (e: unknown) => e,
      );
      expect(error, JSON.stringify(extra)).toBeInstanceOf(Class);
      expect((error as Error).message).toMatch(message);
    }
  });

  it('redis:// URLs: an IPv6 literal host loses its brackets; bad percent-encoding is a TypeError', () => {
    // getaddrinfo was asked for "[::1]" (ENOTFOUND); "%zz" was a URIError.
    expect(redisOptions('Pool', 'redis://[::1]:6390/2')).toMatchObject({ host: '::1', port: 6390, db: 2 });
    expect(describeConnection(redisOptions('Pool', 'redis://[::1]:6390'))).toBe('[::1]:6390');
    expect(() => redisOptions('Pool', 'redis://u:p%zz@host')).toThrow(TypeError);
    expect(() => redisOptions('Pool', 'redis://u:p%zz@host')).toThrow(/^Pool: options\.connection: the password in the redis:\/\/ URL is not valid percent-encoding/);
    expect(() => new Pool({ backend: 'queue', queue: 'x', connection: 'redis://u%zz:p@host' })).toThrow(/^Pool: options\.connection: the user name/);
  });

  it('options: queue and connection are required with backend queue, and only there', () => {
    expect(() => new Pool({ backend: 'queue', connection: redis.url } as never)).toThrow(/options.queue must be a non-empty queue name/);
    expect(() => new Pool({ backend: 'queue', queue: 'x' } as never)).toThrow(/options.connection must be a redis:\/\/ URL/);
    expect(() => new Pool({ backend: 'worker', queue: 'x' })).toThrow("Pool: options.queue applies only to backend 'queue'");
    expect(() => new Pool({ backend: 'queue', queue: 'x', connection: 'http://x' })).toThrow(/must be a redis:\/\/ or rediss:\/\/ URL/);
    expect(() => new Pool({ backend: 'queue', queue: 'x', connection: redis.url, attempts: 0 })).toThrow(RangeError);
    expect(() => new Pool({ backend: 'queue', queue: 'x', connection: redis.url, queu: 1 } as never)).toThrow(/unknown option 'queu'/);
  });

  it('a database Redis refuses (redis://host/99 where Redis has 16) fails calls and serve(), and leaves database 0 alone', async () => {
    // ioredis only emitted an 'error' for the refused SELECT and stayed on database 0: the
    // client added its jobs there, and a server named /99 served database 0's queue.
    const url = `${redis.url}/99`;
    const refused = /Redis refuses database 99 \(ERR DB index is out of range\)$/;
    const lost = new Pool({ backend: 'queue', queue: 'dbrange', connection: url, size: 1 });
    try {
      await expect(lost.apply(noop, [1])).rejects.toThrow(refused);
      await expect(lost.apply(noop, [1])).rejects.toThrow(new RegExp(`^could not add a job to queue 'dbrange' on Redis at 127\\.0\\.0\\.1:${redis.port}: `));
    } finally {
      await lost.terminate();
    }
    const raw = new Queue('dbrange', { connection: { host: '127.0.0.1', port: redis.port } });
    try {
      expect(await raw.getJobCounts('wait', 'active')).toEqual({ wait: 0, active: 0 });
    } finally {
      await raw.close();
    }
    const local = new Pool({ backend: 'native', size: 1 });
    try {
      await expect(serve({ queue: 'dbrange', connection: url, pool: local })).rejects.toThrow(new RegExp(`^serve: queue 'dbrange' on Redis at 127\\.0\\.0\\.1:${redis.port}: Redis refuses database 99`));
    } finally {
      await local.terminate();
    }
    // A database Redis has works as before, on both sides.
    const other = await serve({ queue: 'db3', connection: `${redis.url}/3`, pool: new Pool({ backend: 'native', size: 1 }) });
    const client = new Pool({ backend: 'queue', queue: 'db3', connection: { host: '127.0.0.1', port: redis.port, db: 3 }, size: 1 });
    try {
      expect(await client.apply(noop, [3])).toBe(3);
    } finally {
      await client.terminate();
      await other.close();
      await other.pool.terminate();
    }
  });

  it('database 0 named (redis://host/0, db: 0) needs no SELECT: a Redis (or proxy) that refuses SELECT still serves', async () => {
    // ioredis sends no SELECT for database 0; the check of the named database sent one, and
    // a Redis with SELECT disabled (rename-command, twemproxy, Envoy) failed every call and serve().
    const noSelect = await RedisServer.start(['--rename-command', 'SELECT', '""']);
    const local = new Pool({ backend: 'native', size: 1 });
    try {
      const server = await serve({ queue: 'db0', connection: `${noSelect.url}/0`, pool: local });
      const client = new Pool({ backend: 'queue', queue: 'db0', connection: { host: '127.0.0.1', port: noSelect.port, db: 0 }, size: 1 });
      try {
        expect(await client.apply(noop, [5])).toBe(5);
      } finally {
        await client.terminate();
        await server.close();
      }
    } finally {
      await local.terminate();
      await noSelect.close();
    }
  });

  it('a Redis user refused the spindle channels (Redis 7 ACLs give a new user none): serve() and calls fail saying which ones it needs', async () => {
    const admin = new Queue('acl', { connection: { host: '127.0.0.1', port: redis.port } });
    const raw = (await admin.client) as unknown as { call(...args: string[]): Promise<unknown> };
    const needs = "spindle's clients and servers need the channels spindle:acl:* (for an ACL user: &spindle:acl:*)";
    const local = new Pool({ backend: 'native', size: 1 });
    try {
      await raw.call('ACL', 'SETUSER', 'nochannels', 'on', '>pw', '~*', '+@all', 'resetchannels');
      await raw.call('ACL', 'SETUSER', 'cancelonly', 'on', '>pw', '~*', '+@all', 'resetchannels', '&spindle:acl:cancel');
      await raw.call('ACL', 'SETUSER', 'spindle', 'on', '>pw', '~*', '+@all', 'resetchannels', '&spindle:acl:*');
      const as = (user: string) => `redis://${user}:pw@127.0.0.1:${redis.port}`;
      const refused = (channel: string) => `Redis refuses this server the channel ${channel} (NOPERM this user has no permissions to access one of the channels used as arguments): ${needs}`;
      await expect(serve({ queue: 'acl', connection: as('nochannels'), pool: local })).rejects.toThrow(refused('spindle:acl:cancel'));
      // Subscribed to the cancels, refused the replies: it would have served every call late (each by a 10 s lookup).
      await expect(serve({ queue: 'acl', connection: as('cancelonly'), pool: local })).rejects.toThrow(refused('spindle:acl:replies:00000000-0000-0000-0000-000000000000'));
      const client = new Pool({ backend: 'queue', queue: 'acl', connection: as('nochannels'), size: 1 });
      try {
        const started = Date.now();
        const error = await client.apply(noop, [1]).then(() => undefined, (e: Error) => e.message);
        expect(error).toMatch(new RegExp(`^could not add a job to queue 'acl' on Redis at 127\\.0\\.0\\.1:${redis.port}: Redis refuses this client the channel spindle:acl:replies:[0-9a-f-]{36} \\(NOPERM `));
        expect(error!.endsWith(needs)).toBe(true);
        expect(Date.now() - started).toBeLessThan(5000); // not its connectTimeout
      } finally {
        await client.terminate();
      }
      // With the channels, both sides work.
      const server = await serve({ queue: 'acl', connection: as('spindle'), pool: new Pool({ backend: 'native', size: 1 }) });
      const ok = new Pool({ backend: 'queue', queue: 'acl', connection: as('spindle'), size: 1 });
      try {
        expect(await ok.apply(noop, [5])).toBe(5);
      } finally {
        await ok.terminate();
        await server.close();
        await server.pool.terminate();
      }
    } finally {
      await local.terminate();
      await admin.close();
    }
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
});

async function waitFor(condition: () => Promise<boolean> | boolean, limitMs = 10_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
