// The worker backend's controls over its workers (issue #13): resourceLimits, env, argv,
// execArgv, name and workerData, each passed to every `new Worker` of the pool, and what a task
// sees of them. The Pool does not pass these options through yet: the tests build the backend
// with them and wrap it with createPoolWithBackend().
//
// The out-of-memory test runs in this test file's own process (vitest's forks pool gives each
// file one): a worker that reaches its resourceLimits is stopped by Node (ERR_WORKER_OUT_OF_MEMORY)
// without touching its parent, and the allocation pattern used (many small arrays) is the one
// Node's heap-limit callback handles in time.

import { spawnSync } from 'node:child_process';
import inspector from 'node:inspector';
import { SHARE_ENV } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import type { BackendEvents, WorkerEventInfo } from '../src-ts/backends/backend.js';
import { WorkerBackend, type WorkerBackendOptions } from '../src-ts/backends/worker.js';
import { workerExecArgv } from '../src-ts/backends/worker-start.js';
import { WorkerCrashError } from '../src-ts/errors.js';
import { createPoolWithBackend, Pool } from '../src-ts/pool.js';
import { SharedCounter } from '../src-ts/shared/counter.js';
import { task } from '../src-ts/task.js';

const esm = new URL('./fixtures/tasks/controls.mjs', import.meta.url);
const cjs = new URL('./fixtures/tasks/controls.cjs', import.meta.url);
const esmData = task<() => { imported: unknown; required: unknown; namespace: unknown }>(esm, 'data');
const cjsData = task<() => { destructured: unknown; required: unknown }>(cjs, 'data');
const envVar = task<(name: string) => string | undefined>(esm, 'envVar');
const setEnvVar = task<(name: string, value: string) => number>(esm, 'setEnvVar');
const argv = task<() => string[]>(esm, 'argv');
const execArgv = task<() => string[]>(esm, 'execArgv');
const threadName = task<() => { threadId: number; threadName: string | undefined }>(esm, 'threadName');
const hog = task<() => never>(esm, 'hog');
const later = task<(value: number, ms: number) => number>(esm, 'later');

const pools: Pool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.terminate()));
});

function controlledPool(options: Partial<WorkerBackendOptions>): Pool {
  const pool = createPoolWithBackend(new WorkerBackend({ size: 2, ...options }));
  pools.push(pool);
  return pool;
}

describe('resourceLimits', () => {
  it('a task past maxOldGenerationSizeMb fails with ERR_WORKER_OUT_OF_MEMORY; the tasks around it run, and the pool goes on', async () => {
    // Size 1: the tasks posted behind the hog are held by its worker, unstarted, when it dies.
    const pool = controlledPool({ size: 1, resourceLimits: { maxOldGenerationSizeMb: 24, maxYoungGenerationSizeMb: 4 } });
    const before = pool.apply(later, [1, 1]);
    const hogged = pool.apply(hog, []).catch((e: unknown) => e);
    const after = Promise.all([2, 3, 4, 5].map((n) => pool.apply(later, [n, 1])));
    expect(await before).toBe(1);
    const error = await hogged;
    expect(error).toBeInstanceOf(WorkerCrashError);
    expect((error as WorkerCrashError).code).toBe('ERR_WORKER_OUT_OF_MEMORY');
    expect((error as Error).message).toMatch(/memory limit/);
    expect(await after).toEqual([2, 3, 4, 5]);
    expect(await pool.apply(later, [6, 1])).toBe(6);
  });

  it('with other workers beside it, only the task past the limit fails', async () => {
    const pool = controlledPool({ size: 2, resourceLimits: { maxOldGenerationSizeMb: 24 } });
    const others = Promise.all(Array.from({ length: 12 }, (_, i) => pool.apply(later, [i, 10])));
    const error = await pool.apply(hog, []).catch((e: unknown) => e);
    expect((error as WorkerCrashError).code).toBe('ERR_WORKER_OUT_OF_MEMORY');
    expect(await others).toEqual(Array.from({ length: 12 }, (_, i) => i));
  });

  it('WorkerCrashError without a code has none, and the old constructor still works', () => {
    const plain = new WorkerCrashError('gone');
    expect(plain.code).toBeUndefined();
    expect(Object.hasOwn(plain, 'code')).toBe(false);
    const coded = new WorkerCrashError('gone', { cause: 1, code: 'E_X' });
    expect(coded.code).toBe('E_X');
    expect(coded.cause).toBe(1);
  });
});

