// Errors a caller can cause name the public function and the argument, never an internal one
// (issue #8 item 18): the engine's message may follow as the reason, after the name.
import { describe, expect, it } from 'vitest';
import { Lock, kernels } from '../src-ts/index.js';
import { availableBackends } from './support/backends.js';

function detachedView(): Uint8Array {
  const ab = new ArrayBuffer(8);
  const view = new Uint8Array(ab);
  structuredClone(ab, { transfer: [ab] });
  return view;
}

describe.each(availableBackends())('$name backend', ({ make }) => {
  it.each([
    ['map', (pool: any) => pool.map(kernels.noop, detachedView()), /^map: items could not be read: /],
    ['starmap', (pool: any) => pool.starmap(kernels.noop, detachedView()), /^starmap: tuples could not be read: /],
    ['mapAsync', (pool: any) => pool.mapAsync(kernels.noop, detachedView()).get(), /^mapAsync: items could not be read: /],
    ['imap', async (pool: any) => { for await (const _ of pool.imap(kernels.noop, detachedView())); }, /^imap: items could not be read: /],
  ])('%s over a view on a detached buffer', async (_name, call, message) => {
    const pool = make({ size: 1 });
    try {
      await expect((async () => call(pool))()).rejects.toThrow(expect.objectContaining({ name: 'TypeError', message: expect.stringMatching(message) }));
    } finally {
      await pool.terminate();
    }
  });

  it('an argument array longer than a call takes, or a map longer than an array holds, is a RangeError at the call, with nothing queued', async () => {
    // A sparse array with a length of 2^32 - 1, as args or as a map's items, ran the process
    // out of memory while it was copied (V8 aborted); a call can spread at most MAX_ARGS
    // arguments anyway, and a map's results could never fit in one array.
    const pool = make({ size: 1 });
    const huge: any = [1];
    huge.length = 2 ** 32 - 1;
    const long: any = new Array(65_537).fill(0);
    try {
      await expect(pool.apply(kernels.noop, huge)).rejects.toThrow(new RangeError('apply: args has 4294967295 elements: a call takes at most 65536 arguments'));
      expect(() => pool.applyAsync(kernels.noop, long)).toThrow(/^applyAsync: args has 65537 elements/);
      await expect(pool.starmap(kernels.noop, [[1], huge])).rejects.toThrow(new RangeError('starmap: tuples[1]: the tuple has 4294967295 elements: a call takes at most 65536 arguments'));
      // A map's results arrive as one array, which V8 caps at 134 217 725 elements.
      await expect(pool.map(kernels.noop, huge)).rejects.toThrow(new RangeError('map: items has 4294967295 elements, more than one array of results can hold (134217725); imap takes any number'));
      await expect(pool.starmap(kernels.noop, { length: 2 ** 40 })).rejects.toThrow(/^starmap: tuples has 1099511627776 elements, more than/);
      expect(() => pool.mapAsync(kernels.noop, huge)).toThrow(/^mapAsync: items has 4294967295 elements/);
      expect(pool.stats().submitted).toBe(0);
      expect(await pool.apply(kernels.noop, [7])).toBe(7);
      // An array-like's length is read once, as Array.from reads it.
      expect(await pool.map(kernels.noop, { length: 2.5, 0: 4, 1: 5, 2: 6 })).toEqual([4, 5]);
    } finally {
      await pool.terminate();
    }
  });

  it('sha256 of a DataView over a detached buffer names the argument, as for any other view', async () => {
    // A DataView's own getters throw there (V8's "Cannot perform DataView.prototype.byteOffset
    // on a detached ArrayBuffer" came through, naming neither sha256 nor data).
    const pool = make({ size: 1 });
    const ab = new ArrayBuffer(16);
    const view = new DataView(ab, 4);
    structuredClone(ab, { transfer: [ab] });
    try {
      await expect(pool.apply(kernels.sha256, [view])).rejects.toThrow(expect.objectContaining({ name: 'TypeError', message: expect.stringMatching(/^sha256: data is a view over a detached ArrayBuffer/) }));
      await expect(pool.map(kernels.sha256, [view])).rejects.toThrow(/^map: items\[0\]: sha256: data is a view over a detached ArrayBuffer/);
    } finally {
      await pool.terminate();
    }
  });

  it("a generator's own error passes through map as it is", async () => {
    const pool = make({ size: 1 });
    class Mine extends Error {}
    function* items() { yield 1; throw new Mine('from the generator'); }
    try {
      await expect(pool.map(kernels.noop, items())).rejects.toBeInstanceOf(Mine);
    } finally {
      await pool.terminate();
    }
  });
});

