import { runInNewContext } from 'node:vm';
// kernels.sort and kernels.argsort on every backend, and the JS twin directly, against V8's own
// TypedArray.prototype.sort() as the oracle (element by element under Object.is): every element
// type; random bits (NaNs of every payload and sign, subnormals), sorted, reversed, all-equal,
// few distinct values and a mix of specials written through byte views; lengths around every
// internal threshold (insertion sort 32, the native parallel path 65536, the twin's 2^20 block)
// and 1e7 once per backend. argsort: the unique stable permutation. Buffers: ordinary and
// SharedArrayBuffer. Cancellation, progress, map chunks and bad input.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { backendInfo } from '../src-ts/backends/select.js';
import { kernels } from '../src-ts/kernels/index.js';
import { keyBytes, radix, toKeys, wordsOf, wordsPerElement, type SortType } from '../src-ts/kernels/sort-twin.js';
import { noContext, type KernelContext } from '../src-ts/kernels/types.js';
import type { Pool, PoolOptions } from '../src-ts/pool.js';
import { SharedCounter } from '../src-ts/shared/counter.js';
import { availableBackends } from './support/backends.js';
import { cpuinfoWords } from './support/cpuinfo.js';
import { firstMismatch, isStableArgsort, makeArray, SHAPES, TYPES, type Typed } from './support/sort-arrays.js';

const { sort, argsort } = kernels;

const twinSort = (array: Typed, ctx: KernelContext = noContext): Typed => sort.run(sort.validate([array]), ctx) as Typed;
const twinArgsort = (array: Typed, ctx: KernelContext = noContext) => argsort.run(argsort.validate([array]), ctx);

const LENGTHS = [0, 1, 2, 3, 31, 32, 33, 257, 1000, 65535, 65536, 65537];

describe('the JS twin, directly', () => {
  it.each(TYPES.map((t) => [t.name, t] as const))('%s: every shape and length sorts as V8 does; argsort is stable', (_name, ctor) => {
    let seed = 1;
    for (const n of LENGTHS) {
      for (const shape of SHAPES) {
        const input = makeArray(ctor, n, shape, seed % 2 === 0, seed++);
        const array = input.slice();
        expect(twinSort(array)).toBe(array);
        expect({ n, shape, mismatch: firstMismatch(input, array) }).toEqual({ n, shape, mismatch: -1 });
        const before = input.slice();
        const idx = twinArgsort(input);
        expect(idx).toBeInstanceOf(Uint32Array);
        expect({ n, shape, stable: isStableArgsort(input, idx) }).toEqual({ n, shape, stable: true });
        expect(Buffer.from(input.buffer).equals(Buffer.from(before.buffer))).toBe(true); // argsort only reads
      }
    }
  });

  it('Float64Array around the twin\'s 2^20-element block, and views at an offset', () => {
    for (const n of [2 ** 20 - 1, 2 ** 20, 2 ** 20 + 1]) {
      const input = makeArray(Float64Array, n, 'specials', false, n);
      const array = input.slice();
      twinSort(array);
      expect(firstMismatch(input, array)).toBe(-1);
    }
    const whole = makeArray(Int16Array, 1000, 'random', false, 7);
    const outside = [whole.slice(0, 100), whole.slice(900)];
    const part = whole.subarray(100, 900);
    const input = part.slice();
    twinSort(part);
    expect(firstMismatch(input, part)).toBe(-1);
    expect([whole.slice(0, 100), whole.slice(900)]).toEqual(outside); // nothing outside the view moves
  });

  it('argsort into a Float64Array of indices (the type for 2^32 elements and more) is the same order', () => {
    const input = makeArray(Float64Array, 5000, 'fewDistinct', false, 3);
    const [array, type] = argsort.validate([input]);
    const out = new Float64Array(input.length);
    const idx = argsort.run([array, type, out, 1], noContext);
    expect(idx).toBe(out);
    expect(isStableArgsort(input, out)).toBe(true);
  });

  it('the wide counts (Float64Array, for keys of 2^31 words or more) sort every type as the Int32 ones do', () => {
    // radix() takes Int32Array counts and places below 2^31 words; arrays that long cannot be
    // made in a test, so the wide path is forced on small ones, sorted and argsorted both ways.
    let seed = 11;
    for (const ctor of TYPES) {
      for (const n of [2, 33, 1000, 65537]) {
        const input = makeArray(ctor, n, 'specials', false, seed++);
        const type = sort.validate([input])[1] as SortType;
        const w = wordsPerElement(type);
        const results = [false, true].map((wide) => {
          const keys = wordsOf(input.slice(), type);
          toKeys(keys, keys, type, 0, n);
          const tmp = keys.slice().fill(0);
          const idx = Uint32Array.from({ length: n }, (_, i) => i);
          const inTmp = radix(n, w, keyBytes(type), keys, tmp, idx, new Uint32Array(n), noContext, wide);
          const sortedKeys = inTmp ? tmp : keys;
          const plain = wordsOf(input.slice(), type);
          toKeys(plain, plain, type, 0, n);
          const plainTmp = plain.slice().fill(0);
          const plainInTmp = radix(n, w, keyBytes(type), plain, plainTmp, undefined, undefined, noContext, wide);
          return { keys: Array.from(sortedKeys), plain: Array.from(plainInTmp ? plainTmp : plain), order: inTmp ? 'tmp' : 'keys' };
        });
        expect(results[1], `${ctor.name} n=${n}`).toEqual(results[0]);
        const sorted = input.slice();
        twinSort(sorted);
        const back = wordsOf(sorted, type);
        toKeys(back, back, type, 0, n);
        expect(results[1]!.plain, `${ctor.name} n=${n} against the twin`).toEqual(Array.from(back));
      }
    }
  });

  it('stops within a pass once cancelled, and counts progress in elements', () => {
    const array = makeArray(Float64Array, 3 * 2 ** 20, 'random', false, 9);
    // Cancelled at the third check: a twin that ignored it would make a check per pass and block
    // (about 20 here) and report progress.
    let checks = 0;
    let progress = 0;
    const ctx: KernelContext = { cancelled: () => ++checks >= 3, progress: (n) => (progress += n) };
    twinSort(array, ctx);
    expect(checks).toBeLessThanOrEqual(3 + 2); // the pass, the digit loop and the caller each stop at their first look
    expect(progress).toBe(0);
    checks = 0;
    twinArgsort(array, ctx);
    expect(checks).toBeLessThanOrEqual(3 + 2);
    expect(progress).toBe(0);
    const counted: KernelContext = { cancelled: () => false, progress: (n) => (progress += n) };
    twinSort(array, counted);
    expect(progress).toBe(array.length);
    progress = 0;
    twinArgsort(array, counted);
    expect(progress).toBe(array.length);
  });
});

