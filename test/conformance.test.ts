// End to end on every real backend: the same expectations whichever backend runs the kernels.
// Nothing here may depend on the backend's kind; backend-specific tests live elsewhere. A case
// that needs what not every backend gives names the capability (support/backends.ts says which
// backend lacks it, and why).

import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants as perfConstants, PerformanceObserver } from 'node:perf_hooks';
import { runInNewContext } from 'node:vm';
import { threadId } from 'node:worker_threads';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AsyncResult } from '../src-ts/async-result.js';
import { AbortError, PoolClosedError, PoolStateError, TimeoutError } from '../src-ts/errors.js';
import { kernels } from '../src-ts/kernels/index.js';
import { noContext, type Kernel } from '../src-ts/kernels/types.js';
import type { Pool, PoolOptions } from '../src-ts/pool.js';
import { SharedCounter } from '../src-ts/shared/counter.js';
import { availableBackends, serviceBackends, type CapabilityFlag } from './support/backends.js';

const { noop, increment, countPrimes, sha256File } = kernels;

/** Far more work than any test waits for: only cancellation ends it. */
const FOREVER: [number, number] = [0, 2e11];

/** The kernel's JS twin, run directly. */
const twin = <R>(kernel: Kernel<any, R>, args: unknown[]): R => kernel.run(kernel.validate(args), noContext);

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** Resolves with how long `promise` took to settle, in ms; fails past `limitMs`. */
async function settlesWithin(promise: Promise<unknown>, limitMs: number): Promise<number> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not settle within ${limitMs} ms`)), limitMs);
  });
  try {
    await Promise.race([promise.then(() => {}, () => {}), deadline]);
  } finally {
    clearTimeout(timer);
  }
  return performance.now() - started;
}

const services = serviceBackends();
const backends = [...availableBackends(), ...services.backends];

for (const { name, reason } of services.unavailable) it.skip(`conformance on the ${name} backend: ${reason}`, () => {});

describe.each(backends)('conformance on the $name backend', ({ name, capabilities, start, quiesce, stop, make }) => {
  /** `it`, or `it.skip` where this backend lacks the capability. */
  const itNeeds = (capability: CapabilityFlag) => (capabilities[capability] ? it : it.skip);
  const pools: Pool[] = [];
  const open = (options?: PoolOptions): Pool => {
    const pool = make({ size: 2, ...options });
    pools.push(pool);
    return pool;
  };

  beforeAll(async () => {
    await start?.();
  }, 30_000);

  afterEach(async () => {
    await Promise.all(pools.splice(0).map((pool) => pool.terminate()));
    await quiesce?.();
  });

  afterAll(async () => {
    await stop?.();
  });

  describe('results', () => {
    it('apply computes the oracles', async () => {
      const pool = open();
      expect(await pool.apply(countPrimes, [0, 1e6])).toBe(78498);
      expect(await pool.apply(countPrimes, [0, 1e7])).toBe(664579);
      expect(await pool.apply(noop, [7.5])).toBe(7.5);
      expect(await pool.apply(noop, [])).toBe(0);
    });

    it('gives results identical to the JS twins', async () => {
      const pool = open();
      const ranges: [number, number][] = [
        [0, 0],
        [0, 2],
        [2, 3],
        [0, 100],
        [999_983, 1_000_003],
        [123_456, 7_654_321],
        [1e9, 1e9 + 1e6],
        [1e12, 1e12 + 2e5],
        [2 ** 40 - 1e5, 2 ** 40],
      ];
      const results = await Promise.all(ranges.map((r) => pool.apply(countPrimes, r)));
      expect(results).toEqual(ranges.map((r) => twin(countPrimes, r)));
      const values = [0, -1.5, 1e300, -0, Number.MIN_VALUE];
      expect(await pool.map(noop, values)).toEqual(values.map((v) => twin(noop, [v])));
    });

    it('a queued or waiting apply runs with its arguments as they were at the call', async () => {
      // Capacity, queue and waiters all in play: the pool's own queue is 2 deep, so most of
      // these calls wait, and each caller's array is changed (and reused) right after the call.
      const pool = open({ maxQueue: 2 });
      const args: unknown[] = [0];
      const pair: unknown[] = [0, 0];
      const singles: Promise<number>[] = [];
      const pairs: Promise<number>[] = [];
      const n = Math.min(3000, capabilities.manyTasks);
      for (let i = 0; i < n; i++) {
        args[0] = i;
        singles.push(pool.apply(noop, args as [number]));
        args[0] = -1;
        pair[0] = i;
        pair[1] = i + 50;
        pairs.push(pool.apply(countPrimes, pair as [number, number]));
        pair[0] = pair[1] = 7;
      }
      expect(await Promise.all(singles)).toEqual(range(n));
      expect(await Promise.all(pairs)).toEqual(range(n).map((i) => twin(countPrimes, [i, i + 50])));
    });

    it('a failing apply rejects its own promise with the kernel error, and nothing goes unhandled', async () => {
      const pool = open({ maxQueue: 2 });
      const missing = join(tmpdir(), `spindle-conformance-${process.pid}-no-such-file`);
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown): void => {
        unhandled.push(reason);
      };
      process.on('unhandledRejection', onUnhandled);
      try {
        // The kernel fails where it runs (the file is opened there); the noops around it still resolve.
        const calls = range(40).map((i) => (i % 2 === 0 ? pool.apply(noop, [i]) : pool.apply(sha256File, [missing])));
        const outcomes = await Promise.allSettled(calls);
        const rejected = outcomes.filter((o) => o.status === 'rejected') as PromiseRejectedResult[];
        expect(outcomes.filter((o, i) => i % 2 === 0).every((o, i) => o.status === 'fulfilled' && o.value === 2 * i)).toBe(true);
        expect(rejected.length).toBe(20);
        for (const r of rejected) {
          // A system error, shaped as Node's fs errors are, on every backend (the queue's wire
          // carries errno, code, syscall and path beside name, message and stack).
          expect(r.reason).toBeInstanceOf(Error);
          expect(r.reason).toMatchObject({ name: 'Error', errno: -constants.errno.ENOENT, code: 'ENOENT', syscall: 'open', path: missing, message: `ENOENT: no such file or directory, open '${missing}'` });
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
        expect(unhandled).toEqual([]);
      } finally {
        process.off('unhandledRejection', onUnhandled);
      }
    });

    it('applyAsync and submit give AsyncResults', async () => {
      const pool = open();
      const result = pool.applyAsync(countPrimes, [0, 1e6]);
      expect(result).toBeInstanceOf(AsyncResult);
      expect(await result.get()).toBe(78498);
      expect(result.ready() && result.successful()).toBe(true);
      const submitted = await pool.submit(countPrimes, [0, 1e5]);
      expect('then' in submitted).toBe(false);
      expect(await submitted.get()).toBe(9592);
      await submitted.wait();
    });

    it('sort sorts the caller\'s array and resolves with it; argsort gives its indices (single calls and a map)', async () => {
      // The queue backend sends a copy to its server: the sorted copy must come back into the
      // caller's array. (It sent sort's validated tuple, which a server's validate refused.)
      const pool = open();
      const values = [3.5, -0, NaN, 0, -Infinity, 2, 1e-310, -7];
      const array = Float64Array.from(values);
      expect(await pool.apply(kernels.sort, [array])).toBe(array);
      const want = Float64Array.from(values).sort();
      expect(Array.from(array).map((x) => Object.is(x, -0) ? '-0' : x)).toEqual(Array.from(want).map((x) => Object.is(x, -0) ? '-0' : x));
      const input = Int32Array.from([5, -1, 5, 0, -9]);
      expect(Array.from(await pool.apply(kernels.argsort, [input]))).toEqual([4, 1, 3, 0, 2]);
      expect(Array.from(input)).toEqual([5, -1, 5, 0, -9]);
      const arrays = [Uint8Array.from([3, 1, 2]), Uint8Array.from([9, 8])];
      const sorted = await pool.map(kernels.sort, arrays, { chunkSize: 2 });
      expect(sorted[0]).toBe(arrays[0]);
      expect(sorted[1]).toBe(arrays[1]);
      expect(arrays.map((a) => Array.from(a))).toEqual([[1, 2, 3], [8, 9]]);
    });

    // Node 22 has ArrayBuffer.prototype.transfer() and did not stop it for a buffer marked
    // untransferable: it freed the memory a native sort was writing (SIGSEGV). Node 18 and 20
    // have no transfer(); the matrix runs this on 22 and 24.
    const transferable = typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer === 'function';
    (transferable ? it : it.skip)('an ordinary array given to sort or argsort stays where it is: its transfer() throws, even while the sort runs', async () => {
      const pool = open();
      const n = 1 << 20;
      const array = new Float64Array(n);
      for (let i = 0; i < n; i++) array[i] = Math.random();
      const want = array.slice().sort();
      const buffer = array.buffer as ArrayBuffer & { transfer(length?: number): ArrayBuffer; transferToFixedLength(length?: number): ArrayBuffer };
      const sorting = pool.apply(kernels.sort, [array]);
      expect(() => buffer.transfer(8)).toThrow(TypeError);
      expect(() => buffer.transferToFixedLength()).toThrow(TypeError);
      expect(await sorting).toBe(array);
      let mismatches = 0;
      for (let i = 0; i < n; i++) if (array[i] !== want[i]) mismatches++;
      expect(mismatches).toBe(0);
      const keys = Int32Array.from([3, 1, 2]);
      expect(Array.from(await pool.apply(kernels.argsort, [keys]))).toEqual([1, 2, 0]);
      expect(() => (keys.buffer as typeof buffer).transfer()).toThrow(TypeError);
      // Buffers spindle never took are untouched by the guard.
      const other = new ArrayBuffer(16) as typeof buffer;
      expect(other.transfer(8).byteLength).toBe(8);
    });

    (transferable ? it : it.skip)("an array made in another realm (vm) stays where it is too: its realm's transfer() throws while the sort runs", async () => {
      const pool = open();
      const array = runInNewContext('Float64Array.from({ length: 1 << 20 }, Math.random)') as Float64Array;
      const want = Array.from(array).sort((a, b) => a - b);
      const sorting = pool.apply(kernels.sort, [array]);
      // Its buffer's prototype is the other realm's ArrayBuffer.prototype (SIGSEGV on Node 22).
      // The other realm's TypeError where V8 refuses (Node 24), spindle's elsewhere: matched by message.
      expect(() => (array.buffer as ArrayBuffer & { transfer(length?: number): ArrayBuffer }).transfer(8)).toThrow(/not detachable/);
      expect(await sorting).toBe(array);
      expect(Array.from(array)).toEqual(want);
    });

    const byteStreams = typeof (globalThis as { ReadableByteStreamController?: unknown }).ReadableByteStreamController === 'function';
    (byteStreams ? it : it.skip)("a byte stream's enqueue() and a BYOB read() refuse a sorted array's buffer, as Node 24 does: they detached it (SIGSEGV on Node 20 and 22)", async () => {
      const pool = open();
      const array = Float64Array.from([3, 1, 2]);
      await pool.apply(kernels.sort, [array]);
      expect(() => new ReadableStream({ type: 'bytes', start: (controller) => controller.enqueue(new Uint8Array(array.buffer)) })).toThrow(TypeError);
      const reader = new ReadableStream({ type: 'bytes' }).getReader({ mode: 'byob' });
      await expect((async () => reader.read(new Uint8Array(array.buffer)))()).rejects.toThrow(TypeError);
      expect(Array.from(array)).toEqual([1, 2, 3]);
      // Streams of other buffers are untouched.
      const other = new Uint8Array([7, 8]);
      const stream = new ReadableStream({ type: 'bytes', start: (controller) => (controller.enqueue(other), controller.close()) });
      expect(Array.from((await stream.getReader().read()).value!)).toEqual([7, 8]);
    });

    it('marking arrays costs no garbage collection: 200 small sorts run without a full GC each', async () => {
      // A probe that asked V8 whether a buffer could be detached (a transfer() too large to
      // allocate) cost several full GCs per sort on Node 24: about 15 ms a call.
      const pool = open();
      const majors: number[] = [];
      const observer = new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) if ((entry as { detail?: { kind?: number } }).detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) majors.push(1);
      });
      observer.observe({ entryTypes: ['gc'] });
      for (let i = 0; i < 200; i++) await pool.apply(kernels.sort, [Float64Array.from([3, 1, 2])]);
      await new Promise((resolve) => setTimeout(resolve, 50)); // gc entries arrive asynchronously
      observer.disconnect();
      expect(majors.length).toBeLessThan(20);
    });

    it('a view of a WebAssembly.Memory sorts in place, and the memory grows afterwards (Node 24 aborted on grow())', async () => {
      const pool = open();
      const wasm = (globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number; maximum: number }) => { buffer: ArrayBuffer; grow(pages: number): number } } }).WebAssembly;
      const memory = new wasm.Memory({ initial: 1, maximum: 4 });
      const view = new Float64Array(memory.buffer, 0, 4);
      view.set([4, 2, 3, 1]);
      expect(Array.from((await pool.apply(kernels.sort, [view])) as Float64Array)).toEqual([1, 2, 3, 4]);
      expect(Array.from(await pool.apply(kernels.argsort, [new Float64Array(memory.buffer, 8, 3)]))).toEqual([0, 1, 2]);
      expect(memory.grow(1)).toBe(1);
      expect(new Float64Array(memory.buffer, 0, 4)).toEqual(Float64Array.from([1, 2, 3, 4]));
    });

    itNeeds('callOrder')('a size-1 pool runs its calls in the order they were made, whatever their shapes', async () => {
      // The native backend packs plain calls until a microtask, and a map chunk or a call with
      // options made in the same turn went to the threads ahead of them.
      const pool = open({ size: 1 });
      const settled: string[] = [];
      const note = (label: string) => () => void settled.push(label);
      const calls = [
        pool.apply(countPrimes, [0, 2e7]).then(note('plain countPrimes')),
        pool.map(noop, [1, 2, 3]).then(note('map')),
        pool.apply(noop, [1]).then(note('plain noop')),
        pool.apply(countPrimes, [0, 10], { signal: new AbortController().signal }).then(note('with a signal')),
        pool.mapAsync(kernels.sha256, ['a']).wait().then(note('mapAsync')),
        pool.apply(noop, [2]).then(note('plain noop again')),
      ];
      await Promise.all(calls);
      expect(settled).toEqual(['plain countPrimes', 'map', 'plain noop', 'with a signal', 'mapAsync', 'plain noop again']);
    });

    it('map and starmap return results in input order', async () => {
      const pool = open();
      const items = range(Math.min(10_000, capabilities.manyTasks));
      expect(await pool.map(noop, items)).toEqual(items);
      expect(await pool.map(noop, items, { chunkSize: 1 })).toEqual(items);
      expect(await pool.map(noop, items, { chunkSize: 333 })).toEqual(items);
      expect(await pool.map(noop, new Set([3, 1, 2]))).toEqual([3, 1, 2]);
      expect(await pool.map(noop, [])).toEqual([]);
      const ranges = range(10).map((i): [number, number] => [i * 1e6, (i + 1) * 1e6]);
      const counts = await pool.starmap(countPrimes, ranges);
      expect(counts[0]).toBe(78498);
      expect(counts.reduce((a, b) => a + b, 0)).toBe(664579);
      expect(counts).toEqual(ranges.map((r) => twin(countPrimes, r)));
    });

    it('mapAsync and starmapAsync call back with the whole result', async () => {
      const pool = open();
      const seen: unknown[] = [];
      const mapped = pool.mapAsync(noop, [1, 2, 3], { callback: (r) => seen.push(r) });
      const starred = pool.starmapAsync(countPrimes, [[0, 10], [10, 20]], { callback: (r) => seen.push(r) });
      expect(await mapped.get()).toEqual([1, 2, 3]);
      expect(await starred.get()).toEqual([4, 4]);
      expect(seen).toContainEqual([1, 2, 3]);
      expect(seen).toContainEqual([4, 4]);
    });

    it('the imap family yields every result, lazily, in the promised order', async () => {
      const pool = open();
      const collect = async <T>(it: AsyncIterable<T>): Promise<T[]> => {
        const out: T[] = [];
        for await (const v of it) out.push(v);
        return out;
      };
      function* numbers(n: number) {
        for (let i = 0; i < n; i++) yield i;
      }
      async function* ranges() {
        for (let i = 0; i < 10; i++) yield [i * 1e6, (i + 1) * 1e6] as [number, number];
      }
      expect(await collect(pool.imap(noop, numbers(5000), { chunkSize: 7 }))).toEqual(range(5000));
      expect(await collect(pool.imap(noop, numbers(300)))).toEqual(range(300));
      expect((await collect(pool.imapUnordered(noop, numbers(3000), { chunkSize: 5, window: 3 }))).sort((a, b) => a - b)).toEqual(range(3000));
      const ordered = await collect(pool.istarmap(countPrimes, ranges()));
      expect(ordered).toEqual(await pool.starmap(countPrimes, await collect(ranges())));
      const unordered = await collect(pool.istarmapUnordered(countPrimes, ranges(), { chunkSize: 3 }));
      expect(unordered.reduce((a, b) => a + b, 0)).toBe(664579);
    });

    it('an imap consumer that breaks early cancels the rest and closes the source', async () => {
      const pool = open();
      let closed = false;
      function* work() {
        try {
          yield [0, 10] as [number, number];
          for (;;) yield FOREVER;
        } finally {
          closed = true;
        }
      }
      for await (const count of pool.istarmap(countPrimes, work())) {
        expect(count).toBe(4);
        break;
      }
      expect(closed).toBe(true);
      pool.close();
      await settlesWithin(pool.join(), 1000);
      expect(pool.stats()).toMatchObject({ running: 0, queued: 0, completed: 1 });
      expect(pool.stats().cancelled).toBeGreaterThan(0);
    });
  });

  describe('callbacks', () => {
    it('run on the main thread, one at a time, before get() resolves', async () => {
      const pool = open();
      let active = 0;
      let overlapped = false;
      const threads = new Set<number>();
      const order: string[] = [];
      const callback = (value: number) => {
        if (active++ > 0) overlapped = true;
        threads.add(threadId);
        order.push(`callback ${value}`);
        active--;
      };
      const results = range(200).map((i) => pool.applyAsync(noop, [i], { callback }));
      await Promise.all(results.map((r) => r.get().then((v) => order.push(`get ${v}`))));
      expect(threads).toEqual(new Set([threadId]));
      expect(overlapped).toBe(false);
      for (let i = 0; i < 200; i++) expect(order.indexOf(`callback ${i}`)).toBeLessThan(order.indexOf(`get ${i}`));
      const failed = pool.applyAsync(countPrimes, FOREVER, {
        timeout: 20,
        errorCallback: (error) => {
          threads.add(threadId);
          order.push(`errorCallback ${(error as Error).name}`);
        },
      });
      await expect(failed.get()).rejects.toBeInstanceOf(TimeoutError);
      expect(order.at(-1)).toBe('errorCallback TimeoutError');
      expect(threads).toEqual(new Set([threadId]));
    });
  });

  describe('cancellation', () => {
    it('an aborted long task settles at once and the backend stops it within 1 s', async () => {
      const pool = open();
      const controller = new AbortController();
      const running = pool.apply(countPrimes, FOREVER, { signal: controller.signal });
      await new Promise((resolve) => setTimeout(resolve, 100));
      const reason = new Error('enough');
      controller.abort(reason);
      await expect(running).rejects.toMatchObject({ name: 'AbortError', cause: reason });
      pool.close();
      expect(await settlesWithin(pool.join(), 1000)).toBeLessThan(1000);
      expect(pool.stats()).toMatchObject({ running: 0, cancelled: 1 });
    });

    it('a long task past its timeout rejects with TimeoutError and the backend stops it within 1 s', async () => {
      const pool = open();
      const started = performance.now();
      await expect(pool.apply(countPrimes, FOREVER, { timeout: 200 })).rejects.toBeInstanceOf(TimeoutError);
      const elapsed = performance.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(190);
      expect(elapsed).toBeLessThan(1200);
      pool.close();
      await settlesWithin(pool.join(), 1000);
      expect(pool.stats().running).toBe(0);
    });

    it('a map aborted midway cancels its chunks', async () => {
      const pool = open();
      const controller = new AbortController();
      const ranges = range(40).map((): [number, number] => FOREVER);
      const mapped = pool.starmap(countPrimes, ranges, { chunkSize: 1, signal: controller.signal });
      setTimeout(() => controller.abort(), 50);
      await expect(mapped).rejects.toBeInstanceOf(AbortError);
      pool.close();
      await settlesWithin(pool.join(), 1000);
    });

    it('AsyncResult.get(timeout) gives up waiting while the task keeps running', async () => {
      const pool = open();
      const result = pool.applyAsync(countPrimes, FOREVER);
      await expect(result.get(50)).rejects.toBeInstanceOf(TimeoutError);
      expect(result.ready()).toBe(false);
      expect(pool.stats().running).toBe(1);
    });

    it('terminate() settles running and queued tasks within 1 s', async () => {
      const pool = open({ maxQueue: 100 });
      // More tasks than the backend takes at once, so that some wait in the pool's queue.
      const capacity = (pool.stats().backendInfo as { capacity: number }).capacity;
      const calls = range(capacity + 50).map(() => pool.apply(countPrimes, FOREVER));
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(pool.stats().queued).toBeGreaterThan(0);
      const started = performance.now();
      const terminated = pool.terminate();
      const outcomes = await Promise.allSettled(calls);
      expect(outcomes.every((o) => o.status === 'rejected' && (o.reason as Error).name === 'AbortError')).toBe(true);
      await settlesWithin(terminated, 1000);
      expect(performance.now() - started).toBeLessThan(1000);
      expect(pool.stats()).toMatchObject({ state: 'terminated', running: 0, queued: 0, waiting: 0 });
      await pool.join();
    });
  });

  describe('floods', () => {
    itNeeds('floods')('a million noop tasks each settle exactly once (submit loop)', async () => {
      const pool = open();
      const n = 1_000_000;
      const settlements = new Uint8Array(n);
      let wrong = 0;
      const callback = (value: number) => {
        settlements[value]!++;
      };
      const errorCallback = () => {
        wrong++;
      };
      for (let i = 0; i < n; i++) await pool.submit(noop, [i], { callback, errorCallback });
      pool.close();
      await pool.join();
      expect(wrong).toBe(0);
      expect(settlements.every((count) => count === 1)).toBe(true);
      expect(pool.stats()).toMatchObject({ submitted: n, completed: n, running: 0, queued: 0 });
    });

    itNeeds('floods')('a million items through map with a chunkSize', async () => {
      const pool = open();
      const items = range(1_000_000);
      const results = await pool.map(noop, items, { chunkSize: 1000 });
      expect(results.length).toBe(items.length);
      expect(results.every((v, i) => v === i)).toBe(true);
      expect(pool.stats().submitted).toBe(1000);
    });
  });

  describe('admission bound (maxQueue counts every accepted task not yet started, wherever it waits)', () => {
    it("size 1, maxQueue 2, 'reject': of 3000 applies exactly 3 are accepted, 1 running and 2 queued", async () => {
      const pool = open({ size: 1, maxQueue: 2, onQueueFull: 'reject' });
      const calls = range(3000).map(() => pool.apply(countPrimes, FOREVER));
      const outcomes = calls.map((call) => call.then(() => 'ok', (error: Error) => error.name));
      const stats = pool.stats();
      expect(stats).toMatchObject({ submitted: 3, running: 1, queued: 2, waiting: 0 });
      expect(stats.queuedInPool + stats.queuedInBackend).toBe(2);
      // Still so once the backend has had time to take what it was given.
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(pool.stats()).toMatchObject({ submitted: 3, running: 1, queued: 2 });
      await pool.terminate();
      const names = await Promise.all(outcomes);
      expect(names.filter((name) => name === 'QueueFullError').length).toBe(2997);
      expect(names.filter((name) => name === 'AbortError').length).toBe(3);
    });

    it("'wait': a flood of applyAsync and map chunks keeps at most maxQueue accepted and unstarted, and all finish", async () => {
      const pool = open({ size: 2, maxQueue: 3 });
      let worst = 0;
      let worstRunning = 0;
      const sample = (): void => {
        const s = pool.stats();
        worst = Math.max(worst, s.queued);
        worstRunning = Math.max(worstRunning, s.running);
      };
      const results = range(300).map((i) => pool.applyAsync(countPrimes, [0, 1000 + i], { callback: sample }));
      const mapped = pool.map(noop, range(200), { chunkSize: 7 });
      sample();
      expect(await mapped).toEqual(range(200));
      const values = await Promise.all(results.map((r) => r.get()));
      expect(values).toEqual(range(300).map((i) => twin(countPrimes, [0, 1000 + i])));
      expect(worst).toBeLessThanOrEqual(3);
      expect(worstRunning).toBeLessThanOrEqual(2);
    });
  });

  describe('shared state', () => {
    itNeeds('sharedState')('increments through the pool reach the shared counter', async () => {
      const pool = open();
      const counter = new SharedCounter();
      const results = await Promise.all(range(5).map(() => pool.apply(increment, [counter])));
      expect(counter.value).toBe(5);
      expect(results.sort()).toEqual([1, 2, 3, 4, 5]);
      expect(await pool.apply(increment, [counter, -5])).toBe(0);
    });

    itNeeds('sharedState')('an increment past 2^53 rejects with a RangeError, having added', async () => {
      const pool = open();
      const counter = new SharedCounter(2 ** 53 - 10);
      expect(await pool.apply(increment, [counter, 5])).toBe(2 ** 53 - 5);
      // The same words on every backend (the JS twin's did not name the kernel).
      const past = pool.apply(increment, [counter, 5]);
      await expect(past).rejects.toThrow(RangeError);
      await expect(past).rejects.toThrow("increment: the counter's new value 9007199254740992 is beyond 2^53; read counter.bigint instead");
      expect(counter.bigint).toBe(2n ** 53n);
    });

    itNeeds('sharedState')('map(increment) over 200000 items ends exact', async () => {
      const pool = open();
      const counter = new SharedCounter();
      const n = 200_000;
      const results = await pool.map(increment, Array<SharedCounter>(n).fill(counter));
      expect(counter.value).toBe(n);
      expect(results.reduce((a, b) => Math.max(a, b), 0)).toBe(n);
      expect(new Set(results).size).toBe(n);
    });

    it('progress rises monotonically during a long countPrimes and ends at the job size', async () => {
      const pool = open();
      const progress = new SharedCounter();
      const [lo, hi] = [0, 4e9];
      const samples: number[] = [];
      const sampler = setInterval(() => samples.push(progress.value), 2);
      const count = await pool.apply(countPrimes, [lo, hi], { progress });
      clearInterval(sampler);
      expect(count).toBe(189961812);
      expect(progress.value).toBe(hi - lo);
      expect(samples).toEqual([...samples].sort((a, b) => a - b));
      // It moved while the job ran, not only at the end.
      expect(samples.filter((v) => v > 0 && v < hi - lo).length).toBeGreaterThanOrEqual(3);
    });

    it('the progress counter ends at hi - lo after countPrimes', async () => {
      const pool = open();
      const progress = new SharedCounter();
      const [lo, hi] = [1e6, 9e6];
      expect(await pool.apply(countPrimes, [lo, hi], { progress })).toBe(twin(countPrimes, [lo, hi]));
      expect(progress.value).toBe(hi - lo);
      const mapped = new SharedCounter();
      await pool.starmap(countPrimes, [[0, 1e5], [1e5, 3e5]], { progress: mapped });
      expect(mapped.value).toBe(3e5);
    });

    it('a progress counter already beyond 2^53 takes the progress, and the call succeeds', async () => {
      // The JS twins (worker backend) and the queue client added progress as numbers, which
      // throws past 2^53: every call with such a counter failed there, as the native one did not.
      const pool = open();
      const progress = new SharedCounter(2n ** 53n);
      expect(await pool.apply(countPrimes, [0, 1e6], { progress })).toBe(78498);
      expect(progress.bigint).toBe(2n ** 53n + 1_000_000n);
    });
  });

  describe('bad arguments', () => {
    it('reject with TypeError/RangeError naming the argument, submitting nothing', async () => {
      const pool = open();
      const loose = pool as any;
      const cases: [unknown[], ErrorConstructor, RegExp][] = [
        [[-1, 5], RangeError, /lo/],
        [[5, 1], RangeError, /lo must be <= hi/],
        [[NaN, 1], RangeError, /lo/],
        [[0, Infinity], RangeError, /hi/],
        [[0.5, 1], RangeError, /lo/],
        [[0, 2 ** 53 + 2], RangeError, /hi/],
        [['0', 1], TypeError, /lo/],
        [[0, null], TypeError, /hi/],
        [[0, 1, 2], TypeError, /countPrimes takes 2/],
        [[0], TypeError, /countPrimes takes 2/],
        [[], TypeError, /countPrimes takes 2/],
      ];
      for (const [args, type, pattern] of cases) {
        const error = await loose.apply(countPrimes, args).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error, JSON.stringify(args)).toBeInstanceOf(type);
        expect((error as Error).message).toMatch(pattern);
        expect(() => loose.applyAsync(countPrimes, args)).toThrow(pattern);
      }
      await expect(loose.apply(increment, [{}])).rejects.toThrow(/counter/);
      // Look-alikes of a counter (its Symbol.for brand, a view over an ordinary buffer): refused
      // at the call, never handed to native threads or revived in a worker.
      const BRAND = Symbol.for('spindle.shared.kind');
      const fake = { [BRAND]: 'SharedCounter', [Symbol.for('spindle.counter.view')]: new BigInt64Array(new ArrayBuffer(8)) };
      await expect(loose.apply(increment, [fake])).rejects.toThrow(/^increment: counter must be a SharedCounter/);
      await expect(loose.apply(countPrimes, [0, 10], { progress: fake })).rejects.toThrow(/^apply: options.progress must be a SharedCounter/);
      await expect(loose.apply(countPrimes, [0, 10], { progress: { [BRAND]: 'SharedCounter' } })).rejects.toThrow(/options.progress/);
      await expect(loose.apply(increment, [new SharedCounter(), 0.5])).rejects.toThrow(/by/);
      await expect(loose.apply(noop, ['1'])).rejects.toThrow(/x/);
      await expect(loose.apply('countPrimes', [0, 1])).rejects.toThrow(/task/);
      await expect(loose.apply(countPrimes, '0,1')).rejects.toThrow(/args/);
      await expect(loose.apply(countPrimes, [0, 1], { timeout: -1 })).rejects.toThrow(/timeout/);
      const detached = new ArrayBuffer(8);
      structuredClone(detached, { transfer: [detached] });
      await expect(loose.apply(noop, [1], { transfer: [new ArrayBuffer(4), detached] })).rejects.toThrow(
        new TypeError('apply: options.transfer[1] is a detached ArrayBuffer (it was transferred away before the call)'),
      );
      expect(() => loose.applyAsync(noop, [1], { transfer: [detached] })).toThrow(/^applyAsync: options\.transfer\[0\] is a detached ArrayBuffer/);
      await expect(loose.starmap(countPrimes, [[0, 1], [2, 1]])).rejects.toThrow(/tuples\[1\]/);
      await expect(loose.map(noop, [1, 'x'], { chunkSize: 0 })).rejects.toThrow(/chunkSize/);
      expect(() => loose.imap(noop, [1], { window: 1.5 })).toThrow(/window/);
      const iterator = loose.istarmap(countPrimes, [[0, 10], [10, 5]]);
      expect(await iterator.next()).toEqual({ done: false, value: 4 });
      await expect(iterator.next()).rejects.toThrow(/tuples\[1\]/);
      expect(pool.stats().submitted).toBe(1);
    });
  });

  // The caller's code that can run inside a call: getters and Proxy traps on its arguments,
  // items, options and signal. Each once ran between a call's checks and its admission (a pool
  // terminated there left the call unsettled, and terminate() with it), threw past an accepted
  // task (the process died of its unhandled rejection), or hid an abort from the call.
  describe("the caller's code during a call", () => {
    it("a signal's own aborted getter or addEventListener is never run; aborting it still cancels", async () => {
      const pool = open();
      const ran: string[] = [];
      const controller = new AbortController();
      Object.defineProperty(controller.signal, 'aborted', { get: () => (ran.push('aborted'), void pool.terminate(), false) });
      Object.defineProperty(controller.signal, 'addEventListener', { value: () => ran.push('addEventListener') });
      expect(await pool.apply(noop, [42], { signal: controller.signal })).toBe(42);
      expect(await pool.map(noop, [1, 2], { signal: controller.signal })).toEqual([1, 2]);
      const long = pool.apply(countPrimes, [0, 2e9], { signal: controller.signal });
      controller.abort(new Error('stop'));
      await expect(long).rejects.toBeInstanceOf(AbortError);
      expect(ran).toEqual([]);
    });

    it('a look-alike signal or a Proxy of one is a TypeError at the call, and nothing is submitted', async () => {
      const pool = open();
      const lookalikes = [Object.create(AbortSignal.prototype, { aborted: { value: false } }), new Proxy(new AbortController().signal, {})];
      for (const signal of lookalikes) {
        let call: Promise<unknown> | undefined;
        expect(() => (call = pool.apply(countPrimes, [0, 10], { signal }))).not.toThrow();
        await expect(call).rejects.toThrow(/^apply: options.signal must be an AbortSignal/);
        await expect(pool.map(noop, [1], { signal })).rejects.toThrow(TypeError);
        expect(() => pool.applyAsync(noop, [1], { signal })).toThrow(TypeError);
      }
      expect(pool.stats().submitted).toBe(0);
    });

    it('a pool terminated or closed while its arguments or items are read refuses the call', async () => {
      for (const end of ['terminate', 'close'] as const) {
        const pool = open();
        const args = new Proxy([0, 10], { get: (target, key, receiver) => (key === '0' ? void pool[end]() : undefined, Reflect.get(target, key, receiver)) });
        await expect(pool.apply(countPrimes, args as unknown as [number, number])).rejects.toBeInstanceOf(PoolClosedError);
        const pool2 = open();
        function* items() {
          yield 1;
          void pool2[end]();
          yield 2;
        }
        await expect(pool2.map(noop, items())).rejects.toBeInstanceOf(PoolClosedError);
        if (end === 'close') await Promise.all([pool.join(), pool2.join()]);
        expect([pool.stats().submitted, pool2.stats().submitted]).toEqual([0, 0]);
      }
    });

    it("imap: a source step whose getters throw fails the loop; a source that closes the pool is refused", async () => {
      const pool = open();
      const throwing = (at: number) => ({
        i: 0,
        [Symbol.iterator]() {
          return this;
        },
        next() {
          return this.i++ === at ? { get done(): boolean { throw new Error('done getter'); }, value: 0 } : { done: false, value: this.i };
        },
      });
      const seen: unknown[] = [];
      await expect((async () => { for await (const x of pool.imap(noop, throwing(3) as Iterable<number>)) seen.push(x); })()).rejects.toThrow('done getter');
      expect(seen).toEqual([1, 2, 3]);
      async function* thenThrows() {
        yield 1;
        yield { get then(): never { throw new Error('then getter'); } } as unknown as number;
      }
      // An async generator awaits what it yields: the throwing `then` fails its next().
      await expect((async () => { for await (const x of pool.imap(noop, thenThrows())) void x; })()).rejects.toThrow('then getter');
      const closing = open();
      const source = { [Symbol.iterator]: () => (void closing.close(), [1, 2][Symbol.iterator]()) };
      expect(() => closing.imap(noop, source)).toThrow(PoolClosedError);
      await closing.join();
    });

    it('imap: breaking out while an async source has nothing to give closes the source at once', async () => {
      const pool = open();
      let returned = 0;
      let release: ((step: IteratorResult<number>) => void) | undefined;
      const source: AsyncIterable<number> = {
        [Symbol.asyncIterator]: () => {
          let i = 0;
          return {
            next: () => (i < 2 ? Promise.resolve({ done: false, value: i++ }) : new Promise<IteratorResult<number>>((resolve) => (release = resolve))),
            return: () => {
              returned++;
              release?.({ done: true, value: undefined });
              return Promise.resolve({ done: true, value: undefined });
            },
          };
        },
      };
      for await (const x of pool.imap(noop, source)) if (x === 1) break;
      expect(returned).toBe(1);
      pool.close();
      await pool.join();
    });

    it('an array of tuples that shrinks while it is read fails with the item named, nothing submitted', async () => {
      const pool = open();
      const tuples: unknown[] = [[0, 10], [0, 20], [0, 30], [0, 40]];
      Object.defineProperty(tuples, 1, { get: () => ((tuples.length = 2), [0, 20]) });
      await expect(pool.starmap(countPrimes, tuples as [number, number][])).rejects.toThrow(/^starmap: tuples\[2\] must be an array of arguments/);
      expect(pool.stats().submitted).toBe(0);
    });

    it('arguments are read once: the values checked are the values run', async () => {
      const pool = open();
      const first = new Float64Array([3, 1, 2]);
      const second = new Int8Array([5, -7, 3, 1]);
      let reads = 0;
      const args = new Proxy([first], { get: (target, key, receiver) => (key === '0' ? (reads++ === 0 ? first : second) : Reflect.get(target, key, receiver)) });
      const sorted = await pool.apply(kernels.sort, args as unknown as [Float64Array]);
      expect(sorted).toBe(first);
      expect(Array.from(first)).toEqual([1, 2, 3]);
      expect(Array.from(second)).toEqual([5, -7, 3, 1]);
      expect(reads).toBe(1);
    });
  });

  describe('lifecycle', () => {
    it('close, join, and the errors for calls out of order', async () => {
      const pool = open();
      await expect(pool.join()).rejects.toBeInstanceOf(PoolStateError);
      const pending = pool.apply(countPrimes, [0, 1e6]);
      pool.close();
      pool.close();
      await expect(pool.apply(noop, [1])).rejects.toBeInstanceOf(PoolClosedError);
      await pool.join();
      expect(await pending).toBe(78498);
      expect(pool.stats()).toMatchObject({ state: 'closed', submitted: 1, completed: 1 });
    });

    it('await using closes and joins', async () => {
      let result: number;
      {
        await using pool = make({ size: 2 });
        result = await pool.apply(noop, [3]);
        expect(pool.backend).toBe(name);
        expect(pool.size).toBe(2);
      }
      expect(result).toBe(3);
    });
  });
});
