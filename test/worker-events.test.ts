// The worker backend's events (BackendEvents, issue #13): what belongs to no task. Each worker
// started is reported once (workerCreate) and each that exits once (workerExit, with why); an
// error no task receives reaches `error` exactly once; what user code posts on parentPort
// reaches `message`, in order, with the worker's threadId. The sink is never called from inside
// a method the Pool calls: the recorder below checks that on every call.
//
// The Pool does not pass an events sink yet: these tests build the backend with one and wrap it
// with createPoolWithBackend().

import { afterEach, describe, expect, it } from 'vitest';
import type { BackendEvents, WorkerEventInfo, WorkerExitInfo } from '../src-ts/backends/backend.js';
import { WorkerBackend, type WorkerBackendOptions } from '../src-ts/backends/worker.js';
import { AbortError, WorkerCrashError } from '../src-ts/errors.js';
import { createPoolWithBackend, type Pool } from '../src-ts/pool.js';
import { task } from '../src-ts/task.js';

const tasks = new URL('./fixtures/tasks/events.mjs', import.meta.url);
const who = task<() => number>(tasks, 'who');
const post = task<(values: unknown[]) => number>(tasks, 'post');
const throwLater = task<(message: string, ms: number) => number>(tasks, 'throwLater');
const rejectLater = task<(message: string, ms: number) => number>(tasks, 'rejectLater');
const throwWhileRunning = task<(message: string) => never>(tasks, 'throwWhileRunning');
const exit = task<(code: number) => never>(tasks, 'exit');
const spin = task<() => never>(tasks, 'spin');
const sleepFor = task<(ms: number) => number>(tasks, 'sleepFor');
const initPosts = task<(value: string) => void>(tasks, 'initPosts');
const initThrows = task<(message: string) => void>(tasks, 'initThrows');

/** Counts calls into the backend's Pool-facing methods: the sink must never be called while one runs. */
let insideBackend = 0;

/** A BackendEvents sink that records everything, in order. */
class Recorder implements BackendEvents {
  readonly created: WorkerEventInfo[] = [];
  readonly exited: WorkerExitInfo[] = [];
  readonly errors: Error[] = [];
  readonly messages: [unknown, WorkerEventInfo][] = [];
  /** Each event as it came, by kind and threadId: for order checks. */
  readonly log: string[] = [];
  /** Calls made synchronously from inside a backend method (must stay empty). */
  readonly reentrant: string[] = [];

  private note(what: string): void {
    this.log.push(what);
    if (insideBackend > 0) this.reentrant.push(what);
  }

  workerCreate(info: WorkerEventInfo): void {
    this.note(`create ${info.threadId}`);
    this.created.push(info);
  }

  workerExit(info: WorkerExitInfo): void {
    this.note(`exit ${info.threadId} ${info.reason}`);
    this.exited.push(info);
  }

  error(error: Error): void {
    this.note(`error ${error.message}`);
    this.errors.push(error);
  }

  message(value: unknown, info: WorkerEventInfo): void {
    this.note(`message ${info.threadId}`);
    this.messages.push([value, info]);
  }

  reasons(): string[] {
    return this.exited.map((e) => e.reason);
  }
}

/** Wraps the backend's Pool-facing methods so that the recorder can tell when one is running. */
function watchReentry(backend: WorkerBackend): void {
  for (const method of ['dispatch', 'cancel', 'close', 'terminate', 'describe'] as const) {
    const original = (backend[method] as (...args: unknown[]) => unknown).bind(backend);
    (backend as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
      insideBackend++;
      try {
        return original(...args);
      } finally {
        insideBackend--;
      }
    };
  }
}

const pools: Pool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.terminate()));
});

function eventPool(options: Partial<WorkerBackendOptions> = {}): { pool: Pool; events: Recorder; backend: WorkerBackend } {
  const events = new Recorder();
  insideBackend++; // the constructor starts workers: no event may come from inside it either
  let backend: WorkerBackend;
  try {
    backend = new WorkerBackend({ size: 2, ...options, events });
  } finally {
    insideBackend--;
  }
  watchReentry(backend);
  const pool = createPoolWithBackend(backend);
  pools.push(pool);
  return { pool, events, backend };
}