describe('bad input', () => {
  const expectTypeError = (args: unknown[], message: RegExp): void => {
    for (const kernel of [sort, argsort]) expect(() => kernel.validate(args)).toThrow(message);
    for (const kernel of [sort, argsort]) expect(() => kernel.validate(args)).toThrow(TypeError);
  };

  /**
   * A structuredClone that lists a buffer a sort marked untransferable in `transfer`: it copies
   * the buffer on Node 18 and 20 and throws a DataCloneError from Node 21 on (README: "What a
   * call does with your buffer"). Either way the buffer stays. Returns the copy, if one was made.
   */
  const transferMarked = (buffer: ArrayBuffer): ArrayBuffer | undefined => {
    if (Number(process.versions.node.split('.')[0]) < 21) return structuredClone(buffer, { transfer: [buffer] });
    let thrown: unknown;
    try {
      structuredClone(buffer, { transfer: [buffer] });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({ name: 'DataCloneError', message: expect.stringMatching(/^Cannot transfer object of unsupported type/) });
    return undefined;
  };

  it('a plain Array suggests Float64Array.from', () => {
    expectTypeError([[3, 1, 2]], /^(arg)?sort: array must be a TypedArray, got a plain Array; sort numbers as Float64Array\.from\(array\)/);
  });
  it('a DataView, a number, an ArrayBuffer, nothing', () => {
    expectTypeError([new DataView(new ArrayBuffer(8))], /got a DataView \(it has no element type\)/);
    expectTypeError([42], /array must be a TypedArray, got number 42/);
    expectTypeError([new ArrayBuffer(8)], /array must be a TypedArray, got an object \(ArrayBuffer\)/);
    expectTypeError([], /takes 1 argument \(array\), got 0/);
    expectTypeError([new Float64Array(1), 1], /takes 1 argument \(array\), got 2/);
  });
  it('look-alikes and strangers are named for what they are, and their own code never runs while the message is made', () => {
    expectTypeError([new Proxy(new Float64Array(2), {})], /array must be a TypedArray, got a Proxy/);
    expectTypeError([Object.create(Float64Array.prototype)], /array must be a TypedArray, got an object \(Float64Array\)/);
    expectTypeError([runInNewContext('new DataView(new ArrayBuffer(8))')], /got a DataView \(it has no element type\)/);
    const hostile = Object.create(null, { constructor: { get: () => { throw new Error('ran the getter'); } } });
    expectTypeError([hostile], /array must be a TypedArray, got an object \(no prototype\)/);
    const revocable = Proxy.revocable({}, {});
    revocable.revoke();
    expectTypeError([revocable.proxy], /array must be a TypedArray, got a Proxy/);
    const Float16 = (globalThis as { Float16Array?: new (n: number) => object }).Float16Array;
    if (Float16 !== undefined) {
      // Each kernel names itself: argsort's message said "which sort does not take".
      expect(() => sort.validate([new Float16(2)])).toThrow(new TypeError('sort: array is a Float16Array, which sort does not take (yet); sort a Float32Array.from(array) and copy it back'));
      expect(() => argsort.validate([new Float16(2)])).toThrow(new TypeError('argsort: array is a Float16Array, which argsort does not take (yet); argsort a Float32Array.from(array)'));
    }
  });
  it('a detached buffer and a resizable one', () => {
    const detached = new Float64Array(4);
    structuredClone(detached.buffer, { transfer: [detached.buffer] });
    expectTypeError([detached], /view over a detached ArrayBuffer/);
    // Resizable ArrayBuffers came with Node 20: Node 18 ignores maxByteLength and makes an ordinary one.
    if (typeof (ArrayBuffer.prototype as { resize?: unknown }).resize !== 'function') return;
    const resizable = new Float64Array(new (ArrayBuffer as any)(16, { maxByteLength: 64 }));
    expectTypeError([resizable], /ArrayBuffer is resizable/);
  });
  it('an ordinary buffer cannot be transferred away once sorted (it is copied instead, or refused)', () => {
    const array = new Float64Array([3, 1, 2]);
    sort.validate([array]);
    const clone = transferMarked(array.buffer);
    expect(array.length).toBe(3);
    expect(clone?.byteLength).toBe(clone === undefined ? undefined : 24);
  });
  it('a one-element array\'s buffer is marked too: the native kernels read and write that element', () => {
    // sort() turns the element into its key and back in place, argsort() reads it, both on a
    // pool thread; unmarked, a transfer while the call was queued left them freed memory (ASan:
    // heap-use-after-free, .attack/repro-len1-transfer.mjs). An empty array is never touched.
    for (const kernel of [sort, argsort]) {
      const one = new Float64Array(new ArrayBuffer(64), 8, 1);
      kernel.validate([one]);
      transferMarked(one.buffer);
      expect(one.buffer.byteLength).toBe(64); // not moved
      expect(one.length).toBe(1);
    }
    const empty = new Float64Array(new ArrayBuffer(64), 8, 0);
    sort.validate([empty]);
    expect(structuredClone(empty.buffer, { transfer: [empty.buffer] }).byteLength).toBe(64);
    expect(empty.buffer.byteLength).toBe(0); // moved: nothing marked it
  });
  it('node --frozen-intrinsics: spindle imports, and a sort that cannot keep its buffer in place is a TypeError every time, never unguarded', () => {
    // Frozen intrinsics make ArrayBuffer.prototype.transfer (and, on Node 24, the
    // WebAssembly.Memory buffer getter that spindle watches from import) non-configurable. The
    // import threw on Node 24; before Node 24 the first sort threw an unclear TypeError from
    // defineProperty and later ones sorted in place unguarded, so a transfer() during the sort
    // moved the memory native threads were writing. Node 20 has transfer() behind a flag.
    const major = Number(process.versions.node.split('.')[0]);
    const flags = ['--frozen-intrinsics', '--no-warnings', ...(major === 20 ? ['--harmony-rab-gsab-transfer'] : [])];
    const dist = new URL('../dist/index.js', import.meta.url).href;
    const code = `
      const { Pool, kernels } = await import(${JSON.stringify(dist)});
      const pool = new Pool({ size: 2 });
      const out = [];
      for (let i = 0; i < 2; i++) {
        const a = new Float64Array([3, 1, 2]);
        out.push(await pool.apply(kernels.sort, [a]).then((r) => [...r].join(), (e) => e.constructor.name + ': ' + e.message));
      }
      await pool.terminate();
      console.log(JSON.stringify({ transfer: typeof ArrayBuffer.prototype.transfer === 'function', out }));`;
    const child = spawnSync(process.execPath, [...flags, '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 60_000 });
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    const { transfer, out } = JSON.parse(child.stdout) as { transfer: boolean; out: string[] };
    if (transfer && major < 24) {
      for (const result of out) {
        expect(result).toBe(
          "TypeError: sort: array's ArrayBuffer cannot be kept where it is while it is sorted: this Node cannot refuse its transfer() (node --frozen-intrinsics before Node 24); sort an array on a SharedArrayBuffer",
        );
      }
    } else {
      expect(out).toEqual(['1,2,3', '1,2,3']);
    }
  });
  it("a WebAssembly.Memory whose buffer getter spindle cannot watch (its prototype frozen first): a sort of a view leaves its memory growable", () => {
    // Node 24 aborts the process (FATAL ERROR: v8::FromJust) at the next grow() of a memory whose
    // buffer was marked untransferable. Under a frozen prototype (SES, --frozen-intrinsics) the
    // getter that recognises such buffers cannot be wrapped: the sort marked it, and grow() aborted.
    const dist = new URL('../dist/index.js', import.meta.url).href;
    const code = `
      Object.freeze(WebAssembly.Memory.prototype);
      const { Pool, kernels } = await import(${JSON.stringify(dist)});
      const pool = new Pool({ size: 2 });
      const memory = new WebAssembly.Memory({ initial: 1, maximum: 2 });
      const view = new Float64Array(memory.buffer, 0, 3);
      view.set([3, 1, 2]);
      const sorted = [...(await pool.apply(kernels.sort, [view]))].join();
      // An ordinary buffer of whole wasm pages is still kept in place while it is sorted.
      const ordinary = new Float64Array(8192).map((_, i) => -i);
      const call = pool.apply(kernels.sort, [ordinary]);
      let moved = 'no transfer()';
      if (typeof ArrayBuffer.prototype.transfer === 'function') {
        try { ordinary.buffer.transfer(); moved = 'moved'; } catch (error) { moved = error.constructor.name; }
      }
      await call;
      memory.grow(1);
      await pool.terminate();
      console.log(JSON.stringify({ sorted, moved, grown: memory.buffer.byteLength, first: ordinary[0] }));`;
    const child = spawnSync(process.execPath, ['--no-warnings', '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 60_000 });
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    const result = JSON.parse(child.stdout) as { sorted: string; moved: string; grown: number; first: number };
    expect(result).toMatchObject({ sorted: '1,2,3', grown: 131072, first: -8191 });
    expect(['TypeError', 'no transfer()']).toContain(result.moved);
  });
  it('an array whose getters lie: what it says of its length and buffer changes nothing', () => {
    // The native kernel reads the real memory through N-API, so the checks must too: a length
    // of 0 used to skip marking the buffer untransferable, and a transfer during the sort then
    // crashed the process (freed memory written by pool threads).
    class Liar extends Float64Array {
      override get length(): number {
        return 0;
      }
    }
    const liar = new Liar(4);
    sort.validate([liar]);
    const moved = transferMarked(liar.buffer);
    expect(liar.buffer.byteLength).toBe(32); // still here: copied (or refused), not moved
    expect(moved?.byteLength).toBe(moved === undefined ? undefined : 32);
    const own = new Float64Array(4);
    Object.defineProperty(own, 'buffer', { value: new SharedArrayBuffer(8) });
    sort.validate([own]);
    expect(structuredClone(own.buffer, { transfer: [] }).byteLength).toBe(8); // the lie is still what JS sees
    const real = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Int8Array.prototype), 'buffer')!.get!.call(own) as ArrayBuffer;
    transferMarked(real);
    expect(real.byteLength).toBe(32); // marked untransferable: the real buffer stays
    if (typeof (ArrayBuffer.prototype as { resize?: unknown }).resize !== 'function') return;
    const resizable = new (ArrayBuffer as any)(16, { maxByteLength: 64 });
    Object.defineProperty(resizable, 'resizable', { value: false });
    expectTypeError([new Float64Array(resizable)], /ArrayBuffer is resizable/);
  });
});

const backends = availableBackends();

describe.each(backends)('on the $name backend', ({ name, make }) => {
  const pools: Pool[] = [];
  const open = (options?: PoolOptions): Pool => {
    const pool = make({ size: 2, ...options });
    pools.push(pool);
    return pool;
  };
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((pool) => pool.terminate()));
  });

  it('every type, shape and length, ordinary and shared buffers: V8\'s order, the same array back; argsort stable', async () => {
    const pool = open();
    let seed = 100;
    const failures: string[] = [];
    for (const ctor of TYPES) {
      for (const n of LENGTHS) {
        for (const shape of SHAPES) {
          const shared = seed % 2 === 0;
          const input = makeArray(ctor, n, shape, shared, seed++);
          const array = input.slice();
          const onShared = shared ? new ctor(new SharedArrayBuffer(array.byteLength) as unknown as ArrayBuffer) : array;
          if (shared) onShared.set(array as any);
          const result = await pool.apply(sort, [onShared]);
          if (result !== onShared || firstMismatch(input, onShared) !== -1) failures.push(`sort ${ctor.name} n=${n} ${shape} shared=${shared}`);
          const idx = await pool.apply(argsort, [input]);
          if (!(idx instanceof Uint32Array) || !isStableArgsort(input, idx)) failures.push(`argsort ${ctor.name} n=${n} ${shape}`);
        }
      }
    }
    expect(failures).toEqual([]);
  });

  it('1e7 Float64 values, ordinary and shared', async () => {
    const pool = open();
    const input = makeArray(Float64Array, 1e7, 'specials', false, 5);
    const array = input.slice();
    expect(await pool.apply(sort, [array])).toBe(array);
    expect(firstMismatch(input, array)).toBe(-1);
    const shared = new Float64Array(new SharedArrayBuffer(input.byteLength));
    shared.set(makeArray(Float64Array, 1e7, 'random', false, 6) as Float64Array);
    const copy = shared.slice();
    expect(await pool.apply(sort, [shared])).toBe(shared);
    expect(firstMismatch(copy, shared)).toBe(-1);
  }, 60_000);

  it('a map of sorts resolves with each caller\'s array, sorted', async () => {
    const pool = open();
    const inputs = [0, 1, 2, 3, 4].map((i) => makeArray(Int32Array, 100 + i * 5000, 'random', i === 2, 50 + i));
    const arrays = inputs.map((a) => a.slice());
    const results = await pool.map(sort, arrays, { chunkSize: 5 });
    results.forEach((r, i) => {
      expect(r).toBe(arrays[i]);
      expect(firstMismatch(inputs[i]!, arrays[i]!)).toBe(-1);
    });
  });

  it('arrays whose getters lie about their length: every element sorted, the caller\'s object back', async () => {
    const pool = open();
    class Short extends Float64Array {
      override get length(): number {
        return 1;
      }
    }
    // Small (cloned to a worker), staged (1 MiB and more) and shared-out sizes on the worker backend.
    for (const n of [1000, 200_000, 2 ** 20 + 3]) {
      for (const shared of [false, true]) {
        const input = makeArray(Float64Array, n, 'random', shared, n);
        const liar = new Short(input.buffer as ArrayBuffer, input.byteOffset, n); // sorts input's memory
        const before = input.slice();
        const own = makeArray(Float64Array, n, 'random', shared, n + 1);
        const ownInput = own.slice();
        Object.defineProperty(own, 'length', { value: 0 });
        const idx = await pool.apply(argsort, [liar]);
        expect(idx.length).toBe(n);
        expect(isStableArgsort(before, idx)).toBe(true);
        const [sortedLiar, sortedOwn] = await Promise.all([pool.apply(sort, [liar]), pool.apply(sort, [own])]);
        expect(sortedLiar).toBe(liar);
        expect(sortedOwn).toBe(own);
        expect({ n, shared, mismatch: firstMismatch(before, new Float64Array(input.buffer, input.byteOffset, n)) }).toEqual({ n, shared, mismatch: -1 });
        expect({ n, shared, own: firstMismatch(ownInput, new Float64Array(own.buffer, own.byteOffset, n)) }).toEqual({ n, shared, own: -1 });
      }
    }
  });

  // A view that tracks a growable SharedArrayBuffer's length: the elements it had at the call
  // are sorted, and the same array comes back, even when the buffer grows while the sort runs.
  // (Before, a worker's copy of the view grew with the buffer: it sorted the new elements in,
  // and a sort shared out over workers failed with an internal RangeError.)
  it.runIf(typeof (SharedArrayBuffer.prototype as { grow?: unknown }).grow === 'function')(
    'a growable SharedArrayBuffer that grows meanwhile: the elements at the call, sorted',
    async () => {
      const pool = open();
      for (const n of [1000, 1 << 21]) {
        const Growable = SharedArrayBuffer as unknown as new (bytes: number, options: { maxByteLength: number }) => SharedArrayBuffer & { grow(bytes: number): void };
        const buffer = new Growable(8 * n, { maxByteLength: 8 * 3 * n });
        const array = new Float64Array(buffer); // tracks the buffer's length
        array.set(makeArray(Float64Array, n, 'random', false, n) as Float64Array);
        const expected = array.slice().sort();
        const sorting = pool.apply(sort, [array]);
        buffer.grow(8 * 2 * n);
        array.fill(-1, n); // new elements that would sort first
        expect(await sorting).toBe(array);
        expect(array.length).toBe(2 * n);
        expect(firstMismatch(expected, array.subarray(0, n))).toBe(-1);
        const order = await pool.apply(argsort, [array]);
        expect(order.length).toBe(2 * n);
        expect(isStableArgsort(array, order)).toBe(true);
      }
    },
    60_000,
  );

  it('progress counts every element once', async () => {
    const pool = open();
    for (const n of [10, 70_000, 1_500_000]) {
      const progress = new SharedCounter();
      await pool.apply(sort, [makeArray(Float32Array, n, 'random', false, n)], { progress });
      expect(progress.value).toBe(n);
      const argProgress = new SharedCounter();
      await pool.apply(argsort, [makeArray(Uint16Array, n, 'fewDistinct', false, n)], { progress: argProgress });
      expect(argProgress.value).toBe(n);
    }
  });

  it('an aborted sort rejects at once with an AbortError and the pool goes on sorting', async () => {
    const pool = open();
    const big = makeArray(Float64Array, 2e7, 'random', true, 11);
    const controller = new AbortController();
    const running = pool.apply(sort, [big], { signal: controller.signal });
    setTimeout(() => controller.abort(), name === 'native' ? 5 : 50);
    await expect(running).rejects.toMatchObject({ name: 'AbortError' });
    const input = makeArray(BigInt64Array, 100_000, 'random', false, 12);
    const array = input.slice();
    await pool.apply(sort, [array]);
    expect(firstMismatch(input, array)).toBe(-1);
  }, 60_000);
});