describe('Lock', () => {
  it.each([[NaN, RangeError], [-1, RangeError], ['1', TypeError]])('withLock(fn, %s) is named withLock', async (timeout, type) => {
    await expect(new Lock().withLock(() => 1, timeout as number)).rejects.toThrow(expect.objectContaining({ name: type.name, message: expect.stringMatching(/^Lock\.withLock: timeoutMs /) }));
  });
});

describe.each(availableBackends())('$name backend: look-alike kernels and task handles', ({ make }) => {
  // A hand-made object shaped like a kernel used to run its own validate()/combine() inside the
  // pool's machinery, where what they threw escaped as an uncaught exception (issue #8 item 16).
  it.each([
    ['validate returns null', { ...kernels.noop, validate: () => null }],
    ['combine throws', { ...kernels.countPrimes, combine: () => { throw new Error('combine'); } }],
    ['a copy of a kernel', { ...kernels.noop }],
    ['a hand-made task handle', { kind: 'task', name: 'x', module: 'file:///nowhere.mjs', exportName: 'x', validate: (a: unknown[]) => a }],
  ])('%s: a TypeError at the call', async (_label, lookalike) => {
    const pool = make({ size: 1 });
    try {
      await expect(pool.apply(lookalike as any, [1])).rejects.toThrow(expect.objectContaining({ name: 'TypeError', message: expect.stringMatching(/^apply: task looks like a .* but was not made by spindle/) }));
      expect(() => pool.applyAsync(lookalike as any, [1])).toThrow(TypeError);
      await expect(pool.map(lookalike as any, [1, 2])).rejects.toThrow(TypeError);
      expect(await pool.apply(kernels.noop, [3])).toBe(3);
    } finally {
      await pool.terminate();
    }
  });

  // The mark is keyed with Symbol.for (the ESM and CommonJS builds share it), so it can be
  // copied. A marked copy of kernels.sort with its own validate() skipped every argument check:
  // the native sort of a buffer it then transferred away crashed the process. The pool now
  // uses its own kernel of that name and never calls the object's methods.
  it('a marked copy of a kernel runs as the kernel of its name; its own methods are never called', async () => {
    const pool = make({ size: 1 });
    const mark = Symbol.for('spindle.runnable');
    const called: string[] = [];
    const forge = (kernel: object, name?: string) =>
      Object.defineProperty({ ...kernel, ...(name === undefined ? {} : { name }), validate: (args: unknown[]) => (called.push('validate'), args), combine: () => called.push('combine') }, mark, { value: true });
    try {
      expect(await pool.apply(forge(kernels.countPrimes) as any, [0, 100])).toBe(25);
      expect(await pool.map(forge(kernels.countPrimes) as any, [[0, 10], [0, 100]].map(([lo, hi]) => hi), { chunkSize: 1 }).catch((e: Error) => e.name)).toBe('TypeError'); // countPrimes' own validate: 2 arguments
      const items: number[] = [];
      for await (const x of pool.imap(forge(kernels.noop) as any, [1, 2])) items.push(x as number);
      expect(items).toEqual([1, 2]);
      await expect(pool.apply(forge(kernels.countPrimes) as any, ['0', 1])).rejects.toThrow(/^countPrimes: lo/);
      const array = new Float64Array([3, 1, 2]);
      expect(await pool.apply(forge(kernels.sort) as any, [array])).toBe(array);
      expect(Array.from(array)).toEqual([1, 2, 3]);
      // sort's own validate marked it untransferable: structuredClone copies it on Node 18 and
      // 20 and refuses it (DataCloneError) from Node 21 on; either way it stays.
      try {
        structuredClone(array.buffer, { transfer: [array.buffer] });
      } catch (error) {
        expect((error as Error).name).toBe('DataCloneError');
      }
      expect(array.length).toBe(3);
      await expect(pool.apply(forge(kernels.noop, 'nosuch') as any, [1])).rejects.toThrow(/^apply: task names no kernel of this spindle \(string "nosuch"\)/);
      expect(called).toEqual([]);
    } finally {
      await pool.terminate();
    }
  });
});