/** Waits until `condition` holds (checked every few ms), or fails after `ms`. */
async function until(condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Every worker reported exited was reported created first, once; none twice. */
function expectConsistent(events: Recorder): void {
  const created = events.created.map((c) => c.threadId);
  expect(new Set(created).size).toBe(created.length);
  const exited = events.exited.map((e) => e.threadId);
  expect(new Set(exited).size).toBe(exited.length);
  for (const id of exited) expect(events.log.indexOf(`create ${id}`)).toBeLessThan(events.log.findIndex((line) => line.startsWith(`exit ${id} `)));
  expect(events.reentrant).toEqual([]);
}

describe('workerCreate and workerExit', () => {
  it('close and join: each worker started is created once and exits once, for shutdown', async () => {
    const { pool, events } = eventPool({ size: 2 });
    const ids = await Promise.all(Array.from({ length: 8 }, () => pool.apply(who, [])));
    pool.close();
    await pool.join();
    expect(events.created).toHaveLength(2);
    expect(new Set(ids).size).toBeLessThanOrEqual(2);
    for (const id of ids) expect(events.created.map((c) => c.threadId)).toContain(id);
    expect(events.exited).toHaveLength(2);
    expect(events.reasons()).toEqual(['shutdown', 'shutdown']);
    expect(events.exited.map((e) => e.exitCode)).toEqual([1, 1]); // terminated
    expect(events.errors).toEqual([]);
    expectConsistent(events);
  });

  it('terminate: every worker exits for shutdown, even one still starting', async () => {
    const { pool, events } = eventPool({ size: 3 });
    await pool.terminate();
    expect(events.created).toHaveLength(3);
    expect(events.reasons()).toEqual(['shutdown', 'shutdown', 'shutdown']);
    expectConsistent(events);
  });

  it('a task that ends its worker: the exit is a crash with its exit code, the replacement is created, no error is reported', async () => {
    const { pool, events } = eventPool({ size: 1 });
    const first = await pool.apply(who, []);
    await expect(pool.apply(exit, [7])).rejects.toBeInstanceOf(WorkerCrashError);
    const second = await pool.apply(who, []);
    expect(second).not.toBe(first);
    expect(events.exited).toEqual([{ threadId: first, exitCode: 7, reason: 'crash' }]);
    expect(events.created.map((c) => c.threadId)).toEqual([first, second]);
    // An exit is no error: the task got the WorkerCrashError, workerExit says the rest.
    expect(events.errors).toEqual([]);
    expectConsistent(events);
  });

  it('an uncaught error while a task runs is that task\'s error, not an event error', async () => {
    const { pool, events } = eventPool({ size: 1 });
    const error = await pool.apply(throwWhileRunning, ['thrown while running']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkerCrashError);
    expect((error as Error).message).toMatch(/thrown while running/);
    expect(await pool.apply(who, [])).toBeTypeOf('number');
    expect(events.reasons()).toEqual(['crash']);
    expect(events.errors).toEqual([]);
    expectConsistent(events);
  });

  it('maxTasksPerWorker: each retired worker exits as recycled', async () => {
    const { pool, events } = eventPool({ size: 1, maxTasksPerWorker: 2 });
    const ids: number[] = [];
    for (let i = 0; i < 6; i++) ids.push(await pool.apply(who, []));
    // Three workers ran two tasks each; the third's replacement may or may not have started yet.
    expect(new Set(ids).size).toBe(3);
    await until(() => events.reasons().filter((r) => r === 'recycled').length === 3, 'three recycled exits');
    pool.close();
    await pool.join();
    const recycled = events.exited.filter((e) => e.reason === 'recycled').map((e) => e.threadId);
    expect(recycled).toEqual([...new Set(ids)]);
    // Whatever was alive at close() exits for shutdown; nothing else exits.
    expect(events.reasons().filter((r) => r !== 'recycled').every((r) => r === 'shutdown')).toBe(true);
    expect(events.exited).toHaveLength(events.created.length);
    expectConsistent(events);
  });

  it('cancelGrace 0: a worker killed to stop an aborted task that ignores it exits for cancel', async () => {
    const { pool, events } = eventPool({ size: 1, cancelGrace: 0 });
    const first = await pool.apply(who, []);
    const controller = new AbortController();
    const spinning = pool.apply(spin, [], { signal: controller.signal });
    await sleep(50); // let it start spinning
    controller.abort();
    await expect(spinning).rejects.toBeInstanceOf(AbortError);
    const second = await pool.apply(who, []);
    expect(second).not.toBe(first);
    await until(() => events.exited.length === 1, 'the killed worker\'s exit');
    expect(events.exited).toEqual([{ threadId: first, exitCode: 1, reason: 'cancel' }]);
    expect(events.created.map((c) => c.threadId)).toEqual([first, second]);
    expect(events.errors).toEqual([]);
    expectConsistent(events);
  });

  it('an initializer that throws: each try is reported as an error and a startFailed exit', async () => {
    const { pool, events } = eventPool({ size: 1, initializer: initThrows, initArgs: ['init broke'] });
    // Three failed starts in a row break the pool: the call fails with the reason.
    await expect(pool.apply(who, [])).rejects.toBeInstanceOf(WorkerCrashError);
    await until(() => events.exited.length === 3, 'three failed starts');
    expect(events.reasons()).toEqual(['startFailed', 'startFailed', 'startFailed']);
    expect(events.errors).toHaveLength(3);
    for (const error of events.errors) {
      expect(error).toBeInstanceOf(WorkerCrashError);
      expect(error.message).toMatch(/initializer failed.*init broke/);
      expect((error.cause as Error).message).toBe('init broke');
      expect((error as WorkerCrashError).code).toBe('E_INIT');
    }
    expectConsistent(events);
  });
});

describe('errors raised outside any task', () => {
  it('a worker that cannot be started at all: each try is reported as an error; calls fail once the pool gives up', async () => {
    // An env value whose string conversion throws makes every `new Worker` throw (the Pool's
    // option checks would refuse it; the backend alone does not look).
    const env = { SPINDLE_UNSTARTABLE: { toString: () => { throw new Error('no string for you'); } } } as never;
    const { pool, events } = eventPool({ size: 1, env });
    await expect(pool.apply(who, [])).rejects.toBeInstanceOf(WorkerCrashError);
    await until(() => events.errors.length === 3, 'three reported failed starts');
    for (const error of events.errors) {
      expect(error).toBeInstanceOf(WorkerCrashError);
      expect(error.message).toMatch(/could not be started: no string for you/);
    }
    // No worker started, so none was created or exited.
    expect(events.created).toEqual([]);
    expect(events.exited).toEqual([]);
    expectConsistent(events);
  });

  it.each([
    { how: 'a timer left by a finished task throws', fn: throwLater, message: 'timer fired after the task', code: 'E_LATER' },
    { how: 'a promise left by a finished task rejects, unhandled', fn: rejectLater, message: 'rejected after the task', code: undefined },
  ])('$how: the error reaches events.error exactly once, the worker is replaced and the pool keeps working', async ({ fn, message, code }) => {
    const { pool, events } = eventPool({ size: 1 });
    const idle = await pool.apply(fn, [message, 20]);
    await until(() => events.errors.length > 0 && events.created.length === 2, 'the error and the replacement');
    expect(await pool.apply(who, [])).not.toBe(idle);
    expect(await Promise.all([1, 2, 3].map(() => pool.apply(who, [])))).toHaveLength(3);
    await sleep(50); // nothing more comes
    expect(events.errors).toHaveLength(1);
    const [error] = events.errors;
    expect(error).toBeInstanceOf(WorkerCrashError);
    expect(error!.message).toMatch(/outside any task/);
    expect(error!.message).toContain(message);
    expect(error!.message).toContain(`thread ${idle}`);
    expect((error!.cause as Error).message).toContain(message);
    expect((error as WorkerCrashError).code).toBe(code);
    expect(events.exited).toEqual([{ threadId: idle, exitCode: 1, reason: 'crash' }]);
    // Reported before the replacement was: its exit, then the next worker.
    expect(events.log.slice(1, 4)).toEqual([`error ${error!.message}`, `exit ${idle} crash`, `create ${events.created[1]!.threadId}`]);
    expectConsistent(events);
  });

  it('a finished task\'s timer that throws while the next task awaits fails that task (only): the others run elsewhere', async () => {
    const { pool, events } = eventPool({ size: 1 });
    const first = await pool.apply(throwLater, ['left behind', 30]);
    // Running when the timer fires (it awaits, so the worker's timers run): this task gets the error.
    const running = pool.apply(sleepFor, [5000]).catch((e: unknown) => e);
    // Waiting behind it, on this worker or in the queue: run by the replacement.
    const waiting = Promise.all(Array.from({ length: 6 }, () => pool.apply(who, [])));
    const error = await running;
    expect(error).toBeInstanceOf(WorkerCrashError);
    expect((error as Error).message).toContain('left behind');
    expect((error as WorkerCrashError).code).toBe('E_LATER');
    for (const id of await waiting) expect(id).not.toBe(first);
    // Reported once, to the task: not again as an event error.
    await sleep(20);
    expect(events.errors).toEqual([]);
    expect(events.exited).toEqual([{ threadId: first, exitCode: 1, reason: 'crash' }]);
    expectConsistent(events);
  });
});

describe('messages on parentPort', () => {
  it('arrive in order, with the threadId of the worker that posted them, never taken for replies', async () => {
    const { pool, events } = eventPool({ size: 2 });
    const values = Array.from({ length: 50 }, (_, i) => ({ i, text: `m${i}` }));
    const [a, b] = await Promise.all([pool.apply(post, [values]), pool.apply(post, [values.map((v) => ({ ...v, text: `n${v.i}` }))])]);
    await until(() => events.messages.length === 100, '100 messages');
    for (const [threadId, prefix] of [
      [a, 'm'],
      [b, 'n'],
    ] as const) {
      const mine = events.messages.filter(([, info]) => info.threadId === threadId).map(([value]) => value as { i: number; text: string });
      // Two tasks on one worker: both sequences, each in order.
      const seq = mine.filter((v) => v.text.startsWith(prefix));
      expect(seq).toEqual(values.map((v) => ({ i: v.i, text: `${prefix}${v.i}` })));
    }
    // The tasks' own results were not disturbed by the messages.
    expect(await pool.apply(post, [['x']])).toBeTypeOf('number');
    expectConsistent(events);
  });

  it('the initializer\'s messages arrive too, after the worker\'s workerCreate', async () => {
    const { pool, events } = eventPool({ size: 2, initializer: initPosts, initArgs: ['hello'] });
    await pool.apply(who, []);
    await until(() => events.messages.length === 2, 'both initializers\' messages');
    for (const [value, info] of events.messages) {
      expect(value).toEqual({ init: 'hello', threadId: info.threadId });
      expect(events.log.indexOf(`create ${info.threadId}`)).toBeLessThan(events.log.indexOf(`message ${info.threadId}`));
    }
    expectConsistent(events);
  });
});

describe('no sink', () => {
  it('a backend without events runs and stops as before: nothing is reported, nothing breaks', async () => {
    const backend = new WorkerBackend({ size: 1 });
    const pool = createPoolWithBackend(backend);
    pools.push(pool);
    await pool.apply(post, [['dropped']]);
    await pool.apply(throwLater, ['nobody listens', 5]);
    await sleep(50);
    expect(await pool.apply(who, [])).toBeTypeOf('number');
    pool.close();
    await pool.join();
  });
});
