// closeTimeout (a bounded close(); join()) and the pool's own events ('drain', and what the
// emitter does with listeners), on every real backend. Worker events that come from the worker
// backend itself ('workerCreate', 'workerExit', 'message', 'error') are tested with it.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { AbortError } from '../src-ts/errors.js';
import { kernels } from '../src-ts/kernels/index.js';
import { Pool, type PoolOptions } from '../src-ts/pool.js';
import { task } from '../src-ts/task.js';
import { availableBackends } from './support/backends.js';

const { noop, countPrimes } = kernels;

/** Far more work than any test waits for: only cancellation ends it. */
const FOREVER: [number, number] = [0, 2e11];

const chaos = task<(...args: unknown[]) => unknown>(new URL('./fixtures/tasks/chaos-tasks.mjs', import.meta.url), 'chaos');
const slowInit = task<(ms: number) => void>(new URL('./fixtures/tasks/chaos-tasks.mjs', import.meta.url), 'init');

/** Resolves true when `promise` settles within `ms`, false otherwise. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<boolean>((resolve) => {
    timer = setTimeout(resolve, ms, false);
  });
  try {
    return await Promise.race([promise.then(() => true, () => true), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

const outcome = (promise: Promise<unknown>): Promise<string> =>
  promise.then(
    (value) => `ok ${String(value)}`,
    (error: Error) => `${error.name}: ${error.message}`,
  );

describe.each(availableBackends())('closeTimeout and drain on the $name backend', ({ name, make }) => {
  const pools: Pool[] = [];
  const pool = (options?: PoolOptions): Pool => {
    const p = make(options);
    pools.push(p);
    return p;
  };
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((p) => p.terminate()));
  });

  it('join() after close() resolves once closeTimeout has passed, and what had not finished rejects with an AbortError saying so', async () => {
    const p = pool({ size: 1, closeTimeout: 150 });
    const running = outcome(p.apply(countPrimes, FOREVER));
    const queued = outcome(p.apply(countPrimes, FOREVER));
    const done = outcome(p.apply(noop, [7]));
    p.close();
    expect(await settlesWithin(p.join(), 10_000)).toBe(true);
    for (const o of [await running, await queued, await done]) {
      expect(o).toMatch(/^AbortError: .*closeTimeout 150 ms/);
    }
    expect(p.stats().state).toBe('terminated');
    expect(p.stats().cancelled).toBe(3);
  });

  it('a close that finishes in time is an ordinary close: results arrive, nothing is aborted', async () => {
    const p = pool({ size: 2, closeTimeout: 60_000 });
    const results = Promise.all([p.apply(noop, [1]), p.map(noop, [1, 2, 3])]);
    p.close();
    expect(await settlesWithin(p.join(), 10_000)).toBe(true);
    expect(await results).toEqual([1, [1, 2, 3]]);
    expect(p.stats()).toMatchObject({ state: 'closed', cancelled: 0, failed: 0 });
  });

  it('a map still running at the deadline rejects as a whole with the close-timeout AbortError', async () => {
    const p = pool({ size: 1, closeTimeout: 100 });
    const mapped = p.starmap(countPrimes, [FOREVER, FOREVER], { chunkSize: 1 }).then(
      () => 'resolved',
      (error: Error) => error,
    );
    p.close();
    await p.join();
    const error = await mapped;
    expect(error).toBeInstanceOf(AbortError);
    expect((error as Error).message).toMatch(/closeTimeout 100 ms/);
  });

  it("'drain' fires once the calls that waited or queued have all started, and not for a pool that never had a backlog", async () => {
    const p = pool({ size: 1, maxQueue: 2 });
    let drains = 0;
    p.on('drain', () => {
      drains++;
      // When it fires there is room: nothing waits, nothing accepted is unstarted.
      expect(p.stats()).toMatchObject({ queued: 0, waiting: 0 });
    });
    await p.apply(noop, [1]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(drains).toBe(0);
    const calls = Array.from({ length: 12 }, (_, i) => p.apply(noop, [i]));
    expect(p.stats().waiting + p.stats().queued).toBeGreaterThan(0);
    expect(await Promise.all(calls)).toEqual(Array.from({ length: 12 }, (_, i) => i));
    await new Promise((resolve) => setImmediate(resolve));
    expect(drains).toBeGreaterThanOrEqual(1);
  });

  it('a throwing listener neither breaks the pool nor stops the listeners after it', async () => {
    const p = pool({ size: 1, maxQueue: 1 });
    const seen: string[] = [];
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown): void => {
      uncaught.push(error);
    };
    // vitest reports uncaught exceptions as failures: take this one ourselves.
    const previous = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    process.on('uncaughtException', onUncaught);
    try {
      p.once('drain', () => {
        seen.push('first');
        throw new Error('listener bug');
      });
      p.once('drain', () => seen.push('second'));
      const calls = Array.from({ length: 6 }, (_, i) => p.apply(noop, [i]));
      expect(await Promise.all(calls)).toHaveLength(6);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(seen).toEqual(['first', 'second']);
      expect(uncaught).toHaveLength(1);
      expect(await p.apply(noop, [42])).toBe(42);
    } finally {
      process.removeListener('uncaughtException', onUncaught);
      for (const listener of previous) process.on('uncaughtException', listener);
    }
  });

  it.runIf(name === 'worker')('closeTimeout also bounds a worker that is still starting (an initializer that never returns)', async () => {
    const p = pool({ size: 1, closeTimeout: 200, initializer: slowInit, initArgs: [2 ** 31 - 1] });
    p.close();
    expect(await settlesWithin(p.join(), 10_000)).toBe(true);
  });

  it.runIf(name === 'worker')('a task that ignores cancellation is stopped at the deadline', async () => {
    const p = pool({ size: 1, closeTimeout: 150, cancelGrace: 50 });
    const spinning = outcome(p.apply(chaos, [null, 'spin', 'x', 0]));
    p.close();
    expect(await settlesWithin(p.join(), 10_000)).toBe(true);
    expect(await spinning).toMatch(/^AbortError: .*closeTimeout/);
  });
});

describe('closeTimeout and process exit', () => {
  it('an armed closeTimeout does not keep the process alive once join() has resolved', () => {
    const dist = new URL('../dist/index.js', import.meta.url).href;
    const script = `
      const { Pool, kernels } = await import(${JSON.stringify(dist)});
      const pool = new Pool({ size: 1, closeTimeout: 60000 });
      console.log(await pool.apply(kernels.noop, [5]));
      pool.close();
      await pool.join();
      console.log('joined');
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000, cwd: fileURLToPath(new URL('..', import.meta.url)) });
    expect({ status: child.status, stdout: child.stdout, stderr: child.stderr }).toMatchObject({ status: 0, stdout: '5\njoined\n' });
  });

  it("terminate() keeps the process alive until it settles, though a task's reply comes in meanwhile", () => {
    // The reply, processed after terminate() began, left the worker with no work, and it was
    // unref'd while its thread, blocked outside JS, still took a while to stop: the process
    // exited with code 13 (unsettled top-level await) before the line after terminate().
    const dist = new URL('../dist/index.js', import.meta.url).href;
    const events = new URL('./fixtures/tasks/events.mjs', import.meta.url).href;
    const script = `
      const { Pool, task } = await import(${JSON.stringify(dist)});
      const pool = new Pool({ backend: 'worker', size: 1 });
      await pool.apply(task(new URL(${JSON.stringify(events)}), 'who'), []);
      const result = pool.apply(task(new URL(${JSON.stringify(events)}), 'blockLater'), [500]).catch((e) => e.name);
      await new Promise((resolve) => setImmediate(resolve));
      const until = Date.now() + 100;
      while (Date.now() < until); // the worker replies meanwhile; its reply waits in the queue
      const terminated = pool.terminate();
      console.log(await result);
      await terminated;
      console.log('terminated');
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect({ status: child.status, stdout: child.stdout, stderr: child.stderr }).toEqual({ status: 0, stdout: 'AbortError\nterminated\n', stderr: '' });
  });
});

describe('the worker backend through the Pool: its options and its events', () => {
  const events = new URL('./fixtures/tasks/events.mjs', import.meta.url);
  const controls = new URL('./fixtures/tasks/controls.mjs', import.meta.url);
  const pools: Pool[] = [];
  const pool = (options?: PoolOptions): Pool => {
    const p = new Pool({ size: 1, ...options, backend: 'worker' });
    pools.push(p);
    return p;
  };
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((p) => p.terminate()));
  });

  it('the worker controls reach the workers: workerData, env, argv', async () => {
    const p = pool({ workerData: { answer: 42 }, env: { SPINDLE_POOL_TEST: 'yes' }, argv: ['--from-pool'] });
    const data = (await p.apply(task(controls, 'data'), [])) as { imported: unknown };
    expect(data.imported).toEqual({ answer: 42 });
    expect(await p.apply(task(controls, 'envVar'), ['SPINDLE_POOL_TEST'])).toBe('yes');
    expect(((await p.apply(task(controls, 'argv'), [])) as string[]).at(-1)).toBe('--from-pool');
  });

  it("'workerCreate' and 'workerExit' come from the pool, with the worker's threadId and why it exited", async () => {
    const p = pool({ maxTasksPerWorker: 1 });
    const created: number[] = [];
    const exited: { threadId: number; reason: string }[] = [];
    p.on('workerCreate', ({ threadId }) => created.push(threadId));
    p.on('workerExit', ({ threadId, reason }) => exited.push({ threadId, reason }));
    const first = await p.apply(task(events, 'who'), []);
    const second = await p.apply(task(events, 'who'), []);
    p.close();
    await p.join();
    expect(first).not.toBe(second);
    expect(created.slice(0, 2)).toEqual([first, second]);
    expect(exited).toContainEqual({ threadId: first, reason: 'recycled' });
    expect(exited.map((e) => e.threadId).sort()).toEqual([...created].sort());
  });

  it("what a task posts on parentPort is the pool's 'message' event", async () => {
    const p = pool();
    const got: unknown[] = [];
    p.on('message', (value, info) => got.push([value, info.threadId]));
    const threadId = await p.apply(task(events, 'post'), [['a', { b: 1 }]]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(got).toEqual([
      ['a', threadId],
      [{ b: 1 }, threadId],
    ]);
  });

  it("an error in an idle worker is the pool's 'error' event, once, and the pool keeps working", async () => {
    const p = pool();
    const errors: Error[] = [];
    p.on('error', (error) => errors.push(error));
    await p.apply(task(events, 'throwLater'), ['idle boom', 5]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(errors).toHaveLength(1);
    expect(errors[0]!.name).toBe('WorkerCrashError');
    expect((errors[0]!.cause as Error).message).toBe('idle boom');
    expect(await p.apply(kernels.noop, [3])).toBe(3);
  });

  it('with no error listener, such an error is a process warning, not a crash', () => {
    const dist = new URL('../dist/index.js', import.meta.url).href;
    const script = `
      const { Pool, task } = await import(${JSON.stringify(dist)});
      const pool = new Pool({ backend: 'worker', size: 1 });
      await pool.apply(task(new URL(${JSON.stringify(events.href)}), 'throwLater'), ['nobody listens', 5]);
      await new Promise((resolve) => setTimeout(resolve, 300));
      console.log('still alive', await pool.apply(task(new URL(${JSON.stringify(events.href)}), 'who'), []) > 0);
      await pool.terminate();
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect({ status: child.status, stdout: child.stdout }).toEqual({ status: 0, stdout: 'still alive true\n' });
    expect(child.stderr).toMatch(/nobody listens/);
  });
});
