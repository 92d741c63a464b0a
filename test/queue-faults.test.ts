// The queue backend's fault model, with a real redis-server and real `spindle serve` processes:
// at-least-once execution on servers, exactly-once settlement on the client.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue, Worker } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { kernels } from '../src-ts/kernels/index.js';
import { Pool } from '../src-ts/pool.js';
import { encode } from '../src-ts/backends/queue/codec.js';
import { SharedCounter } from '../src-ts/shared/counter.js';
import { task } from '../src-ts/task.js';
import { RedisServer, redisAvailable } from './support/redis.js';
import { QUEUE_TASKS, runServer, startServer, type ServerProcess } from './support/redis-serve.js';

const { noop } = kernels;
const sleep = task(QUEUE_TASKS, 'sleep');
const flaky = task(QUEUE_TASKS, 'flaky');
const echo = task(QUEUE_TASKS, 'echo');

const run = redisAvailable();

describe.runIf(run)('queue backend faults', () => {
  let redis: RedisServer;
  const servers: ServerProcess[] = [];
  const pools: Pool[] = [];
  let queueNo = 0;

  /** Short locks, so that a killed server's job is found stalled within about a second. */
  const serverArgs = (queue: string, extra: string[] = []) => [
    '--queue', queue, '--redis', redis.url, '--tasks', QUEUE_TASKS, '--size', '2', '--lock-duration', '1000', '--stalled-interval', '500', ...extra,
  ];
  const server = async (queue: string, extra?: string[]) => {
    const s = await startServer(serverArgs(queue, extra));
    servers.push(s);
    return s;
  };
  const client = (queue: string, extra: Record<string, unknown> = {}) => {
    const p = new Pool({ backend: 'queue', queue, connection: redis.url, size: 64, ...extra });
    pools.push(p);
    return p;
  };

  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((p) => p.terminate()));
    await Promise.all(servers.splice(0).map((s) => s.kill()));
  });
  afterAll(async () => {
    await redis?.close();
  });

  it('a server SIGKILLed mid-job: the job runs again on another server and the call settles once', async () => {
    const queue = `kill${++queueNo}`;
    const first = await server(queue);
    const pool = client(queue);
    const settled: unknown[] = [];
    const result = pool.applyAsync(sleep, [1500, 'done'], { callback: (v) => settled.push(v), errorCallback: (e) => settled.push(e) });
    // The job is running on `first` once its lock is taken.
    const raw = new Queue(queue, { connection: { host: '127.0.0.1', port: redis.port } });
    try {
      await waitFor(async () => (await raw.getActiveCount()) === 1);
    } finally {
      await raw.close();
    }
    await first.kill();
    await server(queue);
    expect(await result.get()).toBe('done');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(settled).toEqual(['done']);
  });

  it('a job whose server dies under it twice fails, whatever its attempts, as README says (BullMQ puts a job back once)', async () => {
    const queue = `twice${++queueNo}`;
    const raw = new Queue(queue, { connection: { host: '127.0.0.1', port: redis.port } });
    try {
      const pool = client(queue, { attempts: 3 });
      const outcome = pool.apply(sleep, [5000, 'done']).then(() => 'resolved', (error: Error) => error.message);
      const first = await server(queue, ['--size', '1']);
      await waitFor(async () => (await raw.getActiveCount()) === 1);
      await first.kill();
      // The next server's stalled check puts the job back, and it runs it again.
      const second = await server(queue, ['--size', '1']);
      await waitFor(async () => (await raw.getJobs(['active']))[0]?.stalledCounter === 1);
      await second.kill();
      await server(queue, ['--size', '1']);
      expect(await outcome).toMatch(/^queue job [0-9a-f-]+ failed: job stalled more than allowable limit$/);
    } finally {
      await raw.close();
    }
  }, 60_000);

  it('10000 tiny tasks with one of two servers killed and restarted midway: 0 lost, 0 settled twice', async () => {
    const queue = `flood${++queueNo}`;
    // Each server takes 8 jobs at once: BullMQ's per-job round trips, not the noop, bound the rate.
    const victim = await server(queue, ['--size', '8']);
    await server(queue, ['--size', '8']);
    const pool = client(queue, { size: 256, maxQueue: 20_000 });
    const n = 10_000;
    const outcomes = new Array<number>(n).fill(0);
    const wrong: unknown[] = [];
    const results = [];
    for (let i = 0; i < n; i++) {
      results.push(
        pool.applyAsync(noop, [i], {
          callback: (v) => {
            outcomes[i]!++;
            if (v !== i) wrong.push([i, v]);
          },
          errorCallback: (e) => wrong.push([i, e]),
        }),
      );
    }
    await waitFor(() => pool.stats().completed >= n / 4, 60_000);
    await victim.kill();
    await server(queue, ['--size', '8']);
    for (const r of results) await r.wait();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(wrong).toEqual([]);
    expect(outcomes.filter((count) => count !== 1)).toEqual([]);
    expect(pool.stats()).toMatchObject({ completed: n, failed: 0 });
  }, 180_000);

  it('a task that throws is not retried by default; with attempts it is, and succeeds', async () => {
    const queue = `retry${++queueNo}`;
    await server(queue, ['--size', '1']);
    await expect(client(queue).apply(flaky, ['a', 1])).rejects.toThrow('flaky a: run 1 fails');
    expect(await client(queue).apply(flaky, ['b', 0])).toBe(1);
    expect(await client(queue, { attempts: 3 }).apply(flaky, ['c', 2])).toBe(3);
    await expect(client(queue, { attempts: 2 }).apply(flaky, ['d', 5])).rejects.toThrow('flaky d: run 2 fails');
    // Per call: the call's attempts wins over the pool's, for apply and for each map chunk.
    const once = client(queue);
    expect(await once.apply(flaky, ['e', 2], { attempts: 3 })).toBe(3);
    await expect(client(queue, { attempts: 5 }).apply(flaky, ['f', 1], { attempts: 1 })).rejects.toThrow('flaky f: run 1 fails');
    expect(await once.starmap(flaky, [['g', 1], ['h', 1]], { attempts: 2, chunkSize: 1 })).toEqual([2, 2]);
    await expect(once.map(flaky as never, [], { attempts: 0 })).rejects.toThrow(RangeError);
  });

  it('a running call cancelled by its client is not run again, even with attempts', async () => {
    // The server failed the cancelled job as a retryable error, so BullMQ ran it again in full.
    const queue = `cancelretry${++queueNo}`;
    await server(queue, ['--size', '1']);
    const pool = client(queue);
    const marks = join(mkdtempSync(join(tmpdir(), 'spindle-runs-')), 'runs');
    const runs = () => (existsSync(marks) ? readFileSync(marks, 'utf8').split('\n').filter(Boolean).length : 0);
    const controller = new AbortController();
    const call = pool.apply(task(QUEUE_TASKS, 'countedSleep'), [marks, 1500], { signal: controller.signal, attempts: 3 });
    await waitFor(() => runs() === 1);
    controller.abort();
    await expect(call).rejects.toMatchObject({ name: 'AbortError' });
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(runs()).toBe(1);
  });

  it('a call cancelled after its job\'s lock expired under a server that hung is stopped on that server too', async () => {
    // The lock gone, the client's removal succeeded, so no cancel was published: the server,
    // once it ran again, ran the task to its end (20 s here), its one slot taken meanwhile.
    const queue = `orphan${++queueNo}`;
    const s = await server(queue, ['--size', '1']);
    const pool = client(queue);
    const raw = new Queue(queue, { connection: { host: '127.0.0.1', port: redis.port } });
    try {
      // A first call, so that the client's event reader is reading when the job goes active.
      expect(await pool.apply(noop, [0])).toBe(0);
      const controller = new AbortController();
      const call = pool.apply(sleep, [20_000, 'late'], { signal: controller.signal }).catch((error: Error) => error.name);
      await waitFor(async () => (await raw.getActiveCount()) === 1);
      await new Promise((resolve) => setTimeout(resolve, 200)); // the client hears it go active
      s.child.kill('SIGSTOP');
      await new Promise((resolve) => setTimeout(resolve, 1500)); // past its 1000 ms lock
      controller.abort();
      expect(await call).toBe('AbortError');
      await waitFor(async () => (await raw.getActiveCount()) === 0);
      s.child.kill('SIGCONT');
      const started = Date.now();
      expect(await pool.apply(noop, [1])).toBe(1);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      s.child.kill('SIGCONT');
      await raw.close();
    }
  }, 60_000);

  it('calls whose jobs another client removed from Redis fail instead of waiting for ever', async () => {
    // A drain (or a Redis restarted without persistence) takes waiting jobs away: no event
    // will ever come for them. The client's sweep finds each gone twice, and fails its call.
    const queue = `drained${++queueNo}`;
    await server(queue, ['--size', '1']);
    const pool = client(queue);
    const running = pool.apply(sleep, [2000, 'ran']);
    const waiting = [pool.apply(sleep, [10, 'a']), pool.apply(sleep, [10, 'b'])];
    const outcomes = Promise.allSettled(waiting);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const admin = new Queue(queue, { connection: { host: '127.0.0.1', port: redis.port } });
    await admin.drain();
    await admin.close();
    expect(await running).toBe('ran');
    const settled = await outcomes;
    expect(settled.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    for (const o of settled) expect((o as PromiseRejectedResult).reason.message).toMatch(/is no longer in Redis .*: another client removed it, or Redis lost it/);
  }, 40_000);

  it('with attempts > 1, a job failed for good without using its retries settles even if its event was missed', async () => {
    // The sweep settled a failed job only once attemptsMade reached the call's attempts: a job
    // failed at once (UnrecoverableError: a task the server does not run, a bad payload) whose
    // 'failed' event the client missed waited for ever. Failed here as BullMQ fails such a job,
    // minus the event: finished, with its reason and one attempt made.
    const queue = `lostfail${++queueNo}`;
    const pool = client(queue);
    const call = pool.apply(noop, [1], { attempts: 3 });
    const outcome = call.then(() => 'resolved', (error: Error) => error.message);
    const admin = new Queue(queue, { connection: { host: '127.0.0.1', port: redis.port } });
    await waitFor(async () => (await admin.getWaitingCount()) === 1);
    const [job] = await admin.getWaiting();
    const raw = (await admin.client) as unknown as { multi(): { hset(...a: unknown[]): unknown; lrem(...a: unknown[]): unknown; zadd(...a: unknown[]): unknown; exec(): Promise<unknown> } };
    const multi = raw.multi();
    multi.hset(`bull:${queue}:${job!.id}`, { finishedOn: String(Date.now()), failedReason: 'this server does not run "kernel:noop"', atm: '1' });
    multi.lrem(`bull:${queue}:wait`, 0, job!.id);
    multi.zadd(`bull:${queue}:failed`, String(Date.now()), job!.id);
    await multi.exec();
    await admin.close();
    const settled = await Promise.race([outcome, new Promise((resolve) => setTimeout(resolve, 20_000, 'still pending after 20 s'))]);
    expect(settled).toBe(`queue job ${job!.id} failed: this server does not run "kernel:noop"`);
  }, 40_000);

  it('an event the client cannot parse (another producer\'s) does not stop it hearing results', async () => {
    // BullMQ's event reader ended on an event whose data is not JSON, and every call then
    // waited for the client's sweep (10 s), while the client read results from the stream. It
    // reads none there now (servers reply on its own channel); a stream with such an event
    // still costs it nothing.
    const queue = `badevent${++queueNo}`;
    await server(queue);
    const pool = client(queue);
    expect(await pool.apply(noop, [1])).toBe(1);
    const admin = new Queue(queue, { connection: { host: '127.0.0.1', port: redis.port } });
    const raw = await admin.client;
    await (raw as unknown as { xadd(...args: string[]): Promise<unknown> }).xadd(`bull:${queue}:events`, '*', 'event', 'progress', 'jobId', 'nobody', 'data', 'not-json');
    await admin.close();
    await new Promise((resolve) => setTimeout(resolve, 500));
    const started = performance.now();
    expect(await Promise.all([2, 3, 4].map((x) => pool.apply(noop, [x])))).toEqual([2, 3, 4]);
    expect(performance.now() - started).toBeLessThan(5000); // far below the sweep's 10 s
  });

  it('a reply lost while the client\'s subscriber reconnects: the client looks its jobs up at once, not after the 10 s sweep', async () => {
    // Servers publish outcomes on the client's own channel; pub/sub keeps nothing for a
    // subscriber that is away. Here the subscriber is cut (CLIENT KILL) again and again across
    // the moment the job's server replies, so that reply is lost for sure.
    const queue = `lostreply${++queueNo}`;
    await server(queue);
    const pool = client(queue);
    expect(await pool.apply(noop, [1])).toBe(1);
    const admin = new Queue(queue, { connection: { host: '127.0.0.1', port: redis.port } });
    const raw = (await admin.client) as unknown as { client(...args: string[]): Promise<unknown> };
    try {
      const started = performance.now();
      const call = pool.apply(sleep, [1500, 'late']).then((value) => [value, performance.now() - started]);
      await waitFor(async () => (await admin.getActiveCount()) === 1);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const until = performance.now() + 1500;
      let kills = 0;
      while (performance.now() < until) {
        kills += Number(await raw.client('KILL', 'TYPE', 'pubsub'));
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(kills).toBeGreaterThan(1);
      const [value, ms] = await call;
      expect(value).toBe('late');
      // About 1.5 s of run, cut until 3 s, a reconnect and one lookup; the sweep alone took 10 s.
      expect(ms).toBeLessThan(7000);
    } finally {
      await admin.close();
    }
  }, 30_000);

  it('a call settled by a lookup, its replies lost, has the progress its server recorded', async () => {
    // Progress travels in replies; a call whose replies were lost settled by the lookup with its
    // counter where the last reply heard had left it (0 here), though the job's server had
    // recorded its count in Redis. Its server here records progress and result and publishes
    // nothing (as one from before the replies); the subscriber's reconnect makes the client look.
    const queue = `lostprogress${++queueNo}`;
    const connection = { host: '127.0.0.1', port: redis.port };
    const worker = new Worker(queue, async (job) => {
      await job.updateProgress(1234);
      return { r: encode('done', 'the result'), ms: 1 };
    }, { connection });
    const admin = new Queue(queue, { connection });
    const raw = (await admin.client) as unknown as { client(...args: string[]): Promise<unknown> };
    try {
      const pool = client(queue);
      const progress = new SharedCounter(0);
      const call = pool.apply(echo, ['x'], { progress });
      await waitFor(async () => (await admin.getCompletedCount()) === 1);
      expect(Number(await raw.client('KILL', 'TYPE', 'pubsub'))).toBe(1);
      expect(await call).toBe('done');
      expect(progress.value).toBe(1234);
    } finally {
      await worker.close();
      await admin.close();
    }
  });

  it('a result published before BullMQ recorded it, lost while the subscriber was away, is found about a second after the catch-up, not 10 s', async () => {
    // Played by a plain BullMQ worker, step by step: the client's subscriber is cut, the result
    // is published to nobody, and the job is recorded only after the client's catch-up lookup
    // (on its reconnect, ~200 ms) found it still running.
    const queue = `lostearly${++queueNo}`;
    const connection = { host: '127.0.0.1', port: redis.port };
    const admin = new Queue(queue, { connection });
    const raw = (await admin.client) as unknown as { client(...args: string[]): Promise<unknown>; publish(channel: string, message: string): Promise<number> };
    let receivers = -1;
    const worker = new Worker(
      queue,
      async (job) => {
        await raw.client('KILL', 'TYPE', 'pubsub');
        receivers = await raw.publish(`spindle:${queue}:replies:${job.id!.slice(0, 36)}`, JSON.stringify(['c', job.id, { r: 42, ms: 1 }]));
        await new Promise((resolve) => setTimeout(resolve, 700));
        return { r: 42, ms: 1 };
      },
      { connection },
    );
    try {
      const pool = client(queue);
      const started = performance.now();
      expect(await pool.apply(noop, [42])).toBe(42);
      expect(receivers).toBe(0); // the reply was lost
      expect(performance.now() - started).toBeLessThan(5000); // the sweep alone: about 10 s
    } finally {
      await worker.close();
      await admin.close();
    }
  }, 30_000);

  it('garbage on the client\'s reply channel is dropped; forged replies for jobs it does not hold change nothing', async () => {
    const queue = `garbagereply${++queueNo}`;
    await server(queue);
    const pool = client(queue);
    expect(await pool.apply(noop, [1])).toBe(1);
    const admin = new Queue(queue, { connection: { host: '127.0.0.1', port: redis.port } });
    const raw = (await admin.client) as unknown as { pubsub(...args: string[]): Promise<string[]>; publish(channel: string, message: string): Promise<number> };
    try {
      const [channel] = await raw.pubsub('CHANNELS', `spindle:${queue}:replies:*`);
      expect(channel).toMatch(/^spindle:garbagereply\d+:replies:[0-9a-f-]{36}$/);
      const clientId = channel!.split(':').at(-1)!;
      const messages = ['not json', '[]', '{"a":1}', `["c","${clientId}-1",{"r":666}]`, `["f","${clientId}-999","x"]`, `["p","${clientId}-1",5]`, `["C","nobody"]`, '["z","x",1]'];
      for (const message of messages) expect(await raw.publish(channel!, message)).toBe(1);
      expect(await Promise.all([2, 3, 4].map((x) => pool.apply(noop, [x])))).toEqual([2, 3, 4]);
      expect(pool.stats()).toMatchObject({ completed: 4, failed: 0 });
    } finally {
      await admin.close();
    }
  });

  it('a result too large to publish (over 256 KiB) is read from Redis and arrives whole', async () => {
    const queue = `largereply${++queueNo}`;
    await server(queue);
    const pool = client(queue);
    const big = Buffer.alloc(3 * 1024 * 1024, 7);
    big[12345] = 1;
    const small = 'y'.repeat(1000);
    const [back, again] = await Promise.all([pool.apply(echo, [big]), pool.apply(echo, [small])]);
    expect(Buffer.isBuffer(back) || back instanceof Uint8Array).toBe(true);
    expect(Buffer.compare(Buffer.from(back as Uint8Array), big)).toBe(0);
    expect(again).toBe(small);
    expect(pool.stats().runTime.count).toBe(2); // timed from the server's reply either way
  });

  it("a long job's lookups read its outcome's fields, not the whole job: megabytes of arguments are not fetched every 10 s", async () => {
    // The sweep looks up a job not heard of for 10 s; BullMQ's getJob() read all of it, the
    // arguments (here 8 MiB, 11 MB once encoded) included, once per sweep while the job ran.
    const queue = `biglookup${++queueNo}`;
    await server(queue);
    const pool = client(queue);
    const admin = new Queue(queue, { connection: { host: '127.0.0.1', port: redis.port } });
    const raw = (await admin.client) as unknown as { info(section: string): Promise<string> };
    const sent = async () => Number(/total_net_output_bytes:(\d+)/.exec(await raw.info('stats'))![1]);
    try {
      const args = Buffer.alloc(8 * 1024 * 1024, 3);
      const before = await sent();
      // sleep(ms, value) ignores its third argument; it travels with the job all the same.
      expect(await pool.apply(sleep as never, [12_500, 'done', args] as never)).toBe('done');
      const bytes = (await sent()) - before;
      // Its server fetched it once (11 MB); one more whole read by a lookup would make it 22 MB.
      expect(bytes).toBeGreaterThan(11e6);
      expect(bytes).toBeLessThan(16e6);
    } finally {
      await admin.close();
    }
  }, 40_000);

  it('Redis restarted mid-run (appendonly): client and servers reconnect and every accepted task finishes', async () => {
    const queue = `restart${++queueNo}`;
    await server(queue);
    const pool = client(queue);
    const calls = Array.from({ length: 40 }, (_, i) => pool.apply(sleep, [100, i]));
    await waitFor(() => pool.stats().completed >= 4, 30_000);
    await redis.restart();
    expect(await Promise.all(calls)).toEqual(Array.from({ length: 40 }, (_, i) => i));
  }, 90_000);

  it('once Redis has been gone for connectTimeout, calls in flight and new ones reject as at start-up', async () => {
    // ioredis queues commands while it reconnects, without bound: once Redis went away after the
    // client had connected, every call (its add, or the sweep's lookups) waited for ever.
    const queue = `gone${++queueNo}`;
    await server(queue, ['--size', '1']);
    const pool = client(queue, { connection: { host: '127.0.0.1', port: redis.port, connectTimeout: 2000 } });
    expect(await pool.apply(noop, [1])).toBe(1);
    const outcome = (call: Promise<unknown>) => call.then(() => 'resolved', (error: Error) => error.message);
    const running = outcome(pool.apply(sleep, [30_000, 'late']));
    await new Promise((resolve) => setTimeout(resolve, 500));
    await redis.stop();
    try {
      const started = Date.now();
      const fresh = outcome(pool.apply(noop, [2]));
      const bound = new Promise<string>((resolve) => setTimeout(resolve, 15_000, 'still pending 15 s after Redis went away'));
      const settled = await Promise.all([Promise.race([running, bound]), Promise.race([fresh, bound])]);
      for (const message of settled) expect(message).toMatch(new RegExp(`^cannot reach Redis for queue '${queue}' on Redis at 127\\.0\\.0\\.1:${redis.port} within 2000 ms`));
      expect(Date.now() - started).toBeLessThan(6_000);
    } finally {
      await redis.restart();
    }
  }, 60_000);

  it('a Redis that hangs (SIGSTOP) for longer than connectTimeout: calls reject as if it were gone, and run again once it answers', async () => {
    // A hung Redis closes no connection: ioredis waited on its socket, and so did every call,
    // for as long as Redis hung (a network partition that drops packets: TCP's many minutes).
    const queue = `hung${++queueNo}`;
    await server(queue, ['--size', '1']);
    const pool = client(queue, { connection: { host: '127.0.0.1', port: redis.port, connectTimeout: 2000 } });
    expect(await pool.apply(noop, [1])).toBe(1);
    const outcome = (call: Promise<unknown>) => call.then(() => 'resolved', (error: Error) => error.message);
    // Short enough that the one server is free again soon after Redis answers: its lock expired
    // while Redis hung, so the client's withdrawal removes the job rather than cancel it there.
    const running = outcome(pool.apply(sleep, [4000, 'late']));
    await new Promise((resolve) => setTimeout(resolve, 500));
    redis.pause();
    try {
      const started = Date.now();
      const fresh = outcome(pool.apply(noop, [2]));
      const bound = new Promise<string>((resolve) => setTimeout(resolve, 10_000, 'still pending 10 s after Redis hung'));
      const settled = await Promise.all([Promise.race([running, bound]), Promise.race([fresh, bound])]);
      for (const message of settled) expect(message).toMatch(new RegExp(`^cannot reach Redis for queue '${queue}' on Redis at 127\\.0\\.0\\.1:${redis.port} within 2000 ms`));
      expect(Date.now() - started).toBeLessThan(6_000);
    } finally {
      redis.resume();
    }
    expect(await pool.apply(noop, [3])).toBe(3);
  }, 60_000);

  it('a main thread busy for longer than connectTimeout right after a sweep\'s PING does not fail calls against a Redis that answered', async () => {
    // The PING's answer sat unread in the socket while the thread was busy; the next sweep runs
    // (timers phase) before the loop reads sockets, and found the PING overdue: every call
    // rejected with 'cannot reach Redis' though Redis had answered at once.
    const queue = `busy${++queueNo}`;
    await server(queue, ['--size', '1']);
    const pool = client(queue, { connection: { host: '127.0.0.1', port: redis.port, connectTimeout: 1000 } });
    expect(await pool.apply(noop, [1])).toBe(1); // connected: the sweep sends its PINGs
    await new Promise((resolve) => setTimeout(resolve, 1500)); // its sweep timer, idle, stopped
    // Block the thread right after the first sweep has sent its PING (the sweep's timer is
    // armed by the call below). Redis is held for that PING's first 100 ms, so that its answer
    // arrives while the thread is busy, not before (it must be in the socket, unread).
    const original = globalThis.setInterval;
    let blocked = false;
    globalThis.setInterval = ((fn: (...a: unknown[]) => void, ms: number, ...rest: unknown[]) =>
      original((...a: unknown[]) => {
        if (!blocked) redis.pause();
        fn(...a);
        if (blocked) return;
        blocked = true;
        setImmediate(() => {
          const end = Date.now() + 1800;
          while (Date.now() < end - 1700);
          redis.resume();
          while (Date.now() < end);
        });
      }, ms, ...rest)) as typeof setInterval;
    let call: Promise<unknown>;
    try {
      call = pool.apply(sleep, [3000, 'done']);
    } finally {
      globalThis.setInterval = original;
    }
    expect(await call.catch((error: Error) => error.message)).toBe('done');
    expect(blocked).toBe(true);
  }, 60_000);

  /**
   * 50 calls of 100 KB each, awaited together, through a proxy that passes one direction at about
   * 1 MB/s per connection (each chunk held for its length in µs) and the other as it comes, with
   * connectTimeout 2000: every call must resolve with its value.
   */
  const fiftyBigCallsOverSlowLink = async (queue: string, slow: 'to Redis' | 'from Redis') => {
    await server(queue);
    const sockets = new Set<Socket>();
    const proxy = createServer((inbound) => {
      const upstream = connect(redis.port, '127.0.0.1');
      sockets.add(inbound).add(upstream);
      const [from, to] = slow === 'to Redis' ? [inbound, upstream] : [upstream, inbound];
      to.pipe(from);
      from.on('data', (chunk: Buffer) => {
        from.pause();
        to.write(chunk);
        setTimeout(() => from.resume(), Math.ceil(chunk.length / 1000));
      });
      for (const socket of [inbound, upstream]) socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const port = (proxy.address() as { port: number }).port;
      const pool = client(queue, { connection: { host: '127.0.0.1', port, connectTimeout: 2000 } });
      expect(await pool.apply(echo, ['warm'])).toBe('warm');
      await new Promise((resolve) => setTimeout(resolve, 1500)); // the subscriber, which PINGs, is open
      const big = 'x'.repeat(100_000);
      const calls = Array.from({ length: 50 }, (_, i) => pool.apply(echo, [`${i}${big}`]).then((value) => value === `${i}${big}`, (error: Error) => error.message));
      expect(new Set(await Promise.all(calls))).toEqual(new Set([true]));
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => proxy.close(resolve));
    }
  };

  it('a slow link with megabytes of arguments on their way does not make the PING probe fail calls against a Redis that is up', async () => {
    // The PING went out on the connection that adds jobs, behind the job data queued there: on a
    // 1 MB/s link it waited longer than connectTimeout, and every call rejected with 'cannot
    // reach Redis' while Redis was up and answering.
    await fiftyBigCallsOverSlowLink(`slow${++queueNo}`, 'to Redis');
  }, 60_000);

  it('a slow link with megabytes of results on their way back does not make the PING probe fail calls against a Redis that is up', async () => {
    // The PING goes out on the subscriber, and its answer comes behind the replies published
    // before it: on a 1 MB/s link with 5 MB of results on their way it came after connectTimeout,
    // and calls rejected with 'cannot reach Redis' while Redis was up and sending.
    await fiftyBigCallsOverSlowLink(`slowback${++queueNo}`, 'from Redis');
  }, 60_000);

  it('a garbage job fails with a clear reason and the server keeps serving', async () => {
    const queue = `garbage${++queueNo}`;
    const s = await server(queue);
    const connection = { host: '127.0.0.1', port: redis.port };
    const raw = new Queue(queue, { connection });
    try {
      // Outcomes are read from the jobs themselves, not from a QueueEvents stream: a stream
      // listener reads from '$', so events written before its first XREAD is sent are never
      // heard (that race failed this test once in CI).
      const jobs = [
        await raw.add('junk', { hello: 'world' }),
        await raw.add('junk', { v: 1, task: 'kernel:noop', batch: false, calls: [[{ zz: 1 }]] }),
        await raw.add('junk', { v: 1, task: 'rm -rf /', batch: false, calls: [[]] }),
      ];
      await waitFor(async () => (await raw.getFailedCount()) === 3);
      const reasons = await Promise.all(jobs.map(async (job) => (await raw.getJob(job.id!))!.failedReason));
      expect(reasons.map((r) => JSON.parse(r).message)).toEqual([
        'bad job payload: wire version undefined, this server reads version 1',
        "bad job payload: calls[0][0] is not a value spindle's queue codec wrote: unknown tag 'zz'",
        expect.stringMatching(/^this server does not run "rm -rf \/"; it runs kernel:noop/),
      ]);
      expect(await client(queue).apply(noop, [7])).toBe(7);
      expect(s.child.exitCode).toBe(null);
    } finally {
      await raw.close();
    }
  });

  it('spindle serve: a usage error exits 2 naming it; a task module that does not import exits 1 with one line', async () => {
    const usage = await runServer(['--queue', 'x', '--redis', redis.url, '--size', 'many'], 30_000);
    expect(usage.code).toBe(2);
    expect(usage.stderr.split('\n')[0]).toBe("spindle serve: --size must be a positive integer, got 'many'");
    // These exited 1 without usage, from serve() and the Pool: bad values are usage errors.
    for (const [args, line] of [
      [['--queue', 'a:b'], "spindle serve: --queue must be a queue name without ':', got 'a:b'"],
      [['--queue', 'x', '--size', '2000'], "spindle serve: --size must be at most 1024, got '2000'"],
    ]) {
      const bad = await runServer([...args, '--redis', redis.url], 30_000);
      expect([bad.code, bad.stderr.split('\n')[0], bad.stderr.split('\n')[1]]).toEqual([2, line, 'Usage: spindle serve --queue NAME --redis URL [OPTION]...']);
    }
    const missing = await runServer(['--queue', 'x', '--redis', redis.url, '--tasks', '/nonexistent/tasks.mjs'], 30_000);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^spindle serve: cannot import task module file:\/\/\/nonexistent\/tasks\.mjs: .*\n$/);
  });

  it('spindle serve told to stop while Redis is down exits within its bound: 1, naming the job it abandoned; 0 when idle', async () => {
    // BullMQ's close() awaited Redis: SIGTERM did nothing, and the server stayed stuck even
    // after Redis came back; only a second signal ended it.
    const busy = await server(`down${++queueNo}`, ['--size', '1']);
    const idle = await server(`down${++queueNo}`, ['--size', '1']);
    const pool = client(`down${queueNo - 1}`);
    const call = pool.apply(sleep, [60_000, 'late']).catch((e: unknown) => e);
    const raw = new Queue(`down${queueNo - 1}`, { connection: { host: '127.0.0.1', port: redis.port } });
    try {
      await waitFor(async () => (await raw.getActiveCount()) === 1);
    } finally {
      await raw.close();
    }
    await redis.stop();
    try {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const started = Date.now();
      const bound = new Promise<string>((resolve) => setTimeout(resolve, 20_000, 'still running 20 s after SIGTERM'));
      const [busyCode, idleCode] = await Promise.all([Promise.race([busy.stop(), bound]), Promise.race([idle.stop(), bound])]);
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(busyCode).toBe(1);
      expect(busy.stderr()).toMatch(/\nspindle serve: Redis unreachable: closed without finishing 1 job \(another server runs it again once its lock expires\)\n$/);
      expect(idleCode).toBe(0);
    } finally {
      await redis.restart();
    }
    await pool.terminate();
    await call;
  }, 60_000);

  it('spindle serve: a second signal of either kind kills it while the first waits for a running job', async () => {
    // The first SIGINT took its own listener away but left SIGTERM's: SIGINT then SIGTERM (or
    // the reverse) did nothing, and the server ran on until its job ended.
    for (const [first, second] of [['SIGINT', 'SIGTERM'], ['SIGTERM', 'SIGINT'], ['SIGINT', 'SIGINT']] as const) {
      const queue = `signals${++queueNo}`;
      const s = await server(queue, ['--size', '1']);
      const pool = client(queue);
      const call = pool.apply(sleep, [30_000, 'late']).catch((e: unknown) => e);
      const raw = new Queue(queue, { connection: { host: '127.0.0.1', port: redis.port } });
      try {
        await waitFor(async () => (await raw.getActiveCount()) === 1);
      } finally {
        await raw.close();
      }
      const exited = new Promise<NodeJS.Signals | number | null>((resolve) => s.child.once('exit', (code, signal) => resolve(signal ?? code)));
      s.child.kill(first);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(s.child.exitCode ?? s.child.signalCode).toBe(null); // still finishing its job
      s.child.kill(second);
      const bound = new Promise<string>((resolve) => setTimeout(resolve, 5_000, 'still running 5 s after the second signal'));
      expect(await Promise.race([exited, bound])).toBe(second);
      await pool.terminate();
      await call;
    }
  }, 90_000);

  it('spindle serve prints the worker errors it used to swallow, one line each, at most one a second', async () => {
    // A job whose data is not JSON (another producer's) fails inside BullMQ before any processor
    // runs: it goes back and forth between active and wait, and nothing said why.
    const queue = `nonjson${++queueNo}`;
    const raw = new Queue(queue, { connection: { host: '127.0.0.1', port: redis.port } });
    try {
      const job = await raw.add('junk', { v: 1 });
      await ((await raw.client) as unknown as { hset(...args: string[]): Promise<unknown> }).hset(`bull:${queue}:${job.id}`, 'data', 'not json{');
      const s = await server(queue);
      await waitFor(() => /spindle serve: error: .*JSON/.test(s.stderr()));
      await new Promise((resolve) => setTimeout(resolve, 3000));
      const lines = s.stderr().split('\n').filter((line) => line.startsWith('spindle serve: error: '));
      expect(lines.length).toBeGreaterThanOrEqual(1);
      expect(lines.length).toBeLessThanOrEqual(5);
      expect(await client(queue).apply(noop, [8])).toBe(8); // it serves on
    } finally {
      await raw.close();
    }
  }, 40_000);

  it('a server and a client cut from their channels subscribe again (spindle does, not ioredis)', async () => {
    const queue = `resubscribe${++queueNo}`;
    await server(queue);
    const pool = client(queue);
    expect(await pool.apply(noop, [1])).toBe(1);
    const admin = new Queue(queue, { connection: { host: '127.0.0.1', port: redis.port } });
    const raw = (await admin.client) as unknown as { client(...args: string[]): Promise<unknown>; pubsub(...args: string[]): Promise<unknown[]> };
    try {
      const [replies] = (await raw.pubsub('CHANNELS', `spindle:${queue}:replies:*`)) as string[];
      const subscribers = async () => (await raw.pubsub('NUMSUB', `spindle:${queue}:cancel`, replies!)).filter((_, i) => i % 2 === 1);
      expect(await subscribers()).toEqual([1, 1]);
      expect(Number(await raw.client('KILL', 'TYPE', 'pubsub'))).toBe(2);
      await waitFor(async () => (await subscribers()).join() === '1,1');
      const started = performance.now();
      const call = pool.apply(sleep, [20_000, 'late'], { timeout: 500 }).catch((error: Error) => error.name);
      await waitFor(async () => (await admin.getActiveCount()) === 1);
      expect(await call).toBe('TimeoutError');
      // Its server heard the cancel: the job failed at once rather than ran its 20 s.
      await waitFor(async () => (await admin.getFailedCount()) === 1, 5_000);
      expect(performance.now() - started).toBeLessThan(5_000);
    } finally {
      await admin.close();
    }
  }, 30_000);

  it('a client or server closed while its subscriber subscribes again after a reconnect does not crash its process', async () => {
    // ioredis re-subscribed a reconnected subscriber itself, with no handler on that SUBSCRIBE:
    // a close that dropped the connection before Redis answered it (here held by a proxy) crashed
    // the process with an unhandled 'Connection is closed.' rejection, after terminate() or
    // close() had resolved.
    const index = fileURLToPath(new URL('../dist/index.js', import.meta.url));
    for (const [who, open, end] of [
      ['client', `const p = new Pool({ backend: 'queue', queue: 'resub', connection, size: 1 });`, 'await p.terminate();'],
      ['server', `const h = await serve({ queue: 'resub', connection, pool: new Pool({ backend: 'native', size: 1 }) });`, 'await h.close(); await h.pool.terminate();'],
    ]) {
      const script = `
        import { createServer, connect } from 'node:net';
        import { Pool, serve } from ${JSON.stringify(index)};
        // The first SUBSCRIBE passes; its connection is then cut, and the answer to the next one held.
        let subscribes = 0, subscribed, heldBack;
        const first = new Promise((resolve) => (subscribed = resolve));
        const held = new Promise((resolve) => (heldBack = resolve));
        let firstSocket;
        const proxy = createServer((inbound) => {
          const upstream = connect(${redis.port}, '127.0.0.1');
          let hold = false;
          upstream.on('data', (chunk) => { if (!hold) inbound.write(chunk); });
          inbound.on('data', (chunk) => {
            if (!hold && /subscribe/i.test(chunk.toString('latin1'))) {
              if (++subscribes === 1) { firstSocket = inbound; setTimeout(subscribed, 100); }
              else { hold = true; heldBack(); }
            }
            upstream.write(chunk);
          });
          for (const socket of [inbound, upstream]) {
            socket.on('error', () => {});
            socket.on('close', () => { inbound.destroy(); upstream.destroy(); });
          }
        });
        await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
        const connection = { host: '127.0.0.1', port: proxy.address().port };
        ${open}
        await first;
        firstSocket.destroy();
        await held;
        ${end}
        proxy.close();
        proxy.unref();
        console.log('closed');`;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
      clearTimeout(timer);
      expect(out, who).toBe('closed\n');
      expect(code, who).toBe(0);
    }
  }, 60_000);

  it('a client whose Redis port never answers as Redis lets its process exit after close or terminate', async () => {
    // A port that accepts TCP and says nothing (redis:// at a TLS-only endpoint): the calls
    // rejected and join()/terminate() resolved, but two sockets kept the process alive for ever.
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    const index = fileURLToPath(new URL('../dist/index.js', import.meta.url));
    try {
      for (const end of ['p.close(); await p.join();', 'await p.terminate();']) {
        const script = `
          import { Pool, kernels } from ${JSON.stringify(index)};
          const p = new Pool({ backend: 'queue', queue: 'silent', connection: { host: '127.0.0.1', port: ${port}, connectTimeout: 1000 }, size: 1 });
          console.log(await p.apply(kernels.noop, [1]).then(() => 'resolved', (e) => e.message));
          ${end}
          console.log('closed');`;
        const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
        child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
        clearTimeout(timer);
        expect(out).toMatch(/^cannot reach Redis for queue 'silent' on Redis at 127\.0\.0\.1:\d+ within 1000 ms\nclosed\n$/);
        expect(code, `${end} then exit`).toBe(0);
      }
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  }, 60_000);

  it('credentials Redis refuses (WRONGPASS): serve exits 1 with one line at once, calls reject at once, a client process exits after terminate', async () => {
    // ioredis retries a refused AUTH for ever: both sides waited out connectTimeout (10 s by
    // default) to say 'cannot reach Redis'; and a server given up on while its connection was
    // still starting crashed on that connection's late 'error' event.
    const admin = new Queue('creds', { connection: { host: '127.0.0.1', port: redis.port } });
    const raw = (await admin.client) as unknown as { call(...args: string[]): Promise<unknown> };
    await raw.call('ACL', 'SETUSER', 'creds', 'on', '>right', '~*', '+@all', 'allchannels');
    await admin.close();
    const wrong = `redis://creds:wrong@127.0.0.1:${redis.port}`;
    const started = Date.now();
    const { code, stderr } = await runServer(['--queue', 'creds', '--redis', wrong], 30_000);
    expect(Date.now() - started).toBeLessThan(8000); // its connectTimeout is 10 s
    expect([code, stderr]).toEqual([1, `spindle serve: cannot use Redis for queue 'creds' on Redis at 127.0.0.1:${redis.port}: it refuses this server's credentials (WRONGPASS invalid username-password pair or user is disabled.)\n`]);
    const script = `
      const { Pool, kernels } = await import(${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)});
      const pool = new Pool({ backend: 'queue', queue: 'creds', connection: ${JSON.stringify(wrong)}, size: 1 });
      const t0 = Date.now();
      const message = await pool.apply(kernels.noop, [1]).then(() => 'resolved', (e) => e.message);
      console.log(JSON.stringify({ message, ms: Date.now() - t0 }));
      await pool.terminate();
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c));
    child.stderr.on('data', (c: Buffer) => (err += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const exit = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    clearTimeout(timer);
    expect([exit, err]).toEqual([0, '']);
    const { message, ms } = JSON.parse(out) as { message: string; ms: number };
    expect(message).toBe(`cannot use Redis for queue 'creds' on Redis at 127.0.0.1:${redis.port}: it refuses this client's credentials (WRONGPASS invalid username-password pair or user is disabled.)`);
    expect(ms).toBeLessThan(5000);
  }, 40_000);

  it('a server that cannot reach Redis at start exits 1 with one clear line', async () => {
    const { code, stderr } = await runServer(['--queue', 'x', '--redis', 'redis://127.0.0.1:1', '--connect-timeout', '1000'], 30_000);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^spindle serve: cannot reach Redis for queue 'x' on Redis at 127\.0\.0\.1:1 within 1000 ms \(.*ECONNREFUSED.*\)\n$/);
  });
});

async function waitFor(condition: () => Promise<boolean> | boolean, limitMs = 15_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
