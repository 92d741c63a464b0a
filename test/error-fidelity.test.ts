// What survives of a task's error on its way from a worker to the caller (issue #13): name,
// message, stack, code, cause (recursively), own enumerable properties that structured clone can
// carry, AggregateError's errors, and the class when it is a built-in one. Thrown non-Errors
// arrive as thrown, or as a TypeError that says why they cannot. Nothing a task throws may
// break the reply or the worker. The last part checks that a kernel's error reads the same
// whichever backend ran it.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeError, encodeError } from '../src-ts/backends/worker-protocol.js';
import { WorkerCrashError } from '../src-ts/errors.js';
import { kernels } from '../src-ts/kernels/index.js';
import type { Pool } from '../src-ts/pool.js';
import { task } from '../src-ts/task.js';
import { availableBackends } from './support/backends.js';
import { useWorkerPools } from './support/worker-pools.js';

/** The error `call` throws, as this Node's fs throws it. */
function fsErrorOf(call: () => unknown): object {
  try {
    call();
  } catch (error) {
    return error as object;
  }
  throw new Error('expected the call to throw');
}

const fixtures = new URL('./fixtures/tasks/errors.mjs', import.meta.url);
const t = (name: string) => task<(...args: any[]) => any>(fixtures, name as never);

const workerPool = useWorkerPools();

