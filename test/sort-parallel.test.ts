// sort and argsort shared out over the worker backend's workers, or staged in shared memory
// (src-ts/kernels/sort-parallel.ts), and the rounds of a split call they run in
// (src-ts/backends/split-call.ts):
// - the round machinery with a scripted kernel and backend: rounds in order, each after the
//   whole previous one; a failure, a cancellation or a throwing nextRound ends the call once,
//   after every part has settled, and starts no further round;
// - which calls are split, staged, or left as they are;
// - the rounds driven in this process (split, each part's run, nextRound, combine) for every
//   element type and shape at the sharing threshold, shared and staged, sort and argsort,
//   against V8's own sort (Object.is, element by element) and the stable permutation;
// - on real pools of one and two workers: every type, 1e7 doubles, progress, ordinary arrays
//   staged (and small ones cloned), argsort's result an ordinary Uint32Array, abort and timeout
//   (every part stops: the array stops changing, the workers are free at once), and terminate()
//   during a shared-out sort (in a child process: it must not hang).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Dispatch, Outcome } from '../src-ts/backends/backend.js';
import { SplitCall } from '../src-ts/backends/split-call.js';
import { AbortError, TimeoutError } from '../src-ts/errors.js';
import { kernels } from '../src-ts/kernels/index.js';
import { PARALLEL_MIN, STAGE_MIN, type SortPart } from '../src-ts/kernels/sort-parallel.js';
import type { Kernel, KernelContext } from '../src-ts/kernels/types.js';
import { SharedCounter } from '../src-ts/shared/counter.js';
import { firstMismatch, isStableArgsort, makeArray, SHAPES, TYPES, type Ctor, type Shape, type Typed } from './support/sort-arrays.js';
import { useWorkerPools } from './support/worker-pools.js';

const { sort, argsort } = kernels;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
// Outcome is a const enum of backend.ts; its values, for the scripted backend below.
const OK = 0 as Outcome;
const ERROR = 1 as Outcome;
const CANCELLED = 2 as Outcome;

describe('a split call in rounds', () => {
  /** A kernel of `rounds` rounds of two parts each; a part's result is 10 * round + its index. */
  function roundsKernel(rounds: number, log: string[], throwAfter = -1): Kernel {
    return {
      kind: 'kernel',
      name: 'rounds',
      validate: (args: readonly unknown[]) => [...args],
      run: () => undefined,
      nextRound(results: unknown[], pieces: readonly (readonly unknown[])[], args: readonly unknown[]) {
        const round = pieces[0]![0] as number;
        log.push(`next after ${round}: ${JSON.stringify(results)} args ${JSON.stringify(args)}`);
        if (round === throwAfter) throw new RangeError('nextRound failed');
        return round + 1 < rounds ? [[round + 1, 0], [round + 1, 1]] : undefined;
      },
      combine: (results: unknown[], args: readonly unknown[]) => ({ results, args }),
    } as unknown as Kernel;
  }

  /** A backend that only records: parts started and cancelled; the test settles them. */
  function scripted(kernel: Kernel) {
    const settled: [Outcome, unknown][] = [];
    const started: Dispatch[] = [];
    const cancelled: Dispatch[] = [];
    const whole = {
      id: 1, kernel, batch: false, args: ['whole'], calls: [['whole']], numberArgs: -1, arg0: undefined, arg1: undefined,
      progress: undefined, transfer: undefined, backendSlot: undefined, acceptedAt: 0,
      settle: (outcome: Outcome, value: unknown) => settled.push([outcome, value]),
      timed: () => {},
    } as Dispatch;
    const call = new SplitCall(whole, kernel, [[0, 0], [0, 1]], (part) => cancelled.push(part), (parts) => started.push(...parts));
    call.start();
    return { call, settled, started, cancelled };
  }

  it('starts each round once the whole previous one has succeeded, and combines the last', () => {
    const log: string[] = [];
    const { settled, started } = scripted(roundsKernel(3, log));
    expect(started.map((p) => p.calls[0])).toEqual([[0, 0], [0, 1]]);
    started[1]!.settle(OK, 1);
    expect(started).toHaveLength(2); // round 1 waits for every part of round 0
    started[0]!.settle(OK, 0);
    expect(log).toEqual(['next after 0: [0,1] args ["whole"]']); // results in part order
    expect(started.slice(2).map((p) => p.calls[0])).toEqual([[1, 0], [1, 1]]);
    started[2]!.settle(OK, 10);
    started[3]!.settle(OK, 11);
    started[4]!.settle(OK, 20);
    expect(settled).toEqual([]);
    started[5]!.settle(OK, 21);
    expect(started).toHaveLength(6);
    expect(settled).toEqual([[OK, { results: [20, 21], args: ['whole'] }]]);
  });

  it('a failed part cancels the rest of its round, starts no further round, and settles the call once, last', () => {
    const log: string[] = [];
    const { settled, started, cancelled } = scripted(roundsKernel(3, log));
    started[0]!.settle(OK, 0);
    started[1]!.settle(OK, 1);
    const failure = new Error('part failed');
    started[2]!.settle(ERROR, failure);
    expect(cancelled).toEqual([started[3]]);
    expect(settled).toEqual([]); // the other part is still out
    started[3]!.settle(CANCELLED, undefined);
    expect(settled).toEqual([[ERROR, failure]]);
    expect(started).toHaveLength(4);
    expect(log).toHaveLength(1);
  });

  it('a cancelled call starts no further round even when the round still out succeeds', () => {
    const { call, settled, started, cancelled } = scripted(roundsKernel(3, []));
    started[0]!.settle(OK, 0);
    started[1]!.settle(OK, 1);
    call.cancel();
    expect(cancelled).toEqual([started[2], started[3]]);
    started[2]!.settle(OK, 10); // finished before it saw the cancellation
    started[3]!.settle(CANCELLED, undefined);
    expect(started).toHaveLength(4);
    expect(settled).toEqual([[CANCELLED, undefined]]);
  });

  it('a nextRound that throws fails the call with its error', () => {
    const { settled, started } = scripted(roundsKernel(3, [], 0));
    started[0]!.settle(OK, 0);
    started[1]!.settle(OK, 1);
    expect(started).toHaveLength(2);
    expect(settled).toHaveLength(1);
    expect(settled[0]![0]).toBe(ERROR);
    expect(settled[0]![1]).toBeInstanceOf(RangeError);
  });
});

