// The Pool's own logic, against a ManualBackend that settles nothing unless the test says so:
// admission and back-pressure, cancellation, lifecycle, map/imap, AsyncResult, validation.

import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, expectTypeOf, it, vi } from 'vitest';
import { AsyncResult } from '../src-ts/async-result.js';
import type { Dispatch } from '../src-ts/backends/backend.js';
import { AbortError, PoolClosedError, PoolStateError, QueueFullError, TimeoutError } from '../src-ts/errors.js';
import { increment } from '../src-ts/kernels/increment.js';
import { noop } from '../src-ts/kernels/noop.js';
import type { Digest, DigestOptions } from '../src-ts/kernels/digest.js';
import { sha256 } from '../src-ts/kernels/sha256.js';
import { sha256File } from '../src-ts/kernels/sha256File.js';
import { argsort, sort, type SortableArray } from '../src-ts/kernels/sort.js';
import { createPoolWithBackend, type ItemOf, type Pool, type PoolOptions } from '../src-ts/pool.js';
import { SharedCounter } from '../src-ts/shared/counter.js';
import { task } from '../src-ts/task.js';
import { keepListening } from '../src-ts/internal/watch.js';
import type { ArgsOf, Kernel, ResultOf, Task } from '../src-ts/kernels/types.js';
import { ManualBackend, PlainDispatch, type ManualBackendOptions } from './support/manual-backend.js';

/** Lets promise reactions and microtasks run. */
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

interface Tracked<T> {
  settlements: number;
  value: T | undefined;
  error: unknown;
}

/** Records how often, and how, a promise settles. */
function track<T>(promise: Promise<T>): Tracked<T> {
  const t: Tracked<T> = { settlements: 0, value: undefined, error: undefined };
  promise.then(
    (value) => {
      t.settlements++;
      t.value = value;
    },
    (error: unknown) => {
      t.settlements++;
      t.error = error;
    },
  );
  return t;
}

function setup(backendOptions: ManualBackendOptions = {}, poolOptions: PoolOptions = {}): { backend: ManualBackend; pool: Pool } {
  const backend = new ManualBackend(backendOptions);
  return { backend, pool: createPoolWithBackend(backend, poolOptions) };
}

/** The argument of each dispatched call, in dispatch order (a map chunk contributes each of its calls). */
const dispatchedArgs = (backend: ManualBackend): unknown[] => backend.dispatched.flatMap((d) => d.calls.map((args) => args[0]));