describe('native code paths', () => {
  // A GCC build for x86-64 compiles the sort twice (src-cpp/core/sort/radix.cpp): baseline, and
  // avx2 for CPUs with AVX2 and BMI2, which sorts take by default. Each must sort as V8 does.
  const flags = cpuinfoWords('flags');
  const avx2 = process.arch === 'x64' && flags.includes('avx2') && flags.includes('bmi2');
  const paths = ['baseline', ...(avx2 ? ['avx2'] : [])];
  const native = backendInfo().native;

  it.runIf(native && process.env.SPINDLE_SORT_PATH === undefined)('backendInfo() names the path in use, the fastest this CPU has', () => {
    expect(backendInfo().sortPath).toBe(paths.at(-1));
  });

  it.runIf(native).each(paths)('SPINDLE_SORT_PATH=%s: every type at lengths around the parallel threshold sorts and argsorts as V8 does', (path) => {
    const fixture = fileURLToPath(new URL('./fixtures/sort-path.mjs', import.meta.url));
    const child = spawnSync(process.execPath, [fixture], { env: { ...process.env, SPINDLE_SORT_PATH: path }, encoding: 'utf8', timeout: 120_000 });
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    expect(JSON.parse(child.stdout)).toEqual({ path, mismatches: [] });
  }, 130_000);

  it.runIf(native)('spindle info names the path', () => {
    const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
    const out = spawnSync(process.execPath, [cli, 'info'], { env: { ...process.env, SPINDLE_SORT_PATH: 'baseline' }, encoding: 'utf8' });
    expect(out.stdout).toMatch(/^sort path\s+baseline$/m);
  });

  it.runIf(native && avx2)('SPINDLE_SORT_PATH matches ignoring case, as SPINDLE_SHA256_PATH does; other values leave the default', () => {
    const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
    const pathFor = (value: string) => spawnSync(process.execPath, [cli, 'info'], { env: { ...process.env, SPINDLE_SORT_PATH: value }, encoding: 'utf8' }).stdout.match(/^sort path\s+(\S+)$/m)?.[1];
    expect(['Baseline', 'BASELINE', 'baselinex', 'base'].map(pathFor)).toEqual(['baseline', 'baseline', 'avx2', 'avx2']);
  });
});