describe('env', () => {
  it('an object is the workers\' whole process.env', async () => {
    const pool = controlledPool({ env: { SPINDLE_TEST_X: 'hello' } });
    expect(await pool.apply(envVar, ['SPINDLE_TEST_X'])).toBe('hello');
    expect(await pool.apply(envVar, ['PATH'])).toBeUndefined();
  });

  it('values that are not strings arrive as Node makes them strings, each converted once, when the pool is made', async () => {
    let conversions = 0;
    const counted = { toString: () => `converted ${++conversions}` };
    const env = { NUM: 1, BOOL: true, NIL: null, COUNTED: counted } as unknown as Record<string, string>;
    const pool = new Pool({ backend: 'worker', size: 2, minSize: 2, env }); // the Pool, which converts them
    pools.push(pool);
    expect(conversions).toBe(1);
    const read = (name: string) => pool.apply(envVar, [name]);
    expect(await Promise.all(['NUM', 'BOOL', 'NIL', 'COUNTED'].map(read))).toEqual(['1', 'true', 'null', 'converted 1']);
    expect(conversions).toBe(1);
  });

  it('SHARE_ENV: a change a task makes shows in the parent\'s process.env, and the parent\'s in the task', async () => {
    const pool = controlledPool({ env: SHARE_ENV });
    try {
      process.env.SPINDLE_TEST_FROM_PARENT = 'parent';
      expect(await pool.apply(envVar, ['SPINDLE_TEST_FROM_PARENT'])).toBe('parent');
      await pool.apply(setEnvVar, ['SPINDLE_TEST_FROM_WORKER', 'worker']);
      expect(process.env.SPINDLE_TEST_FROM_WORKER).toBe('worker');
    } finally {
      delete process.env.SPINDLE_TEST_FROM_PARENT;
      delete process.env.SPINDLE_TEST_FROM_WORKER;
    }
  });

  it('default: each worker gets a copy of the parent\'s; a task\'s change stays in its worker', async () => {
    const pool = controlledPool({ size: 1 });
    await pool.apply(setEnvVar, ['SPINDLE_TEST_COPY', 'worker']);
    expect(process.env.SPINDLE_TEST_COPY).toBeUndefined();
    expect(await pool.apply(envVar, ['PATH'])).toBe(process.env.PATH);
  });
});