/** A seeded PRNG (mulberry32), so a failing property run can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('admission', () => {
  it('dispatches up to capacity, queues up to maxQueue, then makes calls wait', async () => {
    const { backend, pool } = setup({ capacity: 2 }, { maxQueue: 3 });
    const calls = Array.from({ length: 7 }, (_, i) => track(pool.apply(noop, [i])));
    expect(pool.stats()).toMatchObject({ running: 2, queued: 3, waiting: 2, submitted: 5 });
    expect(backend.liveArgs()).toEqual([0, 1]);

    backend.complete();
    // The freed slot takes the queue's head, the freed queue room the first waiter.
    expect(pool.stats()).toMatchObject({ running: 2, queued: 3, waiting: 1, submitted: 6, completed: 1 });
    expect(backend.liveArgs()).toEqual([1, 2]);

    backend.completeAll();
    await tick();
    expect(calls.map((c) => c.value)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(pool.stats()).toMatchObject({ running: 0, queued: 0, waiting: 0, submitted: 7, completed: 7 });
  });

  it("rejects with QueueFullError when the queue is full and onQueueFull is 'reject'", async () => {
    const { backend, pool } = setup({ capacity: 1 }, { maxQueue: 1, onQueueFull: 'reject' });
    const first = track(pool.apply(noop, [1]));
    const second = track(pool.apply(noop, [2]));
    const third = track(pool.apply(noop, [3]));
    expect(() => pool.applyAsync(noop, [4])).toThrow(QueueFullError);
    const mapped = track(pool.map(noop, [5, 6]));
    await tick();
    expect(third.error).toBeInstanceOf(QueueFullError);
    expect((third.error as QueueFullError).maxQueue).toBe(1);
    expect(mapped.error).toBeInstanceOf(QueueFullError);
    expect(pool.stats()).toMatchObject({ submitted: 2, waiting: 0 });

    backend.completeAll();
    await tick();
    expect([first.value, second.value]).toEqual([1, 2]);
  });

  it('admits waiting calls in arrival order, a map chunk by chunk among them', async () => {
    const { backend, pool } = setup({ capacity: 1 }, { maxQueue: 1 });
    const a = track(pool.apply(noop, [1]));
    const b = track(pool.apply(noop, [2]));
    const c = pool.applyAsync(noop, [3]);
    const m = track(pool.map(noop, [10, 11], { chunkSize: 1 }));
    const d = track(pool.apply(noop, [4]));
    expect(pool.stats()).toMatchObject({ running: 1, queued: 1, waiting: 3 });

    backend.completeAll();
    await tick();
    // The map's second chunk is created when its first is admitted, so it waits behind d.
    expect(dispatchedArgs(backend)).toEqual([1, 2, 3, 10, 4, 11]);
    expect([a.value, b.value, await c.get(), m.value, d.value]).toEqual([1, 2, 3, [10, 11], 4]);
  });

  it('refills every freed backend slot from the queue', async () => {
    const { backend, pool } = setup({ capacity: 3 });
    const calls = Array.from({ length: 10 }, (_, i) => pool.apply(noop, [i]));
    expect(backend.live.size).toBe(3);
    const [d0, d1] = Array.from(backend.live);
    backend.complete(d1);
    backend.complete(d0);
    expect(backend.liveArgs()).toEqual([2, 3, 4]);
    backend.completeAll();
    expect(await Promise.all(calls)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('submit() waits for room whatever onQueueFull says, and gives a non-thenable AsyncResult', async () => {
    const { backend, pool } = setup({ capacity: 1 }, { maxQueue: 1, onQueueFull: 'reject' });
    const r1 = await pool.submit(noop, [1]);
    const r2 = await pool.submit(noop, [2]);
    const third = track(pool.submit(noop, [3]));
    await tick();
    expect(third.settlements).toBe(0);
    expect(pool.stats()).toMatchObject({ waiting: 1, submitted: 2 });

    backend.complete();
    await tick();
    expect(third.settlements).toBe(1);
    const r3 = third.value!;
    expect(r3).toBeInstanceOf(AsyncResult);
    expect('then' in r3).toBe(false);
    backend.completeAll();
    expect(await Promise.all([r1.get(), r2.get(), r3.get()])).toEqual([1, 2, 3]);
  });

  it("a submit() that ends while it waits for room rejects, and runs neither callback: its rejection is the call's one outcome", async () => {
    // The callbacks belong to the AsyncResult, which submit() hands out only once the call is
    // admitted: running errorCallback as well would report one failure twice to a caller that
    // awaits submit() in a try/catch (the chaos ledger counts that as a double settlement).
    const { backend, pool } = setup({ capacity: 1 }, { maxQueue: 1 });
    await pool.submit(noop, [0]); // running
    await pool.submit(noop, [0]); // queued: the queue is full
    const outcomes: string[] = [];
    const callbacks = (label: string) => ({
      callback: () => void outcomes.push(`${label} callback`),
      errorCallback: (e: unknown) => void outcomes.push(`${label} ${(e as Error).name}`),
    });
    const controller = new AbortController();
    const aborted = track(pool.submit(noop, [1], { signal: controller.signal, ...callbacks('aborted') }));
    const timedOut = track(pool.submit(noop, [2], { timeout: 20, ...callbacks('timedOut') }));
    const terminated = track(pool.submit(noop, [3], callbacks('terminated')));
    const preAborted = track(pool.submit(noop, [4], { signal: AbortSignal.abort(), ...callbacks('preAborted') }));
    await tick();
    expect(pool.stats()).toMatchObject({ waiting: 3 });
    controller.abort();
    await new Promise((resolve) => setTimeout(resolve, 40));
    await pool.terminate();
    await tick();
    for (const t of [aborted, timedOut, terminated, preAborted]) expect(t.settlements).toBe(1);
    expect(aborted.error).toBeInstanceOf(AbortError);
    expect(timedOut.error).toBeInstanceOf(TimeoutError);
    expect(terminated.error).toBeInstanceOf(AbortError);
    expect(preAborted.error).toBeInstanceOf(AbortError);
    expect(outcomes).toEqual([]);
    expect(backend.dispatched).toHaveLength(1);
  });

  it('passes kernel, normalized calls, batch and progress on each Dispatch, with distinct ids', async () => {
    const { backend, pool } = setup({ capacity: 8 });
    const progress = new SharedCounter();
    const applied = pool.apply(noop, [], { progress });
    const mapped = pool.map(noop, [1, 2, 3], { chunkSize: 2 });
    const [single, chunk0, chunk1] = backend.dispatched as Dispatch[];
    expect(single).toMatchObject({ kernel: noop, batch: false, calls: [[0]], progress });
    expect(chunk0).toMatchObject({ batch: true, calls: [[1], [2]], progress: undefined });
    expect(chunk1!.calls).toEqual([[3]]);
    expect(new Set(backend.dispatched.map((d) => d.id)).size).toBe(3);
    backend.completeAll();
    expect(await applied).toBe(0);
    expect(await mapped).toEqual([1, 2, 3]);
  });

  it('rejects a task whose dispatch throws (a backend bug) instead of losing it', async () => {
    const { backend, pool } = setup();
    const broken = new Error('broken backend');
    backend.dispatch = () => {
      throw broken;
    };
    await expect(pool.apply(noop, [1])).rejects.toBe(broken);
    expect(pool.stats()).toMatchObject({ running: 0, failed: 1 });
  });
});

describe('settlement', () => {
  it('rejects with the backend error, and with AbortError on a Cancelled outcome', async () => {
    const { backend, pool } = setup();
    const failing = pool.apply(noop, [1]);
    const cancelled = pool.apply(noop, [2]);
    const error = new RangeError('bad');
    const [d1, d2] = Array.from(backend.live);
    backend.fail(d1!, error);
    backend.cancelled(d2!);
    await expect(failing).rejects.toBe(error);
    await expect(cancelled).rejects.toBeInstanceOf(AbortError);
    expect(pool.stats()).toMatchObject({ failed: 1, cancelled: 1, completed: 0 });
  });

  it('ignores a second settle() of the same dispatch', async () => {
    const { backend, pool } = setup();
    const call = track(pool.apply(noop, [1]));
    const d = backend.oldest();
    backend.complete(d);
    d.settle(0, 99);
    await tick();
    expect(call).toMatchObject({ settlements: 1, value: 1 });
    expect(pool.stats()).toMatchObject({ completed: 1, running: 0 });
  });

  it.each([
    { lane: 'every call as a Task', plainLane: false },
    { lane: 'the plain lane for plain apply() calls', plainLane: true },
  ])('settles every call exactly once under random outcomes, aborts and shutdowns ($lane)', async ({ plainLane }) => {
    for (let seed = 1; seed <= 25; seed++) {
      const random = prng(seed);
      const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
      const maxQueue = 1 + Math.floor(random() * 4);
      const { backend, pool } = setup(
        { capacity: 1 + Math.floor(random() * 3), plainLane },
        { maxQueue, onQueueFull: random() < 0.2 ? 'reject' : 'wait' },
      );
      const controllers = [new AbortController(), new AbortController(), new AbortController()];
      const records: { settlements: number; expected: unknown; value: unknown; ok: boolean | undefined }[] = [];
      const record = (expected: unknown) => {
        const r = { settlements: 0, expected, value: undefined as unknown, ok: undefined as boolean | undefined };
        records.push(r);
        return r;
      };
      const onPromise = (promise: Promise<unknown>, expected: unknown) => {
        const r = record(expected);
        promise.then(
          (value) => {
            r.settlements++;
            r.ok = true;
            r.value = value;
          },
          () => {
            r.settlements++;
            r.ok = false;
          },
        );
      };
      const signalOption = () => (random() < 0.4 ? { signal: pick(controllers).signal } : undefined);

      for (let step = 0; step < 300; step++) {
        const roll = random();
        const n = step;
        if (roll < 0.3) {
          onPromise(pool.apply(noop, [n], signalOption()), n);
        } else if (roll < 0.4) {
          const r = record(n);
          const options = {
            ...signalOption(),
            callback: (value: number) => {
              r.settlements++;
              r.ok = true;
              r.value = value;
            },
            errorCallback: () => {
              r.settlements++;
              r.ok = false;
            },
          };
          try {
            pool.applyAsync(noop, [n], options);
          } catch (error) {
            expect(error).toBeInstanceOf(QueueFullError);
            r.settlements++;
            r.ok = false;
          }
        } else if (roll < 0.45) {
          onPromise(
            pool.submit(noop, [n], signalOption()).then((result) => result.get()),
            n,
          );
        } else if (roll < 0.52) {
          const items = Array.from({ length: 1 + Math.floor(random() * 6) }, (_, i) => n * 10 + i);
          onPromise(pool.map(noop, items, { chunkSize: 1 + Math.floor(random() * 3), ...signalOption() }), items);
        } else if (roll < 0.7 && backend.live.size > 0) {
          backend.complete(pick(Array.from(backend.live)));
        } else if (roll < 0.75 && backend.live.size > 0) {
          backend.fail(pick(Array.from(backend.live)), new Error('failed'));
        } else if (roll < 0.78 && backend.live.size > 0) {
          backend.cancelled(pick(Array.from(backend.live)));
        } else if (roll < 0.83) {
          const i = Math.floor(random() * controllers.length);
          controllers[i]!.abort();
          controllers[i] = new AbortController();
        } else {
          await tick();
        }
        const stats = pool.stats();
        // Everything the backend holds is either running (at most size) or waiting there.
        expect(stats.running + stats.queuedInBackend).toBe(backend.live.size);
        expect(stats.running).toBeLessThanOrEqual(backend.size);
        expect(backend.live.size).toBeLessThanOrEqual(backend.capacity);
        // maxQueue bounds accepted-but-not-started tasks wherever they wait.
        expect(stats.queued).toBe(stats.queuedInPool + stats.queuedInBackend);
        expect(stats.queued).toBeLessThanOrEqual(maxQueue);
      }

      if (random() < 0.5) {
        await pool.terminate();
      } else {
        pool.close();
        const joined = track(pool.join());
        while (joined.settlements === 0) {
          if (backend.live.size > 0) backend.complete(pick(Array.from(backend.live)));
          await tick();
        }
      }
      await tick();

      const stats = pool.stats();
      expect(stats).toMatchObject({ queued: 0, running: 0, waiting: 0 });
      expect(stats.completed + stats.failed + stats.cancelled).toBe(stats.submitted);
      expect(backend.liveAtClose).toBe(0);
      for (const r of records) {
        expect(r.settlements, `seed ${seed}`).toBe(1);
        if (r.ok) expect(r.value).toEqual(r.expected);
      }
      // The lane under test really carried the plain calls (and only where offered).
      expect(backend.dispatched.some((d) => d instanceof PlainDispatch)).toBe(plainLane);
    }
  });
});

describe('the plain lane (apply() with no options and at most two number arguments)', () => {
  const plainSetup = (poolOptions: PoolOptions = {}) => setup({ capacity: 2, plainLane: true }, { maxQueue: 2, ...poolOptions });

  it('runs, queues and makes plain calls wait like any call, in order, with the same counts', async () => {
    const { backend, pool } = plainSetup();
    const calls = Array.from({ length: 7 }, (_, i) => track(pool.apply(noop, [i])));
    expect(pool.stats()).toMatchObject({ running: 2, queued: 2, waiting: 3, submitted: 4 });
    expect(backend.dispatched.every((d) => d instanceof PlainDispatch)).toBe(true);
    expect(backend.liveArgs()).toEqual([0, 1]);
    backend.complete();
    expect(backend.liveArgs()).toEqual([1, 2]);
    expect(pool.stats()).toMatchObject({ running: 2, queued: 2, waiting: 2, submitted: 5, completed: 1 });
    backend.completeAll();
    await tick();
    expect(calls.map((c) => c.value)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(pool.stats()).toMatchObject({ running: 0, queued: 0, waiting: 0, submitted: 7, completed: 7 });
  });

  it('mixes with Task calls in one FIFO: a waiting submit() and plain calls start in arrival order', async () => {
    const { backend, pool } = plainSetup();
    const first = Array.from({ length: 4 }, (_, i) => track(pool.apply(noop, [i])));
    const submitted = track(pool.submit(noop, [100]));
    const later = Array.from({ length: 2 }, (_, i) => track(pool.apply(noop, [200 + i])));
    backend.completeAll();
    await tick();
    expect(dispatchedArgs(backend)).toEqual([0, 1, 2, 3, 100, 200, 201]);
    expect(backend.dispatched.map((d) => d instanceof PlainDispatch)).toEqual([true, true, true, true, false, true, true]);
    expect([...first, ...later].every((c) => c.settlements === 1)).toBe(true);
    expect(submitted.settlements).toBe(1);
  });

  it('a failed plain call rejects with the error; a cancelled one with AbortError; counts follow', async () => {
    const { backend, pool } = plainSetup();
    const failed = track(pool.apply(noop, [1]));
    const cancelled = track(pool.apply(noop, [2]));
    backend.fail(backend.oldest(), new RangeError('bad'));
    backend.cancelled(backend.oldest());
    await tick();
    expect(failed.error).toBeInstanceOf(RangeError);
    expect(cancelled.error).toBeInstanceOf(AbortError);
    expect(pool.stats()).toMatchObject({ failed: 1, cancelled: 1, completed: 0, running: 0 });
  });

  it('terminate() rejects running, queued and waiting plain calls at once, and ignores their late reports', async () => {
    const { backend, pool } = setup({ capacity: 2, plainLane: true, settleOnTerminate: false }, { maxQueue: 2 });
    const calls = Array.from({ length: 6 }, (_, i) => track(pool.apply(noop, [i])));
    const terminated = track(pool.terminate());
    await tick();
    expect(calls.every((c) => c.settlements === 1 && c.error instanceof AbortError)).toBe(true);
    expect(backend.cancelRequests).toHaveLength(2);
    expect(terminated.settlements).toBe(0);
    backend.endTerminate(); // the two running calls report now, as cancelled
    await tick();
    expect(terminated.settlements).toBe(1);
    expect(calls.every((c) => c.settlements === 1)).toBe(true);
    // Waiting calls were never accepted, so they count nowhere (as for Task calls).
    expect(pool.stats()).toMatchObject({ running: 0, queued: 0, waiting: 0, cancelled: 4, submitted: 4 });
  });

  it("rejects with QueueFullError when there is no room and onQueueFull is 'reject'", async () => {
    const { pool } = plainSetup({ onQueueFull: 'reject' });
    const calls = Array.from({ length: 5 }, (_, i) => track(pool.apply(noop, [i])));
    await tick();
    expect(calls[4]!.error).toBeInstanceOf(QueueFullError);
    expect(calls.slice(0, 4).every((c) => c.settlements === 0)).toBe(true);
  });

  it('close() lets plain calls finish; join() waits for them', async () => {
    const { backend, pool } = plainSetup();
    const calls = Array.from({ length: 5 }, (_, i) => track(pool.apply(noop, [i])));
    pool.close();
    const joined = track(pool.join());
    await tick();
    expect(joined.settlements).toBe(0);
    backend.completeAll();
    await tick();
    expect(joined.settlements).toBe(1);
    expect(calls.map((c) => c.value)).toEqual([0, 1, 2, 3, 4]);
  });
});

describe('cancellation', () => {
  it('removes an aborted queued task and rejects it at once with the reason as cause', async () => {
    const { backend, pool } = setup({ capacity: 1 });
    const controller = new AbortController();
    const first = track(pool.apply(noop, [0]));
    const second = track(pool.apply(noop, [1], { signal: controller.signal }));
    expect(pool.stats().queued).toBe(1);
    const reason = new Error('no longer needed');
    controller.abort(reason);
    await tick();
    expect(second.error).toBeInstanceOf(AbortError);
    expect((second.error as AbortError).cause).toBe(reason);
    expect(pool.stats()).toMatchObject({ queued: 0, cancelled: 1 });
    backend.completeAll();
    await tick();
    expect(first.value).toBe(0);
    expect(dispatchedArgs(backend)).toEqual([0]);
  });

  it('rejects an aborted dispatched task at once, cancels it, keeps its slot until the backend settles it', async () => {
    const { backend, pool } = setup({ capacity: 1 });
    const controller = new AbortController();
    const running = track(pool.apply(noop, [0], { signal: controller.signal }));
    const next = track(pool.apply(noop, [1]));
    const d0 = backend.oldest();
    controller.abort();
    await tick();
    expect(running.error).toBeInstanceOf(AbortError);
    expect(backend.cancelRequests).toEqual([d0]);
    expect(pool.stats()).toMatchObject({ running: 1, queued: 1, cancelled: 1 });
    expect(backend.liveArgs()).toEqual([0]);

    backend.complete(d0); // the backend's late outcome: ignored for the caller
    await tick();
    expect(running.settlements).toBe(1);
    expect(backend.liveArgs()).toEqual([1]);
    expect(pool.stats()).toMatchObject({ completed: 0, cancelled: 1, running: 1 });
    backend.completeAll();
    await tick();
    expect(next.value).toBe(1);
  });

  it('rejects a call whose signal is already aborted without queuing anything', async () => {
    const { backend, pool } = setup();
    const reason = new Error('before');
    const signal = AbortSignal.abort(reason);
    await expect(pool.apply(noop, [1], { signal })).rejects.toMatchObject({ name: 'AbortError', cause: reason });
    await expect(pool.submit(noop, [1], { signal })).rejects.toBeInstanceOf(AbortError);
    await expect(pool.map(noop, [1, 2], { signal })).rejects.toBeInstanceOf(AbortError);
    const errorCallback = vi.fn();
    const result = pool.applyAsync(noop, [1], { signal, errorCallback });
    await expect(result.get()).rejects.toBeInstanceOf(AbortError);
    expect(errorCallback).toHaveBeenCalledOnce();
    await expect(pool.mapAsync(noop, [1], { signal }).get()).rejects.toBeInstanceOf(AbortError);
    await expect(pool.imap(noop, [1, 2], { signal }).next()).rejects.toBeInstanceOf(AbortError);
    // Empty input is no exception: the signal is checked before the (lack of) work.
    await expect(pool.map(noop, [], { signal })).rejects.toBeInstanceOf(AbortError);
    await expect(pool.starmap(noop, [], { signal })).rejects.toBeInstanceOf(AbortError);
    await expect(pool.mapAsync(noop, [], { signal }).get()).rejects.toBeInstanceOf(AbortError);
    await expect(pool.imap(noop, [], { signal }).next()).rejects.toBeInstanceOf(AbortError);
    expect(backend.dispatched).toHaveLength(0);
    expect(pool.stats()).toMatchObject({ submitted: 0, cancelled: 0 });
    pool.close();
    await pool.join();
  });

  it('a callback that terminates the pool while a shared signal aborts its calls leaves none of them unsettled', async () => {
    const { pool } = setup({ capacity: 1 });
    const controller = new AbortController();
    let terminated: Promise<void> | undefined;
    const first = pool.applyAsync(noop, [1], {
      signal: controller.signal,
      errorCallback: () => {
        terminated = pool.terminate();
      },
    });
    const second = track(pool.apply(noop, [2], { signal: controller.signal }));
    const third = pool.applyAsync(noop, [3], { signal: controller.signal });
    controller.abort();
    expect(terminated).toBeInstanceOf(Promise);
    await terminated;
    await tick();
    await expect(first.get()).rejects.toBeInstanceOf(AbortError);
    expect(second.settlements).toBe(1);
    expect(second.error).toBeInstanceOf(AbortError);
    await expect(third.get()).rejects.toBeInstanceOf(AbortError);
    expect(pool.stats()).toMatchObject({ queued: 0, running: 0, waiting: 0 });
  });

  it('terminate() rejects every dispatched call even when cancelling one settles others at once', async () => {
    const { backend, pool } = setup({ capacity: 3, size: 3, settleOnTerminate: false });
    // Cancelling one settles another at once (the worker backend answers a task it holds but has
    // not started straight away; a split call's parts go together): here, the one dispatched
    // just before it, which is the next the pool's newest-first walk of its live list would visit.
    backend.cancel = (d: Dispatch): void => {
      backend.cancelRequests.push(d);
      const live = Array.from(backend.live);
      const before = live[live.indexOf(d) - 1];
      if (before !== undefined && backend.cancelRequests.length === 1) backend.cancelled(before);
    };
    const calls = [1, 2, 3].map((i) => track(pool.apply(noop, [i], {})));
    expect(backend.live.size).toBe(3);
    void pool.terminate();
    await tick();
    expect(calls.map((c) => c.settlements)).toEqual([1, 1, 1]);
    expect(calls.every((c) => c.error instanceof AbortError)).toBe(true);
  });

  it('withdraws an aborted waiting call, applyAsync and submit alike', async () => {
    const { backend, pool } = setup({ capacity: 1 }, { maxQueue: 1 });
    const controller = new AbortController();
    pool.apply(noop, [0]);
    pool.apply(noop, [1]);
    const waiting = track(pool.apply(noop, [2], { signal: controller.signal }));
    const asyncResult = pool.applyAsync(noop, [3], { signal: controller.signal });
    const submitted = track(pool.submit(noop, [4], { signal: controller.signal }));
    const later = track(pool.apply(noop, [5]));
    expect(pool.stats().waiting).toBe(4);
    controller.abort();
    await tick();
    expect(waiting.error).toBeInstanceOf(AbortError);
    await expect(asyncResult.get()).rejects.toBeInstanceOf(AbortError);
    expect(submitted.error).toBeInstanceOf(AbortError);
    expect(pool.stats()).toMatchObject({ waiting: 1, submitted: 2, cancelled: 0 });
    backend.completeAll();
    await tick();
    expect(later.value).toBe(5);
    expect(dispatchedArgs(backend)).toEqual([0, 1, 5]);
  });

  it('times out a queued task at the deadline measured from the call, and clears its timer', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { backend, pool } = setup({ capacity: 1 });
    pool.apply(noop, [0]);
    const late = track(pool.apply(noop, [1], { timeout: 100 }));
    vi.advanceTimersByTime(99);
    await tick();
    expect(late.settlements).toBe(0);
    vi.advanceTimersByTime(1);
    await tick();
    expect(late.error).toBeInstanceOf(TimeoutError);
    expect((late.error as Error).message).toMatch(/100 ms/);
    expect(pool.stats()).toMatchObject({ queued: 0, cancelled: 1 });
    expect(vi.getTimerCount()).toBe(0);
    backend.completeAll();
  });

  it('times out a task after it was dispatched, counting its time in the queue, and cancels it', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { backend, pool } = setup({ capacity: 1 });
    pool.apply(noop, [0]);
    const timed = track(pool.apply(noop, [1], { timeout: 100 }));
    vi.advanceTimersByTime(60);
    backend.complete();
    const d1 = backend.oldest();
    vi.advanceTimersByTime(40);
    await tick();
    expect(timed.error).toBeInstanceOf(TimeoutError);
    expect(backend.cancelRequests).toEqual([d1]);
    expect(pool.stats().running).toBe(1);
    backend.cancelled(d1);
    expect(pool.stats().running).toBe(0);
  });

  it('clears the timer and the abort listener of a task that settles normally', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { backend, pool } = setup({ capacity: 1 });
    const controller = new AbortController();
    const call = pool.apply(noop, [7], { timeout: 1000, signal: controller.signal });
    expect(vi.getTimerCount()).toBe(1);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    backend.complete();
    expect(await call).toBe(7);
    expect(vi.getTimerCount()).toBe(0);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('holds one listener per shared signal however many tasks use it, and none once they settle', async () => {
    const { backend, pool } = setup({ capacity: 64 }, { maxQueue: 2048 });
    const controller = new AbortController();
    for (let round = 0; round < 100; round++) {
      const calls = Array.from({ length: 1000 }, (_, i) => pool.apply(noop, [i], { signal: controller.signal }));
      expect(getEventListeners(controller.signal, 'abort').length).toBe(1);
      backend.completeAll();
      await Promise.all(calls);
    }
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    expect(pool.stats()).toMatchObject({ completed: 100_000, running: 0 });
  });

  it("a signal spindle reuses (serve's per-job controllers, keepListening) keeps its one listener between calls and still aborts", async () => {
    const { backend, pool } = setup({ capacity: 4 });
    const controller = new AbortController();
    keepListening(controller.signal);
    for (let round = 0; round < 100; round++) {
      const call = pool.apply(noop, [round], { signal: controller.signal });
      backend.complete();
      expect(await call).toBe(round);
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    }
    const running = track(pool.apply(noop, [1], { signal: controller.signal }));
    const d = backend.oldest();
    controller.abort(new Error('stop'));
    await tick();
    expect(running.error).toBeInstanceOf(AbortError);
    expect(backend.cancelRequests).toEqual([d]);
    backend.cancelled(d);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    // A caller's signal is not kept: its listener goes with its last call (above, and here).
    const other = new AbortController();
    const call = pool.apply(noop, [2], { signal: other.signal });
    backend.complete();
    await call;
    expect(getEventListeners(other.signal, 'abort')).toHaveLength(0);
  });

  it('aborts a whole map: queued chunks removed, dispatched ones cancelled, the waiting one withdrawn', async () => {
    const { backend, pool } = setup({ capacity: 2 }, { maxQueue: 1 });
    const controller = new AbortController();
    const mapped = track(pool.map(noop, [0, 1, 2, 3, 4, 5], { chunkSize: 1, signal: controller.signal }));
    expect(pool.stats()).toMatchObject({ running: 2, queued: 1, waiting: 1 });
    controller.abort();
    await tick();
    expect(mapped.error).toBeInstanceOf(AbortError);
    expect(pool.stats()).toMatchObject({ running: 2, queued: 0, waiting: 0, cancelled: 3 });
    expect(backend.cancelRequests.map((d) => d.calls[0]![0]).sort()).toEqual([0, 1]);
    backend.completeAll();
    expect(dispatchedArgs(backend)).toEqual([0, 1]);
  });
});

describe('lifecycle', () => {
  it('join() before close() rejects with PoolStateError', async () => {
    const { pool } = setup();
    await expect(pool.join()).rejects.toBeInstanceOf(PoolStateError);
  });

  it('close() refuses new calls but runs queued and waiting ones; join() waits for them and the backend', async () => {
    const { backend, pool } = setup({ capacity: 1 }, { maxQueue: 1 });
    const calls = [0, 1, 2].map((i) => track(pool.apply(noop, [i])));
    pool.close();
    pool.close();
    await expect(pool.apply(noop, [3])).rejects.toBeInstanceOf(PoolClosedError);
    expect(() => pool.applyAsync(noop, [3])).toThrow(PoolClosedError);
    expect(() => pool.imap(noop, [3])).toThrow(PoolClosedError);
    await expect(pool.map(noop, [3])).rejects.toBeInstanceOf(PoolClosedError);
    const joined = track(pool.join());
    backend.complete();
    backend.complete();
    await tick();
    expect(joined.settlements).toBe(0);
    expect(backend.closeCalls).toBe(0);
    backend.complete();
    await tick();
    expect(joined.settlements).toBe(1);
    expect(calls.map((c) => c.value)).toEqual([0, 1, 2]);
    expect(backend.closeCalls).toBe(1);
    expect(backend.liveAtClose).toBe(0);
    expect(pool.stats().state).toBe('closed');
    await pool.join();
  });

  it('join() waits for the backend to settle aborted tasks it is still running', async () => {
    const { backend, pool } = setup();
    const controller = new AbortController();
    const call = track(pool.apply(noop, [1], { signal: controller.signal }));
    controller.abort();
    pool.close();
    const joined = track(pool.join());
    await tick();
    expect(call.error).toBeInstanceOf(AbortError);
    expect(joined.settlements).toBe(0);
    backend.cancelled(backend.oldest());
    await tick();
    expect(joined.settlements).toBe(1);
  });

  it('terminate() rejects queued, waiting and dispatched calls at once, then waits for the backend', async () => {
    const { backend, pool } = setup({ capacity: 1, settleOnTerminate: false }, { maxQueue: 1 });
    const running = track(pool.apply(noop, [0]));
    const queued = track(pool.apply(noop, [1]));
    const waiting = track(pool.apply(noop, [2]));
    const errorCallback = vi.fn();
    const waitingAsync = pool.applyAsync(noop, [3], { errorCallback });
    const submitted = track(pool.submit(noop, [4]));
    const mapped = track(pool.map(noop, [5, 6]));
    const iterator = pool.imap(noop, [7, 8]);
    await tick();

    const terminating = pool.terminate();
    const terminated = track(terminating);
    expect(pool.terminate()).toBe(terminating);
    await tick();
    for (const call of [running, queued, waiting, submitted, mapped]) expect(call.error).toBeInstanceOf(AbortError);
    expect(errorCallback).toHaveBeenCalledWith(expect.any(AbortError));
    await expect(waitingAsync.get()).rejects.toBeInstanceOf(AbortError);
    await expect(iterator.next()).rejects.toBeInstanceOf(AbortError);
    expect(terminated.settlements).toBe(0);
    expect(pool.stats()).toMatchObject({ state: 'terminated', running: 1, queued: 0, waiting: 0 });
    await expect(pool.apply(noop, [9])).rejects.toBeInstanceOf(PoolClosedError);

    backend.endTerminate();
    await tick();
    expect(terminated.settlements).toBe(1);
    expect(running.settlements).toBe(1);
    expect(pool.stats()).toMatchObject({ running: 0 });
    await pool.join();
    pool.close();
    expect(backend.closeCalls).toBe(0);
  });

  it('Symbol.asyncDispose closes and joins', async () => {
    const { backend, pool } = setup();
    const call = pool.apply(noop, [1]);
    const disposing = track(pool[Symbol.asyncDispose]());
    await tick();
    expect(disposing.settlements).toBe(0);
    backend.completeAll();
    await tick();
    expect(disposing.settlements).toBe(1);
    expect(await call).toBe(1);
    expect(pool.stats().state).toBe('closed');
  });

  it('join() waits for an imap iterator started before close() until it has finished', async () => {
    const { backend, pool } = setup({ capacity: 4 });
    const iterator = pool.imap(noop, [1, 2, 3], { window: 2 });
    await tick();
    pool.close();
    const joined = track(pool.join());
    const seen: number[] = [];
    while (seen.length < 3) {
      backend.completeAll();
      const step = iterator.next();
      backend.completeAll();
      const { value } = await step;
      seen.push(value as number);
      await tick();
    }
    backend.completeAll();
    await tick();
    expect(seen).toEqual([1, 2, 3]);
    expect(joined.settlements).toBe(1);
    expect(backend.liveAtClose).toBe(0);
  });

  it('an imap left part-read holds join() (as documented) until it is closed with return()', async () => {
    const { backend, pool } = setup({ capacity: 4 });
    const iterator = pool.imap(noop, [1, 2, 3, 4, 5, 6], { window: 2 });
    await tick();
    backend.completeAll();
    const first = iterator.next();
    backend.completeAll();
    expect(await first).toEqual({ done: false, value: 1 });
    pool.close();
    const joined = track(pool.join());
    backend.completeAll();
    await tick();
    backend.completeAll();
    await tick();
    expect(joined.settlements).toBe(0); // items 3-6 are submitted only as the consumer reads
    const closing = iterator.return!();
    backend.completeAll();
    await closing;
    backend.completeAll();
    await tick();
    expect(joined.settlements).toBe(1);
    expect(pool.stats().submitted).toBeLessThan(6);
  });

  it('an imap filling a huge chunk from an endless synchronous source leaves the event loop live: its timeout fires', async () => {
    const { pool } = setup({ capacity: 4 });
    let pulled = 0;
    let closed = false;
    function* endless() {
      try {
        for (;;) {
          pulled++;
          yield 1;
        }
      } finally {
        closed = true;
      }
    }
    let timerRan = false;
    setTimeout(() => (timerRan = true), 20);
    const iterator = pool.imap(noop, endless(), { chunkSize: 2 ** 40, timeout: 100 });
    await expect(iterator.next()).rejects.toBeInstanceOf(TimeoutError);
    expect(timerRan).toBe(true);
    await tick();
    await tick();
    expect(closed).toBe(true);
    const after = pulled;
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(pulled).toBe(after);
  });

  it.each(['break', 'abort', 'timeout', 'a failed chunk'])(
    'an imap ended (%s) while its async source has not answered a next() releases join(): the pending step is abandoned',
    async (how) => {
      const { backend, pool } = setup({ capacity: 4 });
      let answered = false;
      let closed = false;
      // Two items, then silence (a socket gone quiet): an async generator suspended in an await
      // queues return() behind it, so the source answers neither.
      async function* quiet() {
        try {
          yield 1;
          yield 2;
          await new Promise(() => {});
          answered = true;
        } finally {
          closed = true;
        }
      }
      const controller = new AbortController();
      const iterator = pool.imap(noop, quiet(), how === 'abort' ? { signal: controller.signal } : how === 'timeout' ? { timeout: 50 } : {});
      const first = iterator.next();
      first.catch(() => {}); // read below
      for (let i = 0; i < 5; i++) {
        await tick();
        if (how === 'a failed chunk' && backend.live.size > 0) backend.fail([...backend.live][0]!, new Error('chunk failed'));
        else backend.completeAll();
      }
      if (how === 'a failed chunk') await expect(first).rejects.toThrow('chunk failed');
      else expect(await first).toEqual({ done: false, value: 1 });
      if (how === 'break') await iterator.return!();
      if (how === 'abort') controller.abort();
      if (how === 'timeout') await new Promise((resolve) => setTimeout(resolve, 80));
      pool.close();
      const joined = track(pool.join());
      for (let i = 0; i < 5; i++) {
        backend.completeAll();
        await tick();
      }
      expect(joined.settlements).toBe(1);
      expect(joined.error).toBeUndefined();
      expect(answered || closed).toBe(false);
    },
  );
});

describe('map and starmap', () => {
  it("chunks by Python's default, ceil(n / (4 * size)), and returns results in input order", async () => {
    const { backend, pool } = setup({ size: 2, capacity: 8 });
    const items = Array.from({ length: 20 }, (_, i) => i);
    const mapped = pool.map(noop, items);
    expect(backend.dispatched.map((d) => d.calls.length)).toEqual([3, 3, 3, 3, 3, 3, 2]);
    for (const d of Array.from(backend.live).reverse()) backend.complete(d);
    expect(await mapped).toEqual(items);
  });

  it('honours chunkSize and accepts any iterable or array-like', async () => {
    const { backend, pool } = setup({ capacity: 16 });
    const fromSet = pool.map(noop, new Set([1, 2, 3, 4, 5]), { chunkSize: 3 });
    expect(backend.dispatched.map((d) => d.calls.length)).toEqual([3, 2]);
    const fromGenerator = pool.map(
      noop,
      (function* () {
        yield 7;
        yield 8;
      })(),
    );
    const fromArrayLike = pool.map(noop, { length: 2, 0: 5, 1: 6 });
    const empty = pool.map(noop, []);
    const starred = pool.starmap(noop, [[1], [], [3]]);
    backend.completeAll();
    expect(await fromSet).toEqual([1, 2, 3, 4, 5]);
    expect(await fromGenerator).toEqual([7, 8]);
    expect(await fromArrayLike).toEqual([5, 6]);
    expect(await empty).toEqual([]);
    expect(await starred).toEqual([1, 0, 3]);
  });

  it('submits chunks through admission: a long map never holds more than maxQueue queued', async () => {
    const { backend, pool } = setup({ capacity: 2 }, { maxQueue: 3 });
    const items = Array.from({ length: 1000 }, (_, i) => i);
    const mapped = pool.map(noop, items, { chunkSize: 10 });
    expect(pool.stats()).toMatchObject({ running: 2, queued: 3, waiting: 1, submitted: 5 });
    while (backend.live.size > 0) {
      backend.complete();
      expect(pool.stats().queued).toBeLessThanOrEqual(3);
    }
    expect(await mapped).toEqual(items);
    expect(pool.stats().submitted).toBe(100);
  });

  it('rejects with the first failing chunk in input order, withdrawing the chunks after it', async () => {
    const { backend, pool } = setup({ size: 3, capacity: 3 }, { maxQueue: 2 });
    const mapped = track(pool.map(noop, [0, 1, 2, 3, 4, 5, 6], { chunkSize: 1 }));
    const [d0, d1, d2] = Array.from(backend.live);
    expect(pool.stats()).toMatchObject({ running: 3, queued: 2, waiting: 1 });

    backend.fail(d2!, new Error('chunk 2'));
    await tick();
    expect(mapped.settlements).toBe(0); // chunks 0 and 1 may still fail first
    expect(pool.stats()).toMatchObject({ queued: 0, waiting: 0 });
    expect(backend.live.size).toBe(2);

    const first = new Error('chunk 1');
    backend.fail(d1!, first);
    await tick();
    expect(mapped.settlements).toBe(0);
    backend.complete(d0!);
    await tick();
    expect(mapped.error).toBe(first);
    expect(dispatchedArgs(backend)).toEqual([0, 1, 2]);
    // Chunks 3 and 4 were accepted, then cancelled; chunk 5 was still waiting, never accepted.
    expect(pool.stats()).toMatchObject({ submitted: 5, completed: 1, failed: 2, cancelled: 2, running: 0 });
  });

  it('cancels the dispatched chunks after a failure', async () => {
    const { backend, pool } = setup({ capacity: 3 });
    const mapped = pool.map(noop, [0, 1, 2], { chunkSize: 1 });
    const [d0, d1, d2] = Array.from(backend.live);
    const error = new Error('first');
    backend.fail(d0!, error);
    await expect(mapped).rejects.toBe(error);
    expect(backend.cancelRequests).toEqual([d2, d1]);
  });

  it('mapAsync and starmapAsync give AsyncResults with callbacks', async () => {
    const { backend, pool } = setup({ capacity: 8 });
    const callback = vi.fn();
    const mapped = pool.mapAsync(noop, [1, 2, 3], { callback, chunkSize: 2 });
    const starred = pool.starmapAsync(noop, [[4], [5]]);
    const empty = pool.mapAsync(noop, [], { callback });
    expect(mapped.ready()).toBe(false);
    backend.completeAll();
    expect(mapped.ready()).toBe(true);
    expect(callback).toHaveBeenCalledWith([1, 2, 3]);
    expect(await mapped.get()).toEqual([1, 2, 3]);
    expect(await starred.get()).toEqual([4, 5]);
    expect(await empty.get()).toEqual([]);
    expect(callback).toHaveBeenCalledTimes(2);
  });

  it("passes the caller's own TypeError subclass from its generator or a tuple's getter through as it is, nothing queued", async () => {
    // CPython's test_map_handle_iterable_exception: map() raises the iterable's own exception.
    // It was wrapped in a plain TypeError ("map: items could not be read: ..."), losing its
    // class, while imap passed it through.
    class SayWhenError extends TypeError {
      override name = 'SayWhenError';
    }
    function* sayWhen() {
      yield 1;
      throw new SayWhenError('Somebody said when');
    }
    const { backend, pool } = setup({ capacity: 8 });
    const badLength = {
      get length(): number {
        throw new SayWhenError('length');
      },
    };
    const badTuple = [
      [1],
      Object.defineProperty([] as number[], 0, {
        get(): never {
          throw new SayWhenError('tuple');
        },
      }),
    ];
    badTuple[1]!.length = 1;
    await expect(pool.map(noop, sayWhen())).rejects.toThrow(SayWhenError);
    await expect(pool.map(noop, badLength as never)).rejects.toThrow(SayWhenError);
    await expect(pool.starmap(noop, badTuple as never)).rejects.toThrow(SayWhenError);
    expect(() => pool.mapAsync(noop, sayWhen())).toThrow(SayWhenError);
    const read = pool.imap(noop, sayWhen());
    const first = read.next();
    await tick();
    backend.completeAll();
    await expect(first).resolves.toEqual({ done: false, value: 1 });
    await expect(read.next()).rejects.toThrow(SayWhenError);
    expect(pool.stats().submitted).toBe(1); // imap's one chunk; the maps queued nothing
  });

  it('passes a shared counter through to every call', async () => {
    const { backend, pool } = setup({ capacity: 8 });
    const counter = new SharedCounter();
    const results = pool.map(increment, Array(10).fill(counter), { chunkSize: 3 });
    backend.completeAll();
    expect((await results).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(counter.value).toBe(10);
  });
});

describe('imap family', () => {
  /** A generator of 0..n-1 that counts how many items were pulled and whether it was closed. */
  function counted(n: number) {
    const state = { pulled: 0, closed: false };
    function* generate() {
      try {
        for (let i = 0; i < n; i++) {
          state.pulled++;
          yield i;
        }
      } finally {
        state.closed = true;
      }
    }
    return { state, items: generate() };
  }

  it('pulls lazily: never more than window chunks ahead of the consumer', async () => {
    const { backend, pool } = setup({ capacity: 16 });
    const { state, items } = counted(1000);
    const iterator = pool.imap(noop, items, { chunkSize: 2, window: 3 });
    await tick();
    expect(state.pulled).toBe(6);
    backend.completeAll();
    await tick();
    expect(state.pulled).toBe(6); // settled but unread chunks still count against the window

    const seen: number[] = [];
    for (let i = 0; i < 4; i++) seen.push((await iterator.next()).value as number);
    await tick();
    expect(seen).toEqual([0, 1, 2, 3]);
    expect(state.pulled).toBe(10);
    expect(backend.live.size).toBe(2);
  });

  it('yields in input order (imap) or in completion order (imapUnordered)', async () => {
    const { backend, pool } = setup({ capacity: 8 });
    const ordered = pool.imap(noop, [0, 1, 2]);
    const unordered = pool.imapUnordered(noop, [10, 11, 12]);
    await tick();
    const live = Array.from(backend.live);
    for (const d of live.reverse()) backend.complete(d);
    const collect = async (it: AsyncIterable<number>) => {
      const out: number[] = [];
      for await (const v of it) out.push(v);
      return out;
    };
    expect(await collect(ordered)).toEqual([0, 1, 2]);
    expect(await collect(unordered)).toEqual([12, 11, 10]);
  });

  it('istarmap and istarmapUnordered spread tuples from an async iterable', async () => {
    const { backend, pool } = setup({ capacity: 8 });
    async function* tuples() {
      yield [1] as [number];
      yield [] as [];
      yield [3] as [number];
    }
    const results: number[][] = [];
    for (const it of [pool.istarmap(noop, tuples()), pool.istarmapUnordered(noop, tuples(), { chunkSize: 2 })]) {
      const out: number[] = [];
      const drain = (async () => {
        for await (const v of it) out.push(v);
      })();
      while (out.length < 3) {
        backend.completeAll();
        await tick();
      }
      await drain;
      results.push(out);
    }
    expect(results[0]).toEqual([1, 0, 3]);
    expect(results[1]!.sort()).toEqual([0, 1, 3]);
  });

  it('cancels in-flight chunks and closes the source when the consumer breaks early', async () => {
    const { backend, pool } = setup({ capacity: 16 });
    const { state, items } = counted(1000);
    const iterator = pool.imap(noop, items, { window: 4 });
    await tick();
    backend.complete();
    for await (const value of iterator) {
      expect(value).toBe(0);
      break;
    }
    expect(state.closed).toBe(true);
    // Reading item 0 freed a window slot, refilled with item 4 before the loop body ran.
    expect(state.pulled).toBe(5);
    expect(backend.cancelRequests.map((d) => d.calls[0]![0])).toEqual([1, 2, 3, 4]);
    expect(pool.stats()).toMatchObject({ cancelled: 4 });
    backend.completeAll();
    pool.close();
    await pool.join();
  });

  it('throws at the position of an invalid item, after the items before it, and stops pulling', async () => {
    const { backend, pool } = setup({ capacity: 16 });
    let pulled = 0;
    let closed = false;
    const items = (function* () {
      try {
        for (const item of [1, 2, 'three', 4, 5]) {
          pulled++;
          yield item;
        }
      } finally {
        closed = true;
      }
    })();
    const iterator = pool.imap(noop, items as Iterable<number>, { chunkSize: 2 });
    await tick();
    backend.completeAll();
    expect(await iterator.next()).toEqual({ done: false, value: 1 });
    expect(await iterator.next()).toEqual({ done: false, value: 2 });
    await expect(iterator.next()).rejects.toThrow(/imap: items\[2\]: noop: x must be a number/);
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
    expect(pulled).toBe(3);
    expect(closed).toBe(true);
  });

  it('throws a source error after the items pulled before it', async () => {
    const { backend, pool } = setup({ capacity: 16 });
    const boom = new Error('source failed');
    async function* items() {
      yield 1;
      throw boom;
    }
    const iterator = pool.imapUnordered(noop, items());
    await tick();
    backend.completeAll();
    expect((await iterator.next()).value).toBe(1);
    await expect(iterator.next()).rejects.toBe(boom);
  });

  it('ends at a failed chunk in input order, withdrawing the chunks after it', async () => {
    const { backend, pool } = setup({ capacity: 16 });
    const iterator = pool.imap(noop, [0, 1, 2, 3]);
    await tick();
    const [d0, d1] = Array.from(backend.live);
    const error = new Error('chunk 1');
    backend.fail(d1!, error);
    expect(backend.cancelRequests.map((d) => d.calls[0]![0])).toEqual([2, 3]);
    backend.complete(d0);
    expect((await iterator.next()).value).toBe(0);
    await expect(iterator.next()).rejects.toBe(error);
    expect((await iterator.next()).done).toBe(true);
  });

  it('answers concurrent next() calls in order', async () => {
    const { backend, pool } = setup({ capacity: 16 });
    const iterator = pool.imap(noop, [5, 6]);
    const steps = [iterator.next(), iterator.next(), iterator.next()];
    await tick();
    backend.completeAll();
    expect(await Promise.all(steps)).toEqual([
      { done: false, value: 5 },
      { done: false, value: 6 },
      { done: true, value: undefined },
    ]);
  });

  it('throws an abort at once, ahead of unread results', async () => {
    const { backend, pool } = setup({ capacity: 16 });
    const controller = new AbortController();
    const iterator = pool.imap(noop, [1, 2, 3], { signal: controller.signal });
    await tick();
    backend.complete();
    await tick();
    controller.abort();
    await expect(iterator.next()).rejects.toBeInstanceOf(AbortError);
    expect(backend.cancelRequests).toHaveLength(2);
  });

  it('keeps at most one chunk waiting for room in the pool', async () => {
    const { backend, pool } = setup({ capacity: 1 }, { maxQueue: 1 });
    const { state, items } = counted(100);
    const iterator = pool.imap(noop, items, { window: 10 });
    await tick();
    expect(pool.stats()).toMatchObject({ running: 1, queued: 1, waiting: 1 });
    expect(state.pulled).toBe(3);
    const seen: number[] = [];
    for (let i = 0; i < 100; i++) {
      const step = iterator.next();
      backend.complete();
      await tick();
      seen.push((await step).value as number);
      expect(pool.stats().waiting).toBeLessThanOrEqual(1);
    }
    expect(seen).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });
});