/** What a worker's reply carries: a part's result, or the value a withTransfer() wrapper moves. */
function replied(value: unknown): unknown {
  const moved = typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[Symbol.for('spindle.worker.transfer')] === true;
  return moved ? (value as { value: unknown }).value : value;
}

/**
 * Runs sort or argsort by driving its rounds in this process, as the worker backend would over
 * `parts` parts: the number of rounds, and the call's result.
 */
function inRounds(kernel: Kernel, array: Typed, parts: number, ctx: KernelContext): { rounds: number; result: unknown } {
  const args = kernel.validate([array]);
  let pieces: unknown[][] | undefined = kernel.split!(args, parts);
  let rounds = 0;
  let results: unknown[] = [];
  while (pieces !== undefined) {
    // Each part gets its own copy of its tuple's tables, as a worker gets a structured clone.
    results = pieces.map((piece) => replied(kernel.run(structuredClone(piece), ctx)));
    rounds++;
    pieces = kernel.nextRound!(results, pieces, args);
  }
  return { rounds, result: kernel.combine!(results, args) };
}

function sortInRounds(array: Typed, parts: number, ctx: KernelContext): number {
  return inRounds(sort, array, parts, ctx).rounds;
}

function onShared(input: Typed): Typed {
  const ctor = input.constructor as Ctor;
  const array = new ctor(new SharedArrayBuffer(input.byteLength) as unknown as ArrayBuffer) as Typed;
  array.set(input as any);
  return array;
}