describe('argv and execArgv', () => {
  it('argv: process.argv in the worker ends with the items, stringified', async () => {
    const pool = controlledPool({ argv: ['--alpha', 42] });
    expect((await pool.apply(argv, [])).slice(-2)).toEqual(['--alpha', '42']);
  });

  it('execArgv: an explicit one replaces what workers inherit', async () => {
    const pool = controlledPool({ execArgv: ['--no-warnings', '--pending-deprecation'] });
    const seen = await pool.apply(execArgv, []);
    expect(seen).toEqual(['--no-warnings', '--pending-deprecation']);
    // vitest runs this file with --conditions flags, which workers would otherwise inherit.
    for (const arg of workerExecArgv()) expect(seen).not.toContain(arg);
  });

  it('execArgv: without one, workers inherit the parent\'s, cleaned', async () => {
    const pool = controlledPool({});
    expect(await pool.apply(execArgv, [])).toEqual(workerExecArgv());
  });

  it('execArgv: a parent run with -e and an option that implies a per-process V8 flag still starts workers', () => {
    // The workers of `node -e` get the parent's options cleaned, as an explicit list, which Node
    // checks: it refuses --experimental-shadow-realm as the V8 flag it implies
    // (--harmony-shadow-realm), and every start failed until that option was dropped too.
    const index = new URL('../dist/index.js', import.meta.url).href;
    const script = `
      const { Pool, task } = await import(${JSON.stringify(index)});
      const pool = new Pool({ backend: 'worker', size: 1 });
      const seen = await pool.apply(task(${JSON.stringify(esm.href)}, 'execArgv'), [], { timeout: 30000 }).catch((e) => e.message);
      await pool.terminate();
      console.log(JSON.stringify(seen));
    `;
    const child = spawnSync(process.execPath, ['--experimental-shadow-realm', '--no-warnings', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    expect(JSON.parse(child.stdout)).toEqual(['--no-warnings']);
  });

  it('execArgv: one Node refuses for workers is a RangeError from the constructor, naming the option', () => {
    expect(() => new WorkerBackend({ size: 1, execArgv: ['--max-old-space-size=64'] })).toThrow(RangeError);
    expect(() => new WorkerBackend({ size: 1, execArgv: ['--max-old-space-size=64'] })).toThrow(/options\.execArgv/);
  });
});

describe('name', () => {
  it('is the workers\' name in the inspector: [worker <threadId>] <name>', async () => {
    const created: number[] = [];
    const events: BackendEvents = {
      workerCreate: (info: WorkerEventInfo) => created.push(info.threadId),
      workerExit: () => {},
      error: () => {},
      message: () => {},
    };
    const session = new inspector.Session();
    session.connect();
    // The inspector's workerId is its own numbering; the title names the thread.
    const titles: string[] = [];
    session.on('NodeWorker.attachedToWorker', (message) => {
      titles.push((message.params as { workerInfo: { title: string } }).workerInfo.title);
    });
    try {
      await new Promise<void>((resolve, reject) => session.post('NodeWorker.enable', { waitForDebuggerOnStart: false }, (error) => (error ? reject(error) : resolve())));
      const pool = controlledPool({ size: 2, name: 'spindle-test-pool', events });
      const seen = await Promise.all([1, 2, 3, 4].map(() => pool.apply(threadName, [])));
      expect(created).toHaveLength(2);
      for (const id of created) expect(titles).toContain(`[worker ${id}] spindle-test-pool`);
      // worker_threads' threadName exists only on newer Node (22.20, 24.6): there it is the name.
      for (const { threadName: name } of seen) expect([undefined, 'spindle-test-pool']).toContain(name);
    } finally {
      session.disconnect();
    }
  });

  it('a value Node refuses is its own error from the constructor, naming the option', () => {
    expect(() => new WorkerBackend({ size: 1, name: 42 as never })).toThrow(/options\.name/);
  });
});

describe('workerData', () => {
  const value = { answer: 42, list: [1, 'two', null], nested: { deep: true } };

  it('is the user\'s value in an ES module task: named import, require() and the namespace alike', async () => {
    const pool = controlledPool({ workerData: value });
    expect(await pool.apply(esmData, [])).toEqual({ imported: value, required: value, namespace: value });
  });

  it('is the user\'s value in a CommonJS task', async () => {
    const pool = controlledPool({ workerData: value });
    expect(await pool.apply(cjsData, [])).toEqual({ destructured: value, required: value });
  });

  it.each([
    { kind: 'ES module', module: esm },
    { kind: 'CommonJS', module: cjs },
  ])('is the user\'s value in the initializer ($kind)', async ({ module }) => {
    const pool = controlledPool({ workerData: value, initializer: task(module, 'keepInitData') });
    const atInit = await pool.apply(task<() => unknown>(module, 'seenAtInit'), []);
    expect(atInit).toEqual(module === esm ? { imported: value, required: value } : value);
  });

  it('is undefined when none is given: spindle\'s own setup never shows', async () => {
    const pool = controlledPool({});
    expect(await pool.apply(esmData, [])).toEqual({ imported: undefined, required: undefined, namespace: undefined });
    expect(await pool.apply(cjsData, [])).toEqual({ destructured: undefined, required: undefined });
  });

  it('is a snapshot taken when the pool is made: a worker started later (recycled) sees the same', async () => {
    const mutable = { n: 1 };
    const pool = controlledPool({ size: 1, maxTasksPerWorker: 1, workerData: mutable });
    expect((await pool.apply(esmData, [])).imported).toEqual({ n: 1 });
    mutable.n = 2;
    expect((await pool.apply(esmData, [])).imported).toEqual({ n: 1 });
  });

  it('a SharedCounter given as workerData arrives live', async () => {
    const counter = new SharedCounter(0);
    const pool = controlledPool({ size: 2, workerData: counter });
    await Promise.all(Array.from({ length: 10 }, () => pool.apply(task(esm, 'bumpSharedData'), [])));
    expect(counter.value).toBe(10);
  });

  it('one that cannot be cloned is a TypeError from the constructor, naming the option', () => {
    expect(() => new WorkerBackend({ size: 1, workerData: { fn: () => 1 } })).toThrow(TypeError);
    expect(() => new WorkerBackend({ size: 1, workerData: { fn: () => 1 } })).toThrow(/options\.workerData/);
  });
});