describe('AsyncResult and callbacks', () => {
  it('is not thenable, and reports ready() and successful()', async () => {
    const { backend, pool } = setup();
    const ok = pool.applyAsync(noop, [1]);
    const failed = pool.applyAsync(noop, [2]);
    expect('then' in ok).toBe(false);
    expect(ok.ready()).toBe(false);
    expect(() => ok.successful()).toThrow(PoolStateError);
    backend.complete();
    backend.fail(backend.oldest(), new Error('no'));
    expect(ok.ready() && failed.ready()).toBe(true);
    expect(ok.successful()).toBe(true);
    expect(failed.successful()).toBe(false);
    expect(await ok.get()).toBe(1);
    await expect(failed.get()).rejects.toThrow('no');
  });

  it('get(timeout) rejects with TimeoutError while the task keeps running; wait(timeout) never rejects', async () => {
    const { backend, pool } = setup();
    const result = pool.applyAsync(noop, [1]);
    await expect(result.get(5)).rejects.toBeInstanceOf(TimeoutError);
    await result.wait(5);
    expect(result.ready()).toBe(false);
    expect(backend.cancelRequests).toHaveLength(0);
    const waiting = result.wait(10_000);
    backend.complete();
    await waiting;
    expect(await result.get(0)).toBe(1);
    expect(() => result.get(-1)).toThrow(/timeoutMs/);
  });

  it('a failed result nobody reads raises no unhandled rejection', async () => {
    const { backend, pool } = setup();
    const unhandled = vi.fn();
    process.on('unhandledRejection', unhandled);
    try {
      pool.applyAsync(noop, [1]);
      pool.mapAsync(noop, [1, 2]);
      backend.fail(backend.oldest(), new Error('ignored'));
      backend.fail(backend.oldest(), new Error('ignored'));
      await tick();
      await tick();
      expect(unhandled).not.toHaveBeenCalled();
    } finally {
      process.off('unhandledRejection', unhandled);
    }
  });

  it('runs callbacks in settlement order, one at a time, before get() resolves', async () => {
    const { backend, pool } = setup({ capacity: 8, settleOnTerminate: false });
    const events: string[] = [];
    let active = 0;
    const callback = (value: number) => {
      expect(active).toBe(0);
      active++;
      events.push(`callback ${value}`);
      if (value === 2) void pool.terminate(); // settles 0 and 1 from inside this callback
      active--;
    };
    const errorCallback = () => {
      expect(active).toBe(0);
      events.push('errorCallback');
    };
    const results = [0, 1, 2].map((i) => pool.applyAsync(noop, [i], { callback, errorCallback }));
    const gets = results.map((r) =>
      r.get().then(
        (v) => events.push(`get ${v}`),
        () => events.push('get failed'),
      ),
    );
    backend.complete(Array.from(backend.live)[2]);
    await Promise.all(gets);
    expect(events).toEqual(['callback 2', 'errorCallback', 'errorCallback', 'get 2', 'get failed', 'get failed']);
    backend.endTerminate();
  });

  it('re-throws a callback exception as an uncaughtException and keeps working', async () => {
    const { backend, pool } = setup();
    const saved = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    const caught: unknown[] = [];
    process.on('uncaughtException', (error) => caught.push(error));
    const oops = new Error('callback bug');
    try {
      const first = pool.applyAsync(noop, [1], {
        callback: () => {
          throw oops;
        },
      });
      const second = pool.applyAsync(noop, [2], { callback: () => caught.push('second callback') });
      backend.completeAll();
      expect(await first.get()).toBe(1);
      expect(await second.get()).toBe(2);
      await tick();
      expect(caught).toEqual(['second callback', oops]);
      const third = pool.apply(noop, [3]);
      backend.complete();
      expect(await third).toBe(3);
    } finally {
      process.removeAllListeners('uncaughtException');
      for (const listener of saved) process.on('uncaughtException', listener);
    }
  });
});

