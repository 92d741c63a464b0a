// AsyncLocalStorage across the pool (issue #13): a callback or errorCallback runs in the async
// context of the call that passed it, not in that of whatever event settled the task (a worker's
// reply, a native completion, an abort, someone's terminate()); and code after `await` on any of
// the pool's promises keeps its own context. On every backend.
//
// Each pool is made, and its threads started, outside any context, so an event that settles a
// task carries no caller's store of its own: a callback that runs in the settling event's
// context sees another store than its caller's.

import { AsyncLocalStorage } from 'node:async_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kernels } from '../src-ts/kernels/index.js';
import type { Pool } from '../src-ts/pool.js';
import { availableBackends } from './support/backends.js';

const { noop, countPrimes, sha256File } = kernels;
const MISSING = '/nonexistent/spindle-async-context';
/** Far more work than any test waits for: only cancellation ends it. */
const FOREVER: [number, number] = [0, 2e11];

const als = new AsyncLocalStorage<string>();
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** A callback that records the store it runs in, and a promise of that store. */
function recorder(): { callback: (value: unknown) => void; seen: Promise<string | undefined> } {
  let resolve!: (store: string | undefined) => void;
  const seen = new Promise<string | undefined>((r) => (resolve = r));
  return { callback: () => resolve(als.getStore()), seen };
}

describe.each(availableBackends())('$name backend', ({ make }) => {
  let pool: Pool;
  beforeAll(async () => {
    pool = make({ size: 2 });
    // Start every thread now, outside any context.
    await pool.map(noop, range(16), { chunkSize: 1 });
  });
  afterAll(() => pool.terminate());

  it("applyAsync's callbacks run in their caller's context, each its own, however the replies are batched", async () => {
    const calls = range(60).map((i) => {
      const ok = recorder();
      const failed = recorder();
      als.run(`ok ${i}`, () => pool.applyAsync(noop, [i], { callback: ok.callback }));
      als.run(`failed ${i}`, () => pool.applyAsync(sha256File, [MISSING], { errorCallback: failed.callback }));
      return Promise.all([ok.seen, failed.seen]);
    });
    expect(await Promise.all(calls)).toEqual(range(60).map((i) => [`ok ${i}`, `failed ${i}`]));
  });

  it("submit's callbacks run in their caller's context", async () => {
    const ok = recorder();
    const failed = recorder();
    await als.run('submitted', () => pool.submit(noop, [1], { callback: ok.callback }));
    await als.run('submitted and failed', () => pool.submit(sha256File, [MISSING], { errorCallback: failed.callback }));
    expect(await ok.seen).toBe('submitted');
    expect(await failed.seen).toBe('submitted and failed');
  });

  it("mapAsync's and starmapAsync's callbacks run in their caller's context", async () => {
    const mapped = recorder();
    const starred = recorder();
    const failed = recorder();
    als.run('mapAsync', () => pool.mapAsync(noop, range(20), { chunkSize: 3, callback: mapped.callback }));
    als.run('starmapAsync', () => pool.starmapAsync(countPrimes, [[0, 10], [10, 20]], { callback: starred.callback }));
    als.run('mapAsync failed', () => pool.mapAsync(sha256File, [MISSING, MISSING], { errorCallback: failed.callback }));
    expect(await Promise.all([mapped.seen, starred.seen, failed.seen])).toEqual(['mapAsync', 'starmapAsync', 'mapAsync failed']);
  });

  it("a callback's exception surfaces as an uncaughtException, in the callback's context; the callbacks behind it still run", async () => {
    const saved = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    const caught: unknown[] = [];
    process.on('uncaughtException', (error) => caught.push([error, als.getStore()]));
    const oops = new Error('callback bug');
    try {
      const first = als.run('thrower', () => pool.applyAsync(noop, [1], { callback: () => { throw oops; } }));
      const second = recorder();
      als.run('behind', () => pool.applyAsync(noop, [2], { callback: second.callback }));
      expect(await second.seen).toBe('behind');
      expect(await first.get()).toBe(1);
      await new Promise((resolve) => setImmediate(resolve));
      expect(caught).toEqual([[oops, 'thrower']]);
    } finally {
      process.removeAllListeners('uncaughtException');
      for (const listener of saved) process.on('uncaughtException', listener);
    }
  });

  it("an errorCallback set off by an abort in another context still runs in its caller's", async () => {
    const failed = recorder();
    const controller = new AbortController();
    const result = als.run('caller', () => pool.applyAsync(countPrimes, FOREVER, { signal: controller.signal, errorCallback: failed.callback }));
    als.run('aborter', () => controller.abort());
    expect(await failed.seen).toBe('caller');
    await result.wait();
  });

  it("code after await keeps its context: apply, map, starmap, imap, imapUnordered, submit, get(), wait()", async () => {
    const seen: unknown[] = [];
    const check = (label: string, step: string): void => {
      const store = als.getStore();
      if (store !== label) seen.push({ label, step, store });
    };
    const run = (i: number) =>
      als.run(`task ${i}`, async () => {
        const label = `task ${i}`;
        await pool.apply(noop, [i]);
        check(label, 'apply');
        await pool.apply(sha256File, [MISSING]).catch(() => {});
        check(label, 'apply rejected');
        await pool.map(noop, range(10), { chunkSize: 2 });
        check(label, 'map');
        await pool.starmap(countPrimes, [[0, 100], [100, 200]]);
        check(label, 'starmap');
        for await (const _ of pool.imap(noop, range(6), { chunkSize: 2 })) check(label, 'imap body');
        check(label, 'imap');
        for await (const _ of pool.imapUnordered(noop, (async function* () { yield 1; yield 2; })())) check(label, 'imapUnordered body');
        check(label, 'imapUnordered');
        const submitted = await pool.submit(noop, [i]);
        check(label, 'submit');
        await submitted.get();
        check(label, 'get()');
        await pool.applyAsync(sha256File, [MISSING]).get().catch(() => {});
        check(label, 'get() rejected');
        await pool.mapAsync(noop, range(4)).wait();
        check(label, 'wait()');
      });
    await Promise.all(range(20).map(run));
    expect(seen).toEqual([]);
  });
});

describe.each(availableBackends())('$name backend, settled by terminate()', ({ make }) => {
  it("errorCallbacks of calls that terminate() cancels run in their callers' contexts, not terminate()'s", async () => {
    const pool = make({ size: 1 });
    await pool.apply(noop, [0]);
    const running = recorder();
    const queued = recorder();
    als.run('running', () => pool.applyAsync(countPrimes, FOREVER, { errorCallback: running.callback }));
    als.run('queued', () => pool.applyAsync(countPrimes, FOREVER, { errorCallback: queued.callback }));
    await als.run('terminator', () => pool.terminate());
    expect(await Promise.all([running.seen, queued.seen])).toEqual(['running', 'queued']);
  });
});