describe('the rounds, driven in this process', () => {
  it('which calls are shared out, staged, run whole in one part, or left as they are', () => {
    /** 'as is' (the call's own tuple), or the first round's parts: how many, which round, staged. */
    const plan = (kernel: Kernel, array: Typed, parts = 8) => {
      const args = kernel.validate([array]);
      const pieces = kernel.split!(args, parts);
      if (pieces.length === 1 && pieces[0] === args) return 'as is';
      const first = pieces[0]![0] as SortPart;
      const round = ['count', 'pass', 'finish', 'collect', 'whole', 'touch'][first.round];
      return `${pieces.length} ${round}${first.staged ? ' staged' : ''}`;
    };
    const shared = makeArray(Int32Array, PARALLEL_MIN, 'random', true, 1);
    const plain = makeArray(Int32Array, PARALLEL_MIN, 'random', false, 1);
    expect(STAGE_MIN).toBeLessThanOrEqual(PARALLEL_MIN * 4);
    // Shared: shared out from PARALLEL_MIN with several parts; else sorted where it is by one
    // worker, or (argsort, whose indices then come back moved) one whole part.
    expect(plan(sort, shared)).toBe('8 count');
    expect(plan(sort, shared, 3)).toBe('2 count'); // slices of a power of two elements
    expect(plan(sort, shared, 1)).toBe('as is');
    expect(plan(argsort, shared)).toBe('8 count');
    expect(plan(argsort, shared, 1)).toBe('1 whole');
    const justBelow = makeArray(Int32Array, PARALLEL_MIN - 1, 'random', true, 1);
    expect(plan(sort, justBelow)).toBe('as is');
    expect(plan(argsort, justBelow)).toBe('1 whole');
    // Ordinary: staged from STAGE_MIN bytes, and then planned as if shared; cloned below it. A
    // fresh buffer is faulted in by the workers first (touch), sliced as the first round will be.
    expect(plan(sort, plain)).toBe('8 touch staged');
    expect(plan(sort, plain, 1)).toBe('1 touch staged');
    expect(plan(argsort, plain)).toBe('8 touch staged');
    expect(plan(argsort, plain, 1)).toBe('1 touch staged');
    const small = makeArray(Float64Array, STAGE_MIN / 8 - 1, 'random', false, 1);
    expect(plan(sort, small)).toBe('as is');
    expect(plan(argsort, small)).toBe('as is');
    expect(plan(sort, makeArray(Float64Array, STAGE_MIN / 8, 'random', false, 1))).toBe('1 touch staged');
    expect(plan(argsort, makeArray(Uint8Array, STAGE_MIN - 1, 'random', true, 1))).toBe('as is');
    // Once a staged argsort of that size has succeeded, its buffer is kept: the next staged call
    // copies into it at once and starts with its first real round.
    const done = inRounds(argsort, plain.slice(), 8, { cancelled: () => false, progress: () => {} });
    expect(done.rounds).toBeGreaterThan(3); // touch, count, passes, collect
    expect(plan(sort, plain)).toBe('8 count staged');
    inRounds(argsort, plain.slice(), 1, { cancelled: () => false, progress: () => {} });
    expect(plan(argsort, plain, 1)).toBe('1 whole staged');
  });

  it('a staged sort writes the caller\'s array only when it succeeds; a staged argsort never', () => {
    const input = makeArray(Float64Array, PARALLEL_MIN, 'random', false, 2);
    const array = input.slice();
    const args = sort.validate([array]);
    const pieces = sort.split!(args, 4);
    // Every round run and the call cancelled before the finish: the caller's array as it was.
    let round: unknown[][] | undefined = pieces;
    const ctx = { cancelled: () => false, progress: () => {} };
    while (round !== undefined && (round[0]![0] as SortPart).round !== 2) {
      const results = round.map((piece) => sort.run(structuredClone(piece), ctx));
      round = sort.nextRound!(results, round, args);
    }
    expect(Buffer.from(array.buffer).equals(Buffer.from(input.buffer))).toBe(true);
    const results = round!.map((piece) => sort.run(structuredClone(piece), ctx));
    expect(sort.nextRound!(results, round!, args)).toBeUndefined();
    expect(sort.combine!(results, args)).toBe(array);
    expect(firstMismatch(input, array)).toBe(-1);
    // argsort reads its staged copy, and writes neither it back nor the caller's array.
    const again = input.slice();
    const { result } = inRounds(argsort, again, 4, ctx);
    expect(Buffer.from(again.buffer).equals(Buffer.from(input.buffer))).toBe(true);
    expect(isStableArgsort(input, result as Uint32Array)).toBe(true);
  });

  const cases: [string, Shape, Ctor][] = [];
  for (const ctor of TYPES) {
    const full = ctor === Float64Array || ctor === Int32Array || ctor === BigInt64Array || ctor === Float32Array;
    for (const shape of SHAPES) if (full || shape === 'random' || shape === 'specials' || shape === 'oneHugeBucket') cases.push([ctor.name, shape, ctor]);
  }
  it.each(cases)('%s %s: V8\'s order, progress counts every element once', (_name, shape, ctor) => {
    const n = ctor.BYTES_PER_ELEMENT >= 4 && shape === 'random' ? PARALLEL_MIN + 12_345 : PARALLEL_MIN;
    const input = makeArray(ctor, n, shape, false, n + shape.length);
    const array = onShared(input);
    let progress = 0;
    const rounds = sortInRounds(array, 8, { cancelled: () => false, progress: (units) => (progress += units) });
    expect(rounds).toBeGreaterThan(1);
    expect({ shape, mismatch: firstMismatch(input, array) }).toEqual({ shape, mismatch: -1 });
    expect(progress).toBe(n);
  }, 60_000);

  // argsort, shared out: on a SharedArrayBuffer (keys in the scratch) and staged (keys made in
  // the staged copy), and in one whole part; the stable permutation, the input untouched.
  const argCases: [string, Shape, Ctor, 'shared' | 'staged' | 'whole'][] = [];
  for (const ctor of TYPES) {
    for (const shape of ['random', 'fewDistinct', 'specials', 'allEqual'] as const) {
      argCases.push([ctor.name, shape, ctor, (['shared', 'staged', 'whole'] as const)[(argCases.length + ctor.BYTES_PER_ELEMENT) % 3]!]);
    }
  }
  it.each(argCases)('argsort %s %s (%s): the stable permutation, progress counts every element once', (_name, shape, ctor, how) => {
    const n = PARALLEL_MIN + 777;
    const input = makeArray(ctor, n, shape, false, n + shape.length);
    const array = how === 'staged' ? input.slice() : onShared(input);
    let progress = 0;
    const { rounds, result } = inRounds(argsort, array, how === 'whole' ? 1 : 8, { cancelled: () => false, progress: (units) => (progress += units) });
    if (how === 'whole' || shape === 'allEqual') expect(rounds).toBe(how === 'whole' ? 1 : 2); // count, collect
    else expect(rounds).toBeGreaterThan(2);
    expect(result).toBeInstanceOf(Uint32Array);
    expect(isStableArgsort(input, result as Uint32Array)).toBe(true);
    expect(Buffer.from(array.buffer, array.byteOffset, array.byteLength).equals(Buffer.from(input.buffer))).toBe(true);
    expect(progress).toBe(n);
  }, 60_000);

  it('a view at an offset into a larger SharedArrayBuffer: sorted, and nothing outside it touched', () => {
    const whole = makeArray(BigInt64Array, PARALLEL_MIN + 2000, 'random', true, 8) as BigInt64Array;
    const outside = [whole.slice(0, 1000), whole.slice(PARALLEL_MIN + 1000)];
    const view = whole.subarray(1000, PARALLEL_MIN + 1000);
    const input = view.slice();
    expect(sortInRounds(view, 8, { cancelled: () => false, progress: () => {} })).toBeGreaterThan(1);
    expect(firstMismatch(input, view)).toBe(-1);
    expect([whole.slice(0, 1000), whole.slice(PARALLEL_MIN + 1000)]).toEqual(outside);
  });

  it('a part of every round stops within 2^20 elements of a cancellation', () => {
    const input = makeArray(Float64Array, 8 * 2 ** 20, 'random', false, 3);
    const array = onShared(input);
    const args = sort.validate([array]);
    // Two parts of 4 * 2^20 elements per round: count, 8 passes (random doubles differ in every
    // byte), finish. Each round's first part runs with a context cancelled at its second check
    // (a check per 2^20 elements after the first), then the round is driven to its end.
    let pieces: unknown[][] | undefined = sort.split!(args, 2);
    const stops: [number, number][] = [];
    while (pieces !== undefined) {
      let checks = 0;
      let progress = 0;
      sort.run(structuredClone(pieces[0]!), { cancelled: () => ++checks >= 2, progress: (units) => (progress += units) });
      stops.push([checks, progress]);
      const results = pieces.map((piece) => sort.run(structuredClone(piece), { cancelled: () => false, progress: () => {} }));
      pieces = sort.nextRound!(results, pieces, args);
    }
    // Every round's part stopped at its second check; only the finish counts progress, a block
    // per check passed.
    expect(stops).toEqual([...Array.from({ length: 9 }, () => [2, 0]), [2, 2 * 2 ** 20]]);
    expect(firstMismatch(input, array)).toBe(-1);
  });
});