describe('validation', () => {
  it("names a revoked Proxy, an async iterable or an object with hostile getters, and never runs their code to do it", async () => {
    const { pool } = setup();
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    const hostile = {
      get constructor(): never {
        throw new Error('the getter ran');
      },
    };
    await expect(pool.apply(noop, proxy as never)).rejects.toThrow(/^apply: args must be an array of the task's arguments, got a Proxy$/);
    await expect(pool.map(noop, proxy as never)).rejects.toThrow(/^map: items could not be read: /);
    await expect(pool.map(noop, [1], { chunkSize: proxy as never })).rejects.toThrow(/^map: options\.chunkSize must be a number, got a Proxy$/);
    await expect(pool.apply(noop, [hostile as never])).rejects.toThrow(/^noop: x must be a number, got an object \(Object\)$/);
    expect(() => pool.applyAsync(noop, [1]).get(hostile as never)).toThrow(TypeError);
    async function* lines() {
      yield 1;
    }
    await expect(pool.map(noop, lines() as never)).rejects.toThrow(/^map: items must be an iterable or an array-like, got an async iterable/);
  });

  it('rejects bad pool options with a message naming the option', () => {
    const backend = new ManualBackend();
    const make = (options: unknown) => () => createPoolWithBackend(backend, options as PoolOptions);
    expect(make({ size: 0 })).toThrow(RangeError);
    expect(make({ size: 0 })).toThrow(/size/);
    expect(make({ size: 1.5 })).toThrow(/size/);
    expect(make({ size: NaN })).toThrow(/size/);
    expect(make({ size: -1 })).toThrow(/size/);
    expect(make({ size: 1025 })).toThrow(/size/);
    expect(make({ size: '2' })).toThrow(TypeError);
    expect(make({ maxQueue: 0 })).toThrow(/maxQueue/);
    expect(make({ maxQueue: 2.5 })).toThrow(/maxQueue/);
    expect(make({ onQueueFull: 'drop' })).toThrow(/onQueueFull/);
    expect(make({ backend: 'gpu' })).toThrow(/backend/);
    expect(make({ initializer: 'setup' })).toThrow(/initializer/);
    expect(make({ initArgs: 'x' })).toThrow(/initArgs/);
    expect(make({ maxTasksPerWorker: 0 })).toThrow(/maxTasksPerWorker/);
    expect(make(42)).toThrow(/options/);
    expect(make({ maxQueue: Infinity })).not.toThrow();
  });

  it('refuses worker-only options on a native backend, and closes that backend', () => {
    const native = new ManualBackend({ name: 'native' });
    const init = task('/nonexistent/init.js', 'init');
    expect(() => createPoolWithBackend(native, { initializer: init })).toThrow(/initializer applies only to the worker backend/);
    expect(() => createPoolWithBackend(native, { maxTasksPerWorker: 3 })).toThrow(TypeError);
    expect(native.closeCalls).toBe(2);
    const worker = new ManualBackend({ name: 'worker' });
    const pool = createPoolWithBackend(worker, { initializer: init, initArgs: [1], maxTasksPerWorker: 3 });
    expect(pool.backend).toBe('worker');
  });

  it('infers argument and result types from the kernel descriptor', () => {
    const { pool } = setup();
    const counter = new SharedCounter();
    const pair = {} as Kernel<[lo: number, hi: number], number>;
    expectTypeOf(pool.apply(noop, [1])).toEqualTypeOf<Promise<number>>();
    expectTypeOf(pool.applyAsync(increment, [counter, 2])).toEqualTypeOf<AsyncResult<number>>();
    expectTypeOf(pool.map(increment, [counter])).toEqualTypeOf<Promise<number[]>>();
    expectTypeOf(pool.imap(noop, [1, 2])).toEqualTypeOf<AsyncIterableIterator<number>>();
    expectTypeOf(pool.starmap<typeof pair>).parameter(1).toEqualTypeOf<Iterable<readonly [lo: number, hi: number]> | ArrayLike<readonly [lo: number, hi: number]>>();
    // @ts-expect-error a string is not noop's argument
    void pool.apply(noop, ['x']).catch(() => {});
    // @ts-expect-error increment takes a SharedCounter
    void pool.map(increment, [1]).catch(() => {});
    // map and imap pass each item as the one argument: a task that needs two takes no item
    // (compile-time checks, never run).
    const typeOnly = (): void => {
      // @ts-expect-error countPrimes needs lo and hi: starmap is meant
      void pool.map(pair, [1, 2]);
      // @ts-expect-error the same for imap
      void pool.imap(pair, [1, 2]);
      // @ts-expect-error a JS task of two required parameters
      void pool.mapAsync(task<(a: number, b: number) => number>('/nonexistent/t.js'), [1]);
    };
    void typeOnly;
    // Optional arguments after the first, and tasks typed loosely, still take items.
    expectTypeOf(pool.map<Kernel<[a: number, b?: string], number>>).parameter(1).toEqualTypeOf<Iterable<number> | ArrayLike<number>>();
    expectTypeOf(pool.map<ReturnType<typeof task>>).parameter(1).toEqualTypeOf<Iterable<any> | ArrayLike<any>>();
    // Kernels whose result follows the call's arguments (ResultFn): README says sort resolves
    // with the same array and sha256's encoding picks a string or a Buffer; argsort's indices
    // are a Uint32Array or, from 2^32 elements, a Float64Array (a length types cannot see).
    // Compile-time checks, never run.
    const perCall = async (): Promise<void> => {
      const f64 = new Float64Array(2);
      const i32 = new Int32Array(2);
      const big = new BigUint64Array(2);
      const buf = Buffer.alloc(2);
      const some = f64 as SortableArray;
      expectTypeOf(pool.apply(sort, [f64])).toEqualTypeOf<Promise<typeof f64>>();
      expectTypeOf(pool.apply(sort, [i32])).toEqualTypeOf<Promise<typeof i32>>();
      expectTypeOf(pool.apply(sort, [big])).toEqualTypeOf<Promise<typeof big>>();
      expectTypeOf(pool.apply(sort, [buf])).toEqualTypeOf<Promise<typeof buf>>();
      expectTypeOf(pool.apply(sort, [some])).toEqualTypeOf<Promise<SortableArray>>();
      const sorted: Float64Array = await pool.apply(sort, [f64]);
      expectTypeOf(sorted[0] + 1).toEqualTypeOf<number>();
      // @ts-expect-error a Float64Array's sort is no Int32Array
      const wrong: Int32Array = await pool.apply(sort, [f64]);
      expectTypeOf(pool.apply(argsort, [f64])).toEqualTypeOf<Promise<Uint32Array | Float64Array>>();
      expectTypeOf(pool.map(sort, [f64, f64])).toEqualTypeOf<Promise<(typeof f64)[]>>();
      expectTypeOf(pool.imap(sort, [i32])).toEqualTypeOf<AsyncIterableIterator<typeof i32>>();
      expectTypeOf(pool.starmap(sort, [[i32]])).toEqualTypeOf<Promise<(typeof i32)[]>>();
      expectTypeOf(pool.applyAsync(sort, [f64]).get()).toEqualTypeOf<Promise<typeof f64>>();
      expectTypeOf(pool.mapAsync(sort, [big]).get()).toEqualTypeOf<Promise<(typeof big)[]>>();
      expectTypeOf(pool.submit(sort, [f64])).toEqualTypeOf<Promise<AsyncResult<typeof f64>>>();

      const options = {} as DigestOptions;
      expectTypeOf(pool.apply(sha256, ['a'])).toEqualTypeOf<Promise<string>>();
      expectTypeOf(pool.apply(sha256, ['a', {}])).toEqualTypeOf<Promise<string>>();
      expectTypeOf(pool.apply(sha256, ['a', { encoding: undefined }])).toEqualTypeOf<Promise<string>>();
      expectTypeOf(pool.apply(sha256, ['a', { encoding: 'hex' }])).toEqualTypeOf<Promise<string>>();
      expectTypeOf(pool.apply(sha256, ['a', { encoding: 'base64' }])).toEqualTypeOf<Promise<string>>();
      expectTypeOf(pool.apply(sha256, [buf, { encoding: 'buffer' }])).toEqualTypeOf<Promise<Buffer>>();
      expectTypeOf(pool.apply(sha256, ['a', options])).toEqualTypeOf<Promise<Digest>>();
      expectTypeOf(pool.apply(sha256File, ['/f'])).toEqualTypeOf<Promise<string>>();
      expectTypeOf(pool.apply(sha256File, ['/f', { encoding: 'buffer' }])).toEqualTypeOf<Promise<Buffer>>();
      expectTypeOf((await pool.apply(sha256, ['a'])).toUpperCase()).toEqualTypeOf<string>();
      // @ts-expect-error a Buffer digest has no toUpperCase
      void (await pool.apply(sha256, ['a', { encoding: 'buffer' }])).toUpperCase();
      expectTypeOf(pool.map(sha256, ['a', buf])).toEqualTypeOf<Promise<string[]>>();
      expectTypeOf(pool.imapUnordered(sha256File, ['/f'])).toEqualTypeOf<AsyncIterableIterator<string>>();
      expectTypeOf(pool.starmap(sha256, [['a', { encoding: 'buffer' }]])).toEqualTypeOf<Promise<Buffer[]>>();
      expectTypeOf(pool.starmap(sha256, [['a'], ['b', { encoding: 'buffer' }]])).toEqualTypeOf<Promise<(string | Buffer)[]>>();
      expectTypeOf(pool.istarmap(sha256, [['a', { encoding: 'base64' }]])).toEqualTypeOf<AsyncIterableIterator<string>>();
      expectTypeOf(pool.starmapAsync(sha256File, [['/f', { encoding: 'buffer' }]]).get()).toEqualTypeOf<Promise<Buffer[]>>();
      expectTypeOf(pool.applyAsync(sha256, ['a', { encoding: 'buffer' }]).get()).toEqualTypeOf<Promise<Buffer>>();
      expectTypeOf(pool.submit(sha256, ['a'])).toEqualTypeOf<Promise<AsyncResult<string>>>();
      pool.applyAsync(sha256, ['a', { encoding: 'buffer' }], { callback: (digest) => expectTypeOf(digest).toEqualTypeOf<Buffer>() });
      // Other tasks keep their declared result; a JS task's comes from its function's type.
      expectTypeOf(pool.apply(task<(x: number) => Promise<string>>('/nonexistent/t.js'), [1])).toEqualTypeOf<Promise<string>>();
      expectTypeOf(pool.apply<typeof sha256>).returns.toEqualTypeOf<Promise<Digest>>();
      void wrong;
    };
    void perCall;
    // Code generic in the task still gets ResultOf<T>: a per-call result is always within it.
    const generic = async <T extends Task>(t: T, args: Readonly<ArgsOf<T>>, items: ItemOf<T>[]): Promise<ResultOf<T>[]> => {
      const one: ResultOf<T> = await pool.apply(t, args);
      const later = pool.applyAsync(t, args, { callback: (value: ResultOf<T>) => void value });
      return [one, await later.get(), ...(await pool.map(t, items)), ...(await pool.starmap(t, [args]))];
    };
    void generic;
  });

  it('rejects bad call arguments naming them, before anything is queued', async () => {
    const { backend, pool } = setup();
    const anyPool = pool as any;
    const rejects = async (promise: Promise<unknown>, type: ErrorConstructor, pattern: RegExp) => {
      const error = await promise.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(type);
      expect((error as Error).message).toMatch(pattern);
    };
    await rejects(anyPool.apply({ name: 'noop' }, [1]), TypeError, /task/);
    await rejects(anyPool.apply(() => 1, [1]), TypeError, /task/);
    await rejects(anyPool.apply(noop, 1), TypeError, /args/);
    await rejects(anyPool.apply(noop, ['x']), TypeError, /x must be a number/);
    await rejects(anyPool.apply(noop, [1, 2]), TypeError, /noop takes/);
    await rejects(anyPool.apply(noop, [1], { timeout: -1 }), RangeError, /timeout/);
    await rejects(anyPool.apply(noop, [1], { timeout: 0 }), RangeError, /timeout/);
    await rejects(anyPool.apply(noop, [1], { timeout: NaN }), RangeError, /timeout/);
    await rejects(anyPool.apply(noop, [1], { timeout: Infinity }), RangeError, /timeout/);
    await rejects(anyPool.apply(noop, [1], { timeout: '5' }), TypeError, /timeout/);
    await rejects(anyPool.apply(noop, [1], { signal: {} }), TypeError, /signal/);
    await rejects(anyPool.apply(noop, [1], { progress: 3 }), TypeError, /progress/);
    await rejects(anyPool.apply(noop, [1], 'fast'), TypeError, /options/);
    await rejects(anyPool.submit(noop, [1], { callback: 'x' }), TypeError, /callback/);
    await rejects(anyPool.map(noop, [1], { chunkSize: 0 }), RangeError, /chunkSize/);
    await rejects(anyPool.map(noop, [1], { chunkSize: 1.5 }), RangeError, /chunkSize/);
    await rejects(anyPool.map(noop, 5), TypeError, /items/);
    await rejects(anyPool.map(noop, [1, 2, 'x', 4]), TypeError, /map: items\[2\]: noop: x must be a number/);
    await rejects(anyPool.map(noop, [1, Infinity]), RangeError, /items\[1\]/);
    await rejects(anyPool.starmap(noop, [[1], 2]), TypeError, /tuples\[1\]/);
    await rejects(anyPool.starmap(noop, [[1], [1, 2]]), TypeError, /tuples\[1\]: noop takes/);

    expect(() => anyPool.applyAsync(noop, [1], { errorCallback: 1 })).toThrow(/errorCallback/);
    expect(() => anyPool.applyAsync(noop, 'x')).toThrow(/args/);
    expect(() => anyPool.mapAsync(noop, [1], { callback: 1 })).toThrow(/callback/);
    expect(() => anyPool.starmapAsync(noop, [1])).toThrow(/tuples\[0\]/);
    expect(() => anyPool.imap(noop, [1], { window: 0 })).toThrow(/window/);
    expect(() => anyPool.imap(noop, [1], { chunkSize: -2 })).toThrow(/chunkSize/);
    expect(() => anyPool.imapUnordered(noop, 7)).toThrow(/items/);
    expect(() => anyPool.istarmap({}, [])).toThrow(/task/);

    expect(pool.stats()).toMatchObject({ submitted: 0, waiting: 0, queued: 0 });
    expect(backend.dispatched).toHaveLength(0);
  });
});