/** What the call rejected with; fails the test if it resolved. */
async function rejection(promise: Promise<unknown>): Promise<any> {
  return promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${String(value)}`);
    },
    (error: unknown) => error,
  );
}

/** The pool still answers after whatever it just had to carry. */
async function stillServes(pool: Pool): Promise<void> {
  expect(await pool.apply(t('echo'), ['alive'])).toBe('alive');
}

describe('errors from users\' JS tasks (worker backend)', () => {
  it.each(['Error', 'TypeError', 'RangeError', 'SyntaxError', 'ReferenceError', 'EvalError', 'URIError'])('a %s arrives as that class, sync or async', async (kind) => {
    const pool = workerPool({ size: 1 });
    const Class = (globalThis as unknown as Record<string, new () => Error>)[kind]!;
    for (const name of ['throwBuiltin', 'throwBuiltinLater']) {
      const error = await rejection(pool.apply(t(name), [kind, `a ${kind}`]));
      expect(error).toBeInstanceOf(Class);
      expect(error.constructor).toBe(Class);
      expect(error).toMatchObject({ name: kind, message: `a ${kind}` });
      expect(error.stack).toMatch(new RegExp(`^${kind}: a ${kind}\\n\\s+at .*errors\\.mjs`));
      expect(Object.keys(error)).toEqual([]);
    }
  });

  it.each(['CompileError', 'LinkError', 'RuntimeError'])('a WebAssembly.%s arrives as that class', async (kind) => {
    const pool = workerPool({ size: 1 });
    const error = await rejection(pool.apply(t('throwBuiltin'), [`WebAssembly.${kind}`, 'trap']));
    const wasm = (globalThis as unknown as { WebAssembly: Record<string, new () => Error> }).WebAssembly;
    expect(error).toBeInstanceOf(wasm[kind]!);
    expect(error).toMatchObject({ name: kind, message: 'trap' });
  });

  it('a DOMException arrives as a DOMException, with its name and legacy code', async () => {
    const pool = workerPool({ size: 1 });
    const made = await rejection(pool.apply(t('throwDOMException'), ['gave up', 'AbortError']));
    expect(made).toBeInstanceOf(DOMException);
    expect(made).toMatchObject({ name: 'AbortError', message: 'gave up', code: 20 });
    expect(made.stack).toContain('errors.mjs');
    const engine = await rejection(pool.apply(t('throwDataCloneError'), []));
    expect(engine).toBeInstanceOf(DOMException);
    expect(engine).toMatchObject({ name: 'DataCloneError', code: 25 });
    expect(engine.message).toMatch(/could not be cloned/);
  });

  it("a user's class arrives as the nearest built-in class it extends, with its name, code, stack and own properties", async () => {
    const pool = workerPool({ size: 1 });
    const error = await rejection(pool.apply(t('throwCustom'), []));
    expect(error.constructor).toBe(Error);
    expect(error).toMatchObject({ name: 'ValidationError', message: 'bad field', code: 'E_VALIDATION', field: 'email', status: 422, big: 10n, none: null });
    expect(error.stack).toMatch(/^ValidationError: bad field\n\s+at .*errors\.mjs/);
    expect(error.details).toEqual({ rule: 'format', at: [1, 2], when: new Date(0), tags: new Set(['a']) });
    // Own enumerable properties in their order; those structured clone cannot carry are left out.
    expect(Object.keys(error)).toEqual(['name', 'field', 'status', 'code', 'details', 'big', 'none', 'missing']);
    expect('missing' in error).toBe(true);
    expect(error).not.toHaveProperty('hidden');

    const sub = await rejection(pool.apply(t('throwBadInput'), []));
    expect(sub.constructor).toBe(TypeError);
    expect(sub).toMatchObject({ name: 'BadInput', message: 'not a number' });
    expect(sub.stack).toMatch(/^BadInput: not a number/);
    await stillServes(pool);
  });

  it('an Error held in a property travels as an error too', async () => {
    const pool = workerPool({ size: 1 });
    const error = await rejection(pool.apply(t('throwWithErrorProperty'), []));
    expect(error.original).toBeInstanceOf(RangeError);
    expect(error.original).toMatchObject({ message: 'inner' });
    expect(error.original.stack).toContain('errors.mjs');
  });

  it('keeps the cause chain: each cause with its class, name, code and stack; not enumerable, as the constructor makes it', async () => {
    const pool = workerPool({ size: 1 });
    const error = await rejection(pool.apply(t('throwWithCause'), []));
    expect(error).toMatchObject({ name: 'Error', message: 'top' });
    expect(Object.keys(error)).toEqual([]);
    expect(Object.getOwnPropertyDescriptor(error, 'cause')).toMatchObject({ enumerable: false, writable: true, configurable: true });
    const middle = error.cause;
    expect(middle).toBeInstanceOf(TypeError);
    expect(middle.message).toBe('middle');
    const root = middle.cause;
    expect(root).toBeInstanceOf(Error);
    expect(root).toMatchObject({ name: 'ValidationError', message: 'root cause', code: 'E_ROOT', field: 'name', status: 422 });
    expect(root.stack).toMatch(/^ValidationError: root cause\n\s+at .*errors\.mjs/);
    expect('cause' in root).toBe(false);
  });

  it.each([
    ['a string', 'why'],
    ['a number', 7],
    ['a plain object', { reason: 'x', list: [1, 2] }],
    ['null', null],
  ])('a cause that is not an Error (%s) arrives as it was', async (_what, cause) => {
    const pool = workerPool({ size: 1 });
    const error = await rejection(pool.apply(t('throwWithCause2'), [cause]));
    expect(error.message).toBe('top');
    expect(error.cause).toEqual(cause);
  });

  it('an explicit `cause: undefined` is kept; a cause that cannot be cloned becomes a TypeError that says so', async () => {
    const pool = workerPool({ size: 1 });
    const kept = await rejection(pool.apply(t('throwWithCauseUndefined'), []));
    expect(Object.hasOwn(kept, 'cause')).toBe(true);
    expect(kept.cause).toBeUndefined();
    const error = await rejection(pool.apply(t('throwWithUnclonableCause'), []));
    expect(error.message).toBe('top');
    expect(error.cause).toBeInstanceOf(TypeError);
    expect(error.cause.message).toMatch(/^the error's cause cannot be sent back to the pool: .*could not be cloned/);
    await stillServes(pool);
  });

  it("an AggregateError keeps its errors, each with the same fidelity, and its cause; Promise.any's too", async () => {
    const pool = workerPool({ size: 1 });
    const error = await rejection(pool.apply(t('throwAggregate'), []));
    expect(error).toBeInstanceOf(AggregateError);
    expect(error.message).toBe('many things');
    expect(error.cause).toMatchObject({ message: 'why' });
    expect(Object.keys(error)).toEqual([]);
    const [first, inner, text, number, plain, nested] = error.errors;
    expect(error.errors).toHaveLength(6);
    expect(first).toBeInstanceOf(TypeError);
    expect(first.message).toBe('first');
    expect(inner).toMatchObject({ name: 'ValidationError', message: 'inner', code: 'E_INNER', field: 'age' });
    expect(inner.stack).toContain('errors.mjs');
    expect([text, number, plain]).toEqual(['a string', 42, { plain: true }]);
    expect(nested).toBeInstanceOf(AggregateError);
    expect(nested.errors[0]).toBeInstanceOf(RangeError);
    expect(nested.errors[0].message).toBe('deep');

    const any = await rejection(pool.apply(t('throwAggregateLater'), []));
    expect(any).toBeInstanceOf(AggregateError);
    expect(any.errors.map((e: Error) => [e.constructor, e.message])).toEqual([[TypeError, 'one'], [RangeError, 'two']]);
  });

  // SuppressedError came with explicit resource management (Node 24); before it nothing throws one.
  const SuppressedErrorClass = (globalThis as { SuppressedError?: new (...args: unknown[]) => Error }).SuppressedError;
  it.runIf(SuppressedErrorClass !== undefined)("a SuppressedError (a `using` block's) keeps its error and suppressed, each with the same fidelity", async () => {
    const pool = workerPool({ size: 1 });
    const error = await rejection(pool.apply(t('throwFromUsing'), []));
    expect(error).toBeInstanceOf(SuppressedErrorClass!);
    expect(error).toMatchObject({ name: 'SuppressedError' });
    expect(Object.keys(error)).toEqual([]);
    expect(error.error).toBeInstanceOf(TypeError);
    expect(error.error.message).toBe('cleanup failed');
    expect(error.suppressed).toBeInstanceOf(RangeError);
    expect(error.suppressed).toMatchObject({ message: 'body failed', cause: 'why' });
    expect(error.suppressed.stack).toContain('errors.mjs');
    expect(Object.getOwnPropertyDescriptor(error, 'error')).toMatchObject({ enumerable: false });
    // Values that are not errors travel as structured clone carries them; one it cannot is a TypeError that says so.
    const byHand = await rejection(pool.apply(t('throwSuppressed'), []));
    expect(byHand).toBeInstanceOf(SuppressedErrorClass!);
    expect(byHand.message).toBe('made by hand');
    expect(byHand.error).toBe('a string');
    expect(byHand.suppressed).toBeInstanceOf(TypeError);
    expect(byHand.suppressed.message).toMatch(/^SuppressedError\.suppressed cannot be sent back to the pool/);
    await stillServes(pool);
  });

  it.runIf(SuppressedErrorClass !== undefined)('a SuppressedError still arrives as one after globalThis.SuppressedError is deleted', () => {
    // The class is taken at load; it was looked up on globalThis for each error rebuilt ("the
    // worker's error could not be read: globalThis.SuppressedError is not a constructor").
    const sent = encodeError(new SuppressedErrorClass!(new TypeError('e'), 'why', 'outer'));
    const saved = Object.getOwnPropertyDescriptor(globalThis, 'SuppressedError')!;
    delete (globalThis as { SuppressedError?: unknown }).SuppressedError;
    let error: { error: unknown; suppressed: unknown; message: string };
    try {
      error = decodeError(sent) as never;
    } finally {
      Object.defineProperty(globalThis, 'SuppressedError', saved);
    }
    expect(error).toBeInstanceOf(SuppressedErrorClass!);
    expect(error.message).toBe('outer');
    expect(error.error).toBeInstanceOf(TypeError);
    expect(error.suppressed).toBe('why');
  });

  it('spindle imports where globalThis.SuppressedError is set to a value that is not a class', () => {
    // Its prototype was read at load: null made the import throw.
    const dist = pathToFileURL(join(process.cwd(), 'dist', 'index.js')).href;
    for (const value of ['null', '42']) {
      const child = spawnSync(process.execPath, ['--input-type=module', '-e', `globalThis.SuppressedError = ${value}; await import(${JSON.stringify(dist)}); console.log('imported');`], { encoding: 'utf8', timeout: 30_000 });
      expect(child.stderr).toBe('');
      expect(child.stdout.trim()).toBe('imported');
    }
  });

  it("an AggregateError element that cannot be cloned becomes a TypeError in its place; the others stay", async () => {
    const pool = workerPool({ size: 1 });
    const error = await rejection(pool.apply(t('throwAggregateWithUnclonable'), []));
    expect(error.errors).toHaveLength(3);
    expect(error.errors[0].message).toBe('fine');
    expect(error.errors[1]).toBeInstanceOf(TypeError);
    expect(error.errors[1].message).toMatch(/^AggregateError\.errors\[1\] cannot be sent back to the pool/);
    expect(error.errors[2]).toBe('after');
  });

  it('cycles arrive as cycles (err.cause === err; a → b → a), and an error held twice arrives as one object', async () => {
    const pool = workerPool({ size: 1 });
    const error = await rejection(pool.apply(t('throwCyclic'), []));
    const [self, a, again] = error.errors;
    expect(self.cause).toBe(self);
    expect(a.cause).toBeInstanceOf(RangeError);
    expect(a.cause.cause).toBe(a);
    expect(again).toBe(a);
    await stillServes(pool);
  });

  it('a runaway cause chain or a huge AggregateError is cut at the limits, not sent whole; the worker carries on', async () => {
    const pool = workerPool({ size: 1 });
    const chain = await rejection(pool.apply(t('throwCauseChain'), [100_000]));
    let depth = 0;
    for (let e = chain; e !== undefined; e = e.cause) {
      expect(e.message).toBe(`level ${99_999 - depth}`);
      depth++;
    }
    expect(depth).toBe(33); // the error thrown and 32 levels of causes
    const huge = await rejection(pool.apply(t('throwHugeAggregate'), [5000]));
    expect(huge.errors).toHaveLength(1000);
    expect(huge.errors[999].message).toBe('element 999');
    // A big value that can be cloned is carried whole.
    const big = await rejection(pool.apply(t('throwWithHugeCause'), [8 << 20]));
    expect(big.cause.payload).toHaveLength(8 << 20);
    await stillServes(pool);
  });

  it('getters that throw cost only the field they guard: the rest of the error arrives', async () => {
    const pool = workerPool({ size: 1 });
    const error = await rejection(pool.apply(t('throwWithThrowingGetters'), []));
    expect(error).toBeInstanceOf(Error);
    expect(error.message).toBe('touchy');
    expect(error.good).toBe('kept');
    expect(error).not.toHaveProperty('bad');
    expect(error).not.toHaveProperty('code');
    expect(error.cause).toBeInstanceOf(TypeError);
    expect(error.cause.message).toMatch(/the error's cause cannot be sent back to the pool: reading it threw: cause getter/);

    await stillServes(pool);
  });

  it('an error whose message cannot be read is a TypeError for its task; held in another, it is one in its place', async () => {
    const pool = workerPool({ size: 1 });
    const unreadable = await rejection(pool.apply(t('throwWithThrowingMessage'), []));
    expect(unreadable).toBeInstanceOf(TypeError);
    expect(unreadable.message).toBe("the task's thrown value cannot be sent back to the pool: message getter");
    const holder = await rejection(pool.apply(t('throwHoldingUnreadable'), []));
    expect(holder).toBeInstanceOf(AggregateError);
    expect(holder.kept).toBe('yes');
    expect(holder).not.toHaveProperty('prop');
    expect(holder.cause).toBeInstanceOf(TypeError);
    expect(holder.cause.message).toBe("the error's cause cannot be sent back to the pool: reading it threw: message getter");
    expect(holder.errors[0]).toBeInstanceOf(TypeError);
    expect(holder.errors[0].message).toMatch(/^AggregateError\.errors\[0\] cannot be sent back to the pool: reading it threw: message getter/);
    expect(holder.errors[1]).toBe('after');
    await stillServes(pool);
  });

  it('a Proxy around an error arrives as the error; one whose traps throw is a TypeError for its task', async () => {
    const pool = workerPool({ size: 1 });
    const error = await rejection(pool.apply(t('throwProxy'), []));
    expect(error).toBeInstanceOf(RangeError);
    expect(error).toMatchObject({ message: 'through a proxy', code: 'E_PROXY' });
    const hostile = await rejection(pool.apply(t('throwHostileProxy'), []));
    expect(hostile).toBeInstanceOf(TypeError);
    expect(hostile.message).toBe("the task's thrown value cannot be sent back to the pool: trap");
    const values = await rejection(pool.apply(t('throwWithProxyValues'), []));
    expect(values.kept).toBe(1);
    expect(values).not.toHaveProperty('proxied');
    expect(values.cause).toBeInstanceOf(TypeError);
    await stillServes(pool);
  });

  it("a failed system call's error reads as fs's own: errno, code, syscall, path, in fs's order", async () => {
    const pool = workerPool({ size: 1 });
    const missing = join(tmpdir(), 'spindle-error-fidelity-no-such-file');
    const error = await rejection(pool.apply(t('throwFsError'), [missing]));
    expect(error).toMatchObject({ errno: -2, code: 'ENOENT', syscall: 'open', path: missing, message: `ENOENT: no such file or directory, open '${missing}'` });
    // The task threw readFileSync's error: the pool's copy has its keys in the order this Node's
    // own has them (errno, syscall, code, path on Node 18; errno, code, syscall, path since 20).
    expect(Object.keys(error)).toEqual(Object.keys(fsErrorOf(() => readFileSync(missing))));
  });

  it('in a map, the failing item rejects the map with its error, whole', async () => {
    const pool = workerPool({ size: 2 });
    const error = await rejection(pool.map(t('failOnThree'), [1, 2, 3, 4, 5, 6], { chunkSize: 2 }));
    expect(error).toMatchObject({ name: 'ValidationError', code: 'E_THREE', field: 'item', status: 422 });
  });

  it.each([
    ['a string', 'just words'],
    ['a number', 42],
    ['a plain object', { plain: 'object', nested: [1, { deep: true }] }],
    ['null', null],
  ])('a thrown non-Error (%s) arrives as thrown', async (_what, value) => {
    const pool = workerPool({ size: 1 });
    expect(await rejection(pool.apply(t('throwValue'), [value]))).toEqual(value);
  });

  it('a thrown undefined arrives as undefined; a thrown function or symbol as a TypeError that says why', async () => {
    const pool = workerPool({ size: 1 });
    const outcome = await pool.apply(t('throwUndefined'), []).then(
      () => 'resolved',
      (error: unknown) => ({ rejectedWith: error }),
    );
    expect(outcome).toEqual({ rejectedWith: undefined });
    const fn = await rejection(pool.apply(t('throwFunction'), []));
    expect(fn).toBeInstanceOf(TypeError);
    expect(fn.message).toMatch(/^the task's thrown value cannot be sent back to the pool: .*could not be cloned/);
    const symbol = await rejection(pool.apply(t('throwSymbol'), []));
    expect(symbol).toBeInstanceOf(TypeError);
    expect(symbol.message).toMatch(/thrown value cannot be sent back/);
    await stillServes(pool);
  });

  it("an initializer's error reaches the caller with its name, code, own properties and cause", async () => {
    const pool = workerPool({ size: 1, initializer: t('initFails') });
    const error = await rejection(pool.apply(t('echo'), [1]));
    expect(error).toBeInstanceOf(WorkerCrashError);
    // Somewhere down the crash's cause chain: the initializer's own error, as thrown.
    const chain: any[] = [];
    for (let e = error; e !== undefined && chain.length < 10; e = e.cause) chain.push(e);
    const thrown = chain.find((e) => e.name === 'ValidationError');
    expect(thrown).toMatchObject({ message: 'the initializer cannot start', code: 'E_INIT', field: 'config', status: 422 });
    expect(thrown.stack).toContain('errors.mjs');
    expect(thrown.cause).toBeInstanceOf(RangeError);
    expect(thrown.cause.message).toBe('port out of range');
  });
});

describe('encodeError / decodeError', () => {
  it('round-trips through structured clone: what the port does', () => {
    const error = new AggregateError([new TypeError('t')], 'agg', { cause: 'c' });
    (error as any).code = 'E_X';
    const back = decodeError(structuredClone(encodeError(error)));
    expect(back).toBeInstanceOf(AggregateError);
    expect(back).toMatchObject({ message: 'agg', code: 'E_X', cause: 'c', stack: error.stack });
    expect((back as AggregateError).errors[0]).toBeInstanceOf(TypeError);
  });

  it("throws only when the error's name, message or stack cannot be read; any other trap costs only its field", () => {
    const trap = () => {
      throw new Error('trap');
    };
    const core = new Set(['name', 'message', 'stack']);
    const hostile = new Proxy(new RangeError('x'), {
      get: (target, key) => (core.has(key as string) ? Reflect.get(target, key) : trap()),
      ownKeys: trap,
      has: trap,
      getPrototypeOf: trap,
    });
    const encoded = encodeError(hostile);
    expect(() => structuredClone(encoded)).not.toThrow();
    const back = decodeError(encoded);
    expect(back.constructor).toBe(Error); // its class could not be read either
    expect(back.message).toBe('x');
    expect(() => encodeError(new Proxy(new Error('x'), { get: trap }))).toThrow('trap');
  });
});

describe.each(availableBackends())("kernels' errors ($name backend)", ({ name, make }) => {
  const dir = mkdtempSync(join(tmpdir(), 'spindle-error-fidelity-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("sha256File's failure reads as fs's own, with a stack, whichever backend ran it", async () => {
    const pool = make({ size: 1 });
    try {
      const missing = join(dir, 'missing');
      const error = await rejection(pool.apply(kernels.sha256File, [missing]));
      expect(error.constructor, name).toBe(Error);
      expect(error).toMatchObject({ name: 'Error', errno: -2, code: 'ENOENT', syscall: 'open', path: missing });
      expect(Object.keys(error)).toEqual(['errno', 'code', 'syscall', 'path']);
      expect(typeof error.stack).toBe('string');
      expect(error.stack).toMatch(/^Error: ENOENT/);
    } finally {
      await pool.terminate();
    }
  });
});