const workerPool = useWorkerPools();

/** A fingerprint of an array's bytes. */
function bytesOf(array: Typed): Buffer {
  return Buffer.from(new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
}

describe('on a pool of two workers', () => {
  it('every element type, shared out: V8\'s order and the same array back; progress ends at the length', async () => {
    const pool = workerPool({ size: 2 });
    const failures: string[] = [];
    let seed = 40;
    for (const ctor of TYPES) {
      const input = makeArray(ctor, PARALLEL_MIN + 1, 'specials', false, seed++);
      const array = onShared(input);
      const progress = new SharedCounter();
      if ((await pool.apply(sort, [array], { progress })) !== array) failures.push(`${ctor.name}: another array back`);
      if (firstMismatch(input, array) !== -1) failures.push(`${ctor.name}: element ${firstMismatch(input, array)}`);
      if (progress.value !== array.length) failures.push(`${ctor.name}: progress ${progress.value}`);
    }
    expect(failures).toEqual([]);
  }, 120_000);

  it('1e7 doubles of every kind, shared out', async () => {
    const pool = workerPool({ size: 2 });
    const input = makeArray(Float64Array, 1e7, 'specials', false, 77);
    const array = onShared(input);
    expect(await pool.apply(sort, [array])).toBe(array);
    expect(firstMismatch(input, array)).toBe(-1);
  }, 120_000);

  it('an ordinary array is staged, sorted by both workers and copied back; a small one is cloned to one worker', async () => {
    const pool = workerPool({ size: 2 });
    for (const n of [2 * PARALLEL_MIN, 1000]) {
      const input = makeArray(Float64Array, n, 'specials', false, 5);
      const array = input.slice();
      const progress = new SharedCounter();
      expect(await pool.apply(sort, [array], { progress })).toBe(array);
      expect(firstMismatch(input, array)).toBe(-1);
      expect(progress.value).toBe(n);
      expect(array.buffer).toBeInstanceOf(ArrayBuffer);
    }
    // Staged as their built-in kind: a Buffer (never `new Buffer`, deprecated) and a subclass
    // (never constructed, its own set() never called); a view inside a larger buffer (nothing
    // outside it touched).
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      const bytes = Buffer.from(makeArray(Uint8Array, 3 * STAGE_MIN, 'random', false, 6) as Uint8Array);
      const sortedBytes = Buffer.from(bytes).sort();
      expect(await pool.apply(sort, [bytes])).toBe(bytes);
      expect(bytes.equals(sortedBytes)).toBe(true);
      class Prices extends Float64Array {
        override set(): void {
          throw new Error('the subclass set() was called');
        }
      }
      for (const n of [PARALLEL_MIN, 1000]) {
        const input = makeArray(Float64Array, n, 'random', false, 7);
        const prices = new Prices(input.length);
        Float64Array.prototype.set.call(prices, input as Float64Array);
        expect(await pool.apply(sort, [prices])).toBe(prices);
        expect(firstMismatch(input, prices)).toBe(-1);
      }
      const whole = makeArray(Int32Array, PARALLEL_MIN + 2000, 'random', false, 8) as Int32Array;
      const outside = [whole.slice(0, 1000), whole.slice(PARALLEL_MIN + 1000)];
      const view = whole.subarray(1000, PARALLEL_MIN + 1000);
      const viewInput = view.slice();
      expect(await pool.apply(sort, [view])).toBe(view);
      expect(firstMismatch(viewInput, view)).toBe(-1);
      expect([whole.slice(0, 1000), whole.slice(PARALLEL_MIN + 1000)]).toEqual(outside);
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  }, 60_000);

  it('argsort shared out, of shared and ordinary arrays: an ordinary Uint32Array of the stable permutation; progress ends at the length', async () => {
    const pool = workerPool({ size: 2 });
    let seed = 60;
    const failures: string[] = [];
    for (const ctor of [Float64Array, Int32Array, Uint16Array, BigInt64Array] as Ctor[]) {
      for (const shared of [true, false]) {
        const input = makeArray(ctor, PARALLEL_MIN + 3, 'specials', false, seed++);
        const array = shared ? onShared(input) : input.slice();
        const progress = new SharedCounter();
        const order = await pool.apply(argsort, [array], { progress });
        const what = `${ctor.name} shared=${shared}`;
        if (!(order instanceof Uint32Array) || order.buffer instanceof SharedArrayBuffer) failures.push(`${what}: not an ordinary Uint32Array`);
        if (!isStableArgsort(input, order)) failures.push(`${what}: not the stable permutation`);
        if (progress.value !== input.length) failures.push(`${what}: progress ${progress.value}`);
        if (!bytesOf(array).equals(bytesOf(input))) failures.push(`${what}: input changed`);
      }
    }
    expect(failures).toEqual([]);
  }, 120_000);

  it('on a pool of one worker: large sorts and argsorts, shared and ordinary, run whole (staged when ordinary)', async () => {
    const pool = workerPool({ size: 1 });
    const input = makeArray(Float32Array, 3 * PARALLEL_MIN, 'specials', false, 70);
    for (const shared of [true, false]) {
      const array = shared ? onShared(input) : input.slice();
      const order = await pool.apply(argsort, [array]);
      expect(order.buffer).toBeInstanceOf(ArrayBuffer);
      expect(isStableArgsort(input, order)).toBe(true);
      const progress = new SharedCounter();
      expect(await pool.apply(sort, [array], { progress })).toBe(array);
      expect(firstMismatch(input, array)).toBe(-1);
      expect(progress.value).toBe(input.length);
    }
  }, 120_000);

  it('an abort or a timeout rejects the call and stops every part: the array stops changing and both workers are free', async () => {
    const pool = workerPool({ size: 2 });
    const array = makeArray(Float64Array, 2 ** 25, 'random', true, 9);
    for (const how of ['abort', 'timeout'] as const) {
      const controller = new AbortController();
      const options = how === 'abort' ? { signal: controller.signal } : { timeout: 100 };
      const running = pool.apply(sort, [array], options);
      setTimeout(() => controller.abort(), 100);
      await expect(running).rejects.toBeInstanceOf(how === 'abort' ? AbortError : TimeoutError);
      // Both workers take a task at once: no part of the cancelled sort is left in their way.
      const started = performance.now();
      await Promise.all([pool.apply(kernels.noop, [1]), pool.apply(kernels.noop, [2])]);
      expect(performance.now() - started).toBeLessThan(1000);
      const before = bytesOf(array);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(bytesOf(array).equals(before)).toBe(true); // no later round ran
    }
    // The pool goes on sorting, shared out.
    const input = makeArray(Int32Array, PARALLEL_MIN, 'random', false, 10);
    const again = onShared(input);
    await pool.apply(sort, [again]);
    expect(firstMismatch(input, again)).toBe(-1);
  }, 120_000);

  it('terminate() during a shared-out sort settles the call within 1 s and stops the pool (child process)', () => {
    const script = `
      import { Pool, kernels } from './dist/index.js';
      const pool = new Pool({ backend: 'worker', size: 2 });
      const array = new Float64Array(new SharedArrayBuffer(8 * 2 ** 25));
      for (let i = 0; i < array.length; i++) array[i] = Math.random();
      await pool.apply(kernels.noop, [0]);
      const running = pool.apply(kernels.sort, [array]).then(() => 'resolved', (error) => error.name);
      await new Promise((resolve) => setTimeout(resolve, 150));
      const asked = performance.now();
      const stopped = pool.terminate();
      const outcome = await running;
      const settledMs = performance.now() - asked;
      await stopped;
      console.log(JSON.stringify({ outcome, settledMs, stoppedMs: performance.now() - asked }));
    `;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(result.status, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout.trim()) as { outcome: string; settledMs: number; stoppedMs: number };
    expect(report.outcome).not.toBe('resolved');
    expect(report.settledMs).toBeLessThan(1000);
    expect(report.stoppedMs).toBeLessThan(5000);
  }, 70_000);
});
