// The backends the suites that run "on every backend" use: every real backend this build can
// open. Each entry makes a Pool on that backend; tests must not depend on which one it is,
// except through the capabilities the entry declares.

import type { Queue } from 'bullmq';
import { backendInfo } from '../../src-ts/backends/select.js';
import { Pool, type PoolOptions } from '../../src-ts/pool.js';
import { serve, type ServeHandle } from '../../src-ts/serve/serve.js';
import { RedisServer, redisMissing } from './redis.js';

/** What a conformance case may need beyond the Pool API, which not every backend gives. */
export interface Capabilities {
  /** A million tasks in one test, at the backend's per-task rate. */
  floods: boolean;
  /** SharedCounter (memory shared with the task) as a task argument. */
  sharedState: boolean;
  /**
   * The most tasks (or chunks) a case sends one at a time to check ordering or argument copies:
   * such a case costs this many of the backend's per-task round trips.
   */
  manyTasks: number;
  /** A size-1 pool starts its calls one at a time in the order they were made, as Python's does. */
  callOrder: boolean;
}

/** The capabilities a case can need outright: without one, the case is skipped on that backend. */
export type CapabilityFlag = { [K in keyof Capabilities]: Capabilities[K] extends boolean ? K : never }[keyof Capabilities];

export interface BackendUnderTest {
  name: string;
  capabilities: Capabilities;
  /** Starts what make() needs (the suite's beforeAll); rejects when the backend cannot run here but must. */
  start?(): Promise<void>;
  /** Waits until nothing a test started is still running anywhere, so no test inherits another's work. */
  quiesce?(): Promise<void>;
  /** Stops what start() started (the suite's afterAll). */
  stop?(): Promise<void>;
  make(options?: PoolOptions): Pool;
}

/** A backend left out of this run, with why: the suite reports it as a skipped case. */
export interface UnavailableBackend {
  name: string;
  reason: string;
}

const local: Capabilities = { floods: true, sharedState: true, manyTasks: 10_000, callOrder: true };

/** The backends that run in this process: what the files testing "every backend" run on. */
export function availableBackends(): BackendUnderTest[] {
  const backends: BackendUnderTest[] = [];
  if (backendInfo().native) backends.push({ name: 'native', capabilities: local, make: (options) => new Pool({ ...options, backend: 'native' }) });
  // Always available: it needs only the built worker runtime (npm test builds it first).
  backends.push({ name: 'worker', capabilities: local, make: (options) => new Pool({ ...options, backend: 'worker' }) });
  return backends;
}

/**
 * The backends that need a service started for them (the queue backend: a redis-server and a
 * server), which the conformance suite runs too; and those that cannot run here, with why.
 * Under CI=true a missing redis-server does not leave the queue out: its start() fails instead.
 */
export function serviceBackends(): { backends: BackendUnderTest[]; unavailable: UnavailableBackend[] } {
  const missing = redisMissing();
  if (missing !== undefined && process.env.CI !== 'true') return { backends: [], unavailable: [{ name: 'queue', reason: missing }] };
  return { backends: [queueBackend()], unavailable: [] };
}

/** The queue this suite's clients and its one server share. */
const QUEUE = 'conformance';

/**
 * Clients on a private redis-server, served by one in-process serve() with a 2-thread pool.
 * The pool under test is the client: its `size` is how many jobs it keeps in Redis at once,
 * whatever the server's concurrency.
 */
function queueBackend(): BackendUnderTest {
  let redis: RedisServer | undefined;
  let server: ServeHandle | undefined;
  let raw: Queue | undefined;
  return {
    name: 'queue',
    capabilities: {
      // One BullMQ job per task (per chunk for map): a million of them is minutes of Redis
      // round trips, not a test of the Pool.
      floods: false,
      // A SharedCounter cannot cross machines: the codec refuses it at the call (progress
      // counters are the exception, carried through job progress, and do run here).
      sharedState: false,
      // A job is a round trip through Redis and the server, and a size-2 client keeps only 4
      // in flight: 1 to 10 ms a task here, so 10000 of them took from 8 s to over a minute on a
      // loaded machine. A thousand still checks order and copies on every path.
      manyTasks: 1000,
      // The order in which jobs run is the servers' (their pools' sizes), not the client's size.
      callOrder: false,
    },
    async start() {
      const missing = redisMissing();
      if (missing !== undefined) throw new Error(`the queue backend must run in CI: ${missing}`);
      redis = await RedisServer.start();
      const pool = new Pool({ backend: backendInfo().native ? 'native' : 'worker', size: 2 });
      server = await serve({ queue: QUEUE, connection: redis.url, pool });
      const bull = await import('bullmq');
      raw = new bull.Queue(QUEUE, { connection: { host: '127.0.0.1', port: redis.port } });
    },
    async quiesce() {
      // Terminated clients asked the server to stop their jobs and removed the waiting ones;
      // both reach the server a moment later.
      await waitFor(async () => {
        const counts = await raw!.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
        return server!.pool.stats().running === 0 && Object.values(counts).every((n) => n === 0);
      }, 'the queue server to be idle after the test');
    },
    async stop() {
      await raw?.close();
      await server?.close();
      await server?.pool.terminate();
      await redis?.close();
    },
    make: (options) => new Pool({ ...options, backend: 'queue', queue: QUEUE, connection: redis!.url }),
  };
}

async function waitFor(condition: () => Promise<boolean>, what: string, limitMs = 10_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`waited ${limitMs} ms for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
