// Option types and their checks. Every check throws a TypeError (wrong kind of value) or a
// RangeError (right kind, bad value) whose message names the method and the option, so that a
// mistake fails at the call, before anything is queued.
//
// An option the method does not know is a TypeError too (see ./option-names.ts): each method's
// known names are the tables below, which the compiler checks against the option interfaces.

import { isGenuine } from './genuine.js';
import { isAbortSignal } from './watch.js';
import type { ResourceLimits, TransferListItem } from 'node:worker_threads';
import { describe, isArray, isDetached } from '../kernels/args.js';
import { kernels } from '../kernels/index.js';
import type { JsTask, Runnable } from '../kernels/types.js';
import { MessagePort, SHARE_ENV } from 'node:worker_threads';
import { SharedCounter, unproxiedCounter } from '../shared/counter.js';
import { reasonOf } from '../backends/worker-protocol.js';
import { findUnknownOption, OptionNames, unknownOptionError } from './option-names.js';
import { MAX_ARGS } from './items.js';

export const MAX_POOL_SIZE = 1024;
/** concurrentTasksPerWorker's limit: a worker's claim table has 1024 cells (claim-table.ts), one per task it holds. */
const MAX_CONCURRENT_TASKS = 1024;

export interface PoolOptions {
  /** 'auto' (default): native when the addon loads, else worker. 'queue': BullMQ jobs run by `spindle serve` processes (needs queue and connection). */
  backend?: 'auto' | 'native' | 'worker' | 'queue' | undefined;
  /** Queue backend only, and required there: the BullMQ queue's name, which the servers serve. */
  queue?: string | undefined;
  /** Queue backend only, and required there: a redis:// URL, or ioredis options. */
  connection?: string | Record<string, unknown> | undefined;
  /** Queue backend only: BullMQ attempts per job, an integer in [1, 1000]. Default 1: a task that throws is not run again. */
  attempts?: number | undefined;
  /**
   * Threads or workers, an integer in [1, 1024]: the most that run tasks at once. Default:
   * os.availableParallelism(), or minSize when that is larger.
   */
  size?: number | undefined;
  /** Accepted tasks the pool holds before dispatching them: an integer >= 1 or Infinity. Default 1024. */
  maxQueue?: number | undefined;
  /** When the queue is full: 'wait' (default) for room, or 'reject' with a QueueFullError. */
  onQueueFull?: 'wait' | 'reject' | undefined;
  /**
   * Worker backend only: a `task()` handle run once in each worker before its first task
   * (awaited when async). If it throws, the worker is not used and a new one is tried.
   */
  initializer?: JsTask<any, any> | undefined;
  /** Worker backend only: the initializer's arguments. */
  initArgs?: readonly unknown[] | undefined;
  /** Worker backend only: replace a worker after it ran this many tasks (an integer >= 1). */
  maxTasksPerWorker?: number | undefined;
  /**
   * Worker backend only: ms an aborted or timed-out task still running in a worker gets to stop
   * on its own (by checking its signal) before the worker is terminated and replaced. Default
   * 1000; 0 terminates at once.
   */
  cancelGrace?: number | undefined;
  /**
   * Worker backend only: workers kept even when idle, an integer in [0, size] (in [0, 1024]
   * when size is not given; size then defaults to at least minSize). Default: size, a fixed
   * pool. Below size, the pool starts minSize workers, starts more (up to size) while tasks
   * wait for one, and lets those above minSize exit once idle for idleTimeout (workerExit
   * with reason 'idle'). 0: an idle pool holds no worker at all, and the next task starts one.
   */
  minSize?: number | undefined;
  /**
   * Worker backend only: ms a worker above minSize may go without a task before it exits. A
   * finite number in [0, 2^31 - 1]; 0 lets it go as soon as it runs dry. Default 10000: long
   * enough that a pool under intermittent load keeps the workers it started (each start costs
   * tens of ms and the initializer), short enough that a burst's extra threads and memory come
   * back within seconds. It has no effect unless minSize < size.
   */
  idleTimeout?: number | undefined;
  /**
   * Worker backend only: tasks one worker may run at once, an integer in [1, 1024]. Default 1.
   * Above 1, a worker starts its next task while earlier ones await (async tasks that wait for
   * I/O between bursts of CPU); synchronous code still runs one task at a time, so CPU-bound
   * tasks gain nothing. Up to size × concurrentTasksPerWorker tasks then run at once, and
   * map's default chunkSize and imap's default window scale with that product; pool.size and
   * stats().size stay the workers asked for. A task that ignores its cancellation for cancelGrace gets its worker
   * terminated, and the other tasks running on that worker fail with a WorkerCrashError, as
   * they would had it crashed the worker.
   */
  concurrentTasksPerWorker?: number | undefined;
  /**
   * Worker backend only: each worker's V8 heap and stack limits, as Node's Worker option of
   * the same name. Each one given is a finite number of MB > 0.
   */
  resourceLimits?: ResourceLimits | undefined;
  /**
   * Worker backend only: the workers' process.env, as Node's Worker option: an object (Node
   * stringifies its values), or worker_threads' SHARE_ENV to share the pool thread's own.
   */
  env?: NodeJS.Dict<string> | typeof SHARE_ENV | undefined;
  /** Worker backend only: appended to the workers' process.argv, as Node's Worker option (items are stringified). */
  argv?: readonly unknown[] | undefined;
  /** Worker backend only: the workers' Node flags, as Node's Worker option. */
  execArgv?: readonly string[] | undefined;
  /**
   * Worker backend only: a value every worker receives as worker_threads' `workerData`, readable
   * in tasks and the initializer. It must survive structuredClone (checked at construction).
   */
  workerData?: unknown | undefined;
  /** Worker backend only: the workers' name, as Node's Worker option (shown in debuggers and traces). */
  name?: string | undefined;
  /**
   * After close(), join() waits at most this many ms for accepted tasks, then terminates the
   * rest: they reject with an AbortError-named error saying the close timed out. A finite
   * number in [0, 2^31 - 1]. Default: no limit.
   */
  closeTimeout?: number | undefined;
}

/** Options every task-submitting method takes. */
export interface CallOptions {
  /** Aborting it cancels the call: it rejects with an AbortError whose `cause` is the signal's reason. */
  signal?: AbortSignal | undefined;
  /** Milliseconds from the call until it rejects with a TimeoutError and its work is cancelled. */
  timeout?: number | undefined;
  /** Kernels add the units of work they finish to this counter. */
  progress?: SharedCounter | undefined;
  /**
   * Queue backend only: how many times a failing job may run (BullMQ's attempts), an integer
   * in [1, 1000]; a map's or imap's applies to each of its chunks. Default: the Pool's
   * `attempts`, itself 1 by default (a task that throws is not run again).
   */
  attempts?: number | undefined;
}

export interface CallbackOptions<R> {
  /** Runs on the pool's thread with the result, before get() resolves. */
  callback?: ((result: R) => void) | undefined;
  /** Runs on the pool's thread with the error, before get() rejects. */
  errorCallback?: ((error: unknown) => void) | undefined;
}

/** apply, applyAsync and submit: one call, whose arguments may be moved rather than copied. */
export interface ApplyOptions extends CallOptions {
  /**
   * Worker backend: ArrayBuffers (or MessagePorts) among the arguments to transfer to the
   * worker instead of copying; they are detached here once the task is dispatched. The native
   * backend reads arguments in place and ignores this.
   */
  transfer?: readonly TransferListItem[] | undefined;
}

export interface AsyncCallOptions<R> extends ApplyOptions, CallbackOptions<R> {}

export interface MapOptions extends CallOptions {
  /** Items per dispatch. Default: ceil(n / (4 * size)), as Python's Pool.map. */
  chunkSize?: number | undefined;
}

export interface MapAsyncOptions<R> extends MapOptions, CallbackOptions<R> {}

export interface ImapOptions extends CallOptions {
  /** Items per dispatch. Default 1. */
  chunkSize?: number | undefined;
  /** Chunks in flight or finished and not yet read, at most. Default max(4, 2 * size). */
  window?: number | undefined;
}

/**
 * A table of option names that the compiler checks holds exactly the keys of `O`: an option
 * added to an interface but not to its table does not compile, nor does a name it lacks.
 */
export function namesOf<O>() {
  return <const K extends readonly (keyof O & string)[]>(names: K & MissingFrom<O, K>): OptionNames => new OptionNames(names);
}

/** Nothing when `K` names every key of `O`; else a type no array matches, whose error names what is missing. */
type MissingFrom<O, K extends readonly PropertyKey[]> = [Exclude<keyof O, K[number]>] extends [never] ? unknown : { missing: Exclude<keyof O, K[number]> };

const POOL_OPTIONS = namesOf<PoolOptions>()([
  'backend', 'queue', 'connection', 'attempts', 'size', 'maxQueue', 'onQueueFull', 'initializer', 'initArgs', 'maxTasksPerWorker', 'cancelGrace', 'minSize',
  'idleTimeout', 'concurrentTasksPerWorker', 'resourceLimits', 'env', 'argv', 'execArgv', 'workerData', 'name', 'closeTimeout',
]);
const RESOURCE_LIMITS = namesOf<ResourceLimits>()(['maxOldGenerationSizeMb', 'maxYoungGenerationSizeMb', 'codeRangeSizeMb', 'stackSizeMb']);

// One table per method family; CALL_OPTIONS says which methods take which.
const APPLY_OPTIONS = namesOf<ApplyOptions>()(['signal', 'timeout', 'progress', 'attempts', 'transfer']);
const APPLY_ASYNC_OPTIONS = namesOf<AsyncCallOptions<unknown>>()(['signal', 'timeout', 'progress', 'attempts', 'transfer', 'callback', 'errorCallback']);
const MAP_OPTIONS = namesOf<MapOptions>()(['signal', 'timeout', 'progress', 'attempts', 'chunkSize']);
const MAP_ASYNC_OPTIONS = namesOf<MapAsyncOptions<unknown>>()(['signal', 'timeout', 'progress', 'attempts', 'chunkSize', 'callback', 'errorCallback']);
const IMAP_OPTIONS = namesOf<ImapOptions>()(['signal', 'timeout', 'progress', 'attempts', 'chunkSize', 'window']);

/** The options each task-submitting method takes, by the method's name (as in its error messages). */
const CALL_OPTIONS: ReadonlyMap<string, OptionNames> = new Map([
  ['apply', APPLY_OPTIONS],
  ['applyAsync', APPLY_ASYNC_OPTIONS],
  ['submit', APPLY_ASYNC_OPTIONS],
  ['map', MAP_OPTIONS],
  ['starmap', MAP_OPTIONS],
  ['mapAsync', MAP_ASYNC_OPTIONS],
  ['starmapAsync', MAP_ASYNC_OPTIONS],
  ['imap', IMAP_OPTIONS],
  ['imapUnordered', IMAP_OPTIONS],
  ['istarmap', IMAP_OPTIONS],
  ['istarmapUnordered', IMAP_OPTIONS],
]);

/** Every call option of any method: what a method missing from CALL_OPTIONS is held to. */
const ANY_CALL_OPTIONS = new OptionNames([...new Set([...CALL_OPTIONS.values()].flatMap((table) => table.names))]);

/** Where else an option `name` that `where` does not take belongs, for the error's hint. */
function takersOf(where: string, name: string): string[] {
  const methods = [...CALL_OPTIONS].filter(([method, table]) => method !== where && table.has(name)).map(([method]) => method);
  const takers = methods.length === CALL_OPTIONS.size ? ['every call'] : methods;
  return where !== 'Pool' && POOL_OPTIONS.has(name) ? ['Pool', ...takers] : takers;
}

function rejectUnknownOptions(where: string, options: object, known: OptionNames): void {
  const unknown = findUnknownOption(options, known);
  if (unknown !== undefined) throw unknownOptionError(where, unknown, known, { elsewhere: (name) => takersOf(where, name) });
}

function checkObject(where: string, what: string, v: unknown): asserts v is object {
  if (typeof v !== 'object' || v === null) throw new TypeError(`${where}: ${what} must be an object, got ${describe(v)}`);
}

function checkPositiveInteger(where: string, name: string, v: unknown, max = Number.MAX_SAFE_INTEGER): void {
  if (typeof v !== 'number') throw new TypeError(`${where}: ${name} must be a number, got ${describe(v)}`);
  if (!Number.isInteger(v) || v < 1 || v > max) {
    throw new RangeError(`${where}: ${name} must be an integer in [1, ${max}], got ${v}`);
  }
}

function checkFunction(where: string, name: string, v: unknown): void {
  if (typeof v !== 'function') throw new TypeError(`${where}: ${name} must be a function, got ${describe(v)}`);
}

/**
 * The Pool options as plain data, each read once (resourceLimits, env, argv and execArgv too):
 * checked and used from this copy only, so a getter that answers differently on a second read
 * cannot slip a value past the checks (a stack too small for Node to start a worker ended the
 * process). Unknown names are refused here, on the caller's object.
 */
export function snapshotPoolOptions(options: unknown): PoolOptions | undefined {
  if (options === undefined) return undefined;
  checkObject('Pool', 'options', options);
  rejectUnknownOptions('Pool', options, POOL_OPTIONS);
  const copy: Record<string, unknown> = {};
  for (const key of POOL_OPTIONS.names) {
    const value = (options as Record<string, unknown>)[key];
    if (value !== undefined) copy[key] = value;
  }
  const limits = copy['resourceLimits'];
  if (isPlainishObject(limits)) {
    const unknown = findUnknownOption(limits, RESOURCE_LIMITS);
    if (unknown !== undefined) throw unknownOptionError('Pool', unknown, RESOURCE_LIMITS, { parent: 'resourceLimits' });
    const limitsCopy: Record<string, unknown> = {};
    for (const name of RESOURCE_LIMITS.names) {
      const mb = (limits as Record<string, unknown>)[name];
      if (mb !== undefined) limitsCopy[name] = mb;
    }
    copy['resourceLimits'] = limitsCopy;
  }
  for (const key of ['argv', 'execArgv'] as const) if (isArray(copy[key])) copy[key] = Array.from(copy[key] as unknown[]);
  if (copy['env'] !== SHARE_ENV && isPlainishObject(copy['env'])) copy['env'] = envCopy(copy['env']);
  return copy as PoolOptions;
}

/**
 * options.env with its values made strings as Node's Worker makes them (`${value}`), once, here:
 * every worker gets the same strings, and a value that cannot be one (a symbol, a toString that
 * throws) is a TypeError from the constructor, not a start that fails in every worker (the pool
 * broke with 'workers keep dying'). Only string keys count, as for Node.
 */
function envCopy(env: object): Record<string, string> {
  const copy = Object.create(null) as Record<string, string>; // a key '__proto__' stays a key
  for (const key of Object.keys(env)) {
    const value: unknown = (env as Record<string, unknown>)[key];
    const name = /^[A-Za-z_$][\w$]*$/.test(key) ? `options.env.${key}` : `options.env[${JSON.stringify(key)}]`;
    if (typeof value === 'symbol') throw new TypeError(`Pool: ${name} must be a string (or a value Node makes one), got a symbol`);
    try {
      copy[key] = `${value as string}`;
    } catch (error) {
      throw new TypeError(`Pool: ${name} must be a string (or a value Node makes one), got ${describe(value)} whose conversion to a string threw: ${reasonOf(error)}`, { cause: error });
    }
  }
  return copy;
}

export function checkPoolOptions(options: unknown): asserts options is PoolOptions | undefined {
  if (options === undefined) return;
  checkObject('Pool', 'options', options);
  rejectUnknownOptions('Pool', options, POOL_OPTIONS);
  const o = options as PoolOptions;
  if (o.backend !== undefined && o.backend !== 'auto' && o.backend !== 'native' && o.backend !== 'worker' && o.backend !== 'queue') {
    throw new TypeError(`Pool: options.backend must be 'auto', 'native', 'worker' or 'queue', got ${describe(o.backend)}`);
  }
  checkQueueOptions(o);
  if (o.size !== undefined) checkPositiveInteger('Pool', 'options.size', o.size, MAX_POOL_SIZE);
  if (o.maxQueue !== undefined && o.maxQueue !== Infinity) checkPositiveInteger('Pool', 'options.maxQueue', o.maxQueue);
  if (o.onQueueFull !== undefined && o.onQueueFull !== 'wait' && o.onQueueFull !== 'reject') {
    throw new TypeError(`Pool: options.onQueueFull must be 'wait' or 'reject', got ${describe(o.onQueueFull)}`);
  }
  if (o.initializer !== undefined) {
    if (typeof o.initializer === 'function') {
      throw new TypeError(
        "Pool: options.initializer must be a task() handle, not a function: functions cannot be sent to worker threads; export it from a module and pass task(new URL('./init.js', import.meta.url), 'init')",
      );
    }
    if (typeof o.initializer !== 'object' || o.initializer === null || (o.initializer as { kind?: unknown }).kind !== 'task') {
      throw new TypeError(`Pool: options.initializer must be a task() handle, got ${describe(o.initializer)}`);
    }
  }
  if (o.initArgs !== undefined && !isArray(o.initArgs)) {
    throw new TypeError(`Pool: options.initArgs must be an array, got ${describe(o.initArgs)}`);
  }
  // The initializer is called with them spread, as a task is: more than a call takes overflowed
  // the stack in every worker, which then kept dying.
  if (o.initArgs !== undefined && o.initArgs.length > MAX_ARGS) {
    throw new RangeError(`Pool: options.initArgs has ${o.initArgs.length} elements: a call takes at most ${MAX_ARGS} arguments`);
  }
  if (o.maxTasksPerWorker !== undefined) checkPositiveInteger('Pool', 'options.maxTasksPerWorker', o.maxTasksPerWorker);
  if (o.cancelGrace !== undefined) checkDelay('options.cancelGrace', o.cancelGrace);
  if (o.minSize !== undefined) checkMinSize(o.minSize, o.size);
  if (o.idleTimeout !== undefined) checkDelay('options.idleTimeout', o.idleTimeout);
  if (o.concurrentTasksPerWorker !== undefined) checkPositiveInteger('Pool', 'options.concurrentTasksPerWorker', o.concurrentTasksPerWorker, MAX_CONCURRENT_TASKS);
  if (o.closeTimeout !== undefined) checkDelay('options.closeTimeout', o.closeTimeout);
  checkWorkerControls(o);
}

/** queue, connection and attempts: required (the first two) with backend 'queue', refused without it. */
function checkQueueOptions(o: PoolOptions): void {
  if (o.backend !== 'queue') {
    const given = (['queue', 'connection', 'attempts'] as const).find((name) => o[name] !== undefined);
    if (given !== undefined) throw new TypeError(`Pool: options.${given} applies only to backend 'queue'`);
    return;
  }
  if (typeof o.queue !== 'string' || o.queue.length === 0 || o.queue.includes(':')) {
    throw new TypeError(`Pool: options.queue must be a non-empty queue name without ':' (backend 'queue'), got ${describe(o.queue)}`);
  }
  if (typeof o.connection !== 'string' && !isPlainishObject(o.connection)) {
    throw new TypeError(`Pool: options.connection must be a redis:// URL or ioredis options (backend 'queue'), got ${describe(o.connection)}`);
  }
  if (o.attempts !== undefined) checkPositiveInteger('Pool', 'options.attempts', o.attempts, 1000);
}

/** minSize: an integer in [0, size], or in [0, MAX_POOL_SIZE] when size is not given (size, already checked, then defaults to at least minSize). */
function checkMinSize(v: unknown, size: number | undefined): void {
  if (typeof v !== 'number') throw new TypeError(`Pool: options.minSize must be a number, got ${describe(v)}`);
  const max = size ?? MAX_POOL_SIZE;
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new RangeError(`Pool: options.minSize must be an integer in [0, ${max}]${size === undefined ? '' : ' (options.size)'}, got ${v}`);
  }
}

/** A Pool option that is a number of ms for setTimeout: 0 allowed, and no more than its limit. */
function checkDelay(name: string, v: unknown): void {
  if (typeof v !== 'number') throw new TypeError(`Pool: ${name} must be a number of ms, got ${describe(v)}`);
  if (!(v >= 0 && v <= 2 ** 31 - 1)) throw new RangeError(`Pool: ${name} must be a finite number of ms in [0, 2^31 - 1], got ${v}`);
}

/** The options that the worker backend hands to each `new Worker()`. */
function checkWorkerControls(o: PoolOptions): void {
  if (o.resourceLimits !== undefined) checkResourceLimits(o.resourceLimits);
  if (o.env !== undefined && o.env !== SHARE_ENV && !isPlainishObject(o.env)) {
    throw new TypeError(`Pool: options.env must be an object of environment variables or worker_threads' SHARE_ENV, got ${describe(o.env)}`);
  }
  if (o.argv !== undefined && !isArray(o.argv)) throw new TypeError(`Pool: options.argv must be an array, got ${describe(o.argv)}`);
  if (o.execArgv !== undefined) {
    if (!isArray(o.execArgv)) throw new TypeError(`Pool: options.execArgv must be an array of strings, got ${describe(o.execArgv)}`);
    const i = o.execArgv.findIndex((flag) => typeof flag !== 'string');
    if (i >= 0) throw new TypeError(`Pool: options.execArgv[${i}] must be a string, got ${describe(o.execArgv[i])}`);
  }
  if (o.workerData !== undefined) {
    // Node clones it into each worker as it starts: what cannot be cloned must fail here, at
    // the constructor, not when the first worker starts from an event handler.
    try {
      structuredClone(o.workerData);
    } catch (error) {
      throw new TypeError(`Pool: options.workerData cannot be sent to a worker: ${reasonOf(error)}`, { cause: error });
    }
  }
  if (o.name !== undefined && typeof o.name !== 'string') throw new TypeError(`Pool: options.name must be a string, got ${describe(o.name)}`);
}

function checkResourceLimits(limits: unknown): void {
  if (!isPlainishObject(limits)) {
    throw new TypeError(`Pool: options.resourceLimits must be an object such as { maxOldGenerationSizeMb: 512 }, got ${describe(limits)}`);
  }
  const unknown = findUnknownOption(limits, RESOURCE_LIMITS);
  if (unknown !== undefined) throw unknownOptionError('Pool', unknown, RESOURCE_LIMITS, { parent: 'resourceLimits' });
  for (const name of RESOURCE_LIMITS.names) {
    const mb = (limits as Record<string, unknown>)[name];
    if (mb === undefined) continue;
    if (typeof mb !== 'number') throw new TypeError(`Pool: options.resourceLimits.${name} must be a number of MB, got ${describe(mb)}`);
    if (!(mb > 0 && mb < Infinity)) throw new RangeError(`Pool: options.resourceLimits.${name} must be a finite number of MB > 0, got ${mb}`);
    if (name === 'stackSizeMb' && mb < MIN_STACK_MB) {
      throw new RangeError(`Pool: options.resourceLimits.stackSizeMb must be at least ${MIN_STACK_MB} (MB), got ${mb}: a smaller stack cannot start a worker, and Node ends the whole process when it tries`);
    }
  }
}

/**
 * The smallest worker stack a pool takes. Node 20 exits the whole process (code 6, "Maximum
 * call stack size exceeded" in its worker bootstrap) for 0.2 MB or less, with no 'error' for
 * anyone to catch; 0.5 started spindle's workers on Node 18, 20, 22 and 24. 1 MB leaves room.
 */
const MIN_STACK_MB = 1;

/** An object that is not an array (nor null): what an options-like map of names can be. */
function isPlainishObject(v: unknown): v is object {
  return typeof v === 'object' && v !== null && !isArray(v);
}

/** The options that only the worker backend can honour. */
const WORKER_ONLY_OPTIONS = [
  'initializer', 'initArgs', 'maxTasksPerWorker', 'cancelGrace', 'minSize', 'idleTimeout', 'concurrentTasksPerWorker', 'resourceLimits', 'env', 'argv',
  'execArgv', 'workerData', 'name',
] as const satisfies readonly (keyof PoolOptions)[];

/** The worker-only options that are set, by name. */
export function workerOnlyOptions(o: PoolOptions | undefined): string[] {
  if (o === undefined) return [];
  return WORKER_ONLY_OPTIONS.filter((name) => o[name] !== undefined);
}

/**
 * The runnable a call uses for `task`: a kernel or a task() handle the pool's backend can run.
 *
 * A kernel is this copy's own kernel of that name, never the object passed: the mark that says
 * "made by spindle" is keyed with Symbol.for (so the ESM and CommonJS builds loaded together
 * accept each other's kernels), and anyone can write it. A marked copy of kernels.sort with
 * its own validate() skipped every argument check, and a native sort of a buffer it then
 * transferred away crashed the process. Only its name is read now.
 */
export function runnableOf(method: string, task: unknown, backend: 'native' | 'worker' | 'queue'): Runnable {
  const kind = typeof task === 'object' && task !== null ? (task as { kind?: unknown }).kind : undefined;
  if (kind !== 'kernel' && kind !== 'task') {
    throw new TypeError(`${method}: task must be a kernel such as kernels.noop or a task() handle, got ${describe(task)}`);
  }
  if (!isGenuine(task as object)) {
    throw new TypeError(
      `${method}: task looks like a ${kind === 'kernel' ? 'kernel' : 'task() handle'} but was not made by spindle (a copy or a hand-made object): pass ${kind === 'kernel' ? 'one of kernels.*' : 'what task(module, exportName) returned'} itself`,
    );
  }
  if (kind === 'kernel') {
    const name = (task as { name?: unknown }).name;
    const own = typeof name === 'string' && Object.hasOwn(kernels, name) ? (kernels as Record<string, Runnable>)[name] : undefined;
    if (own === undefined) throw new TypeError(`${method}: task names no kernel of this spindle (${describe(name)}): pass one of kernels.*`);
    return own;
  }
  if (backend === 'native') {
    throw new TypeError(
      `${method}: ${(task as JsTask).name} is a JavaScript task, and JavaScript tasks run only on the worker backend: create the pool with { backend: 'worker' }`,
    );
  }
  return task as JsTask;
}

/** apply/applyAsync/submit's `transfer`: an array of transferable objects. */
export function checkTransfer(method: string, o: ApplyOptions | undefined): void {
  if (o?.transfer === undefined) return;
  if (!isArray(o.transfer)) throw new TypeError(`${method}: options.transfer must be an array, got ${describe(o.transfer)}`);
  for (let i = 0; i < o.transfer.length; i++) {
    const item: unknown = o.transfer[i];
    if (!(item instanceof ArrayBuffer) && !(item instanceof MessagePort)) {
      const hint = item instanceof SharedArrayBuffer ? ' (a SharedArrayBuffer is shared, never transferred: leave it out)' : '';
      throw new TypeError(`${method}: options.transfer[${i}] must be an ArrayBuffer or a MessagePort, got ${describe(item)}${hint}`);
    }
    // Checked here, on every backend: the native one ignores `transfer`, and the worker backend
    // finds it only when it posts the task (where it still looks, for one detached since).
    if (item instanceof ArrayBuffer && isDetached(item)) {
      throw new TypeError(`${method}: options.transfer[${i}] is a detached ArrayBuffer (it was transferred away before the call)`);
    }
  }
}

/** A call's common options; `backend` is the pool's, which decides whether `attempts` applies. */
export function checkCallOptions(method: string, options: unknown, backend: string): asserts options is CallOptions | undefined {
  if (options === undefined) return;
  checkObject(method, 'options', options);
  const o = options as CallOptions;
  if (o.signal !== undefined && !isAbortSignal(o.signal)) {
    throw new TypeError(`${method}: options.signal must be an AbortSignal, got ${describe(o.signal)}`);
  }
  if (o.timeout !== undefined) {
    if (typeof o.timeout !== 'number') throw new TypeError(`${method}: options.timeout must be a number of ms, got ${describe(o.timeout)}`);
    // setTimeout's own limit: larger delays silently fire after 1 ms.
    if (!(o.timeout > 0 && o.timeout <= 2 ** 31 - 1)) {
      throw new RangeError(`${method}: options.timeout must be a finite number of ms in (0, 2^31 - 1], got ${o.timeout}`);
    }
  }
  if (o.progress !== undefined && !(o.progress instanceof SharedCounter)) {
    throw new TypeError(`${method}: options.progress must be a SharedCounter, got ${describe(o.progress)}`);
  }
  if (o.attempts !== undefined) {
    // The queue backend's alone: no other backend ever runs a task twice.
    if (backend !== 'queue') throw new TypeError(`${method}: options.attempts applies only to the queue backend, and this pool's backend is '${backend}'`);
    checkPositiveInteger(method, 'options.attempts', o.attempts, 1000);
  }
}

export function checkCallbackOptions(method: string, o: CallbackOptions<any> | undefined): void {
  if (o === undefined) return;
  if (o.callback !== undefined) checkFunction(method, 'options.callback', o.callback);
  if (o.errorCallback !== undefined) checkFunction(method, 'options.errorCallback', o.errorCallback);
}

export function checkChunkOptions(method: string, o: ImapOptions | undefined): void {
  if (o === undefined) return;
  if (o.chunkSize !== undefined) checkPositiveInteger(method, 'options.chunkSize', o.chunkSize);
  if (o.window !== undefined) checkPositiveInteger(method, 'options.window', o.window);
}

/** AsyncResult.get/wait's own timeout: 0 is allowed (poll). */
export function checkWaitTimeout(method: string, ms: unknown): void {
  if (typeof ms !== 'number') throw new TypeError(`${method}: timeoutMs must be a number, got ${describe(ms)}`);
  if (!(ms >= 0 && ms <= 2 ** 31 - 1)) throw new RangeError(`${method}: timeoutMs must be a finite number of ms in [0, 2^31 - 1], got ${ms}`);
}

/**
 * The call's options read once, into a plain object the pool owns, before anything is checked
 * or accepted. A getter runs exactly once, so one that answers differently the second time
 * cannot turn a checked, accepted call into one that throws (and orphans its promise) later.
 * An option `method` does not take is a TypeError (see ./option-names.ts for what counts).
 */
export function snapshotCallOptions<O extends object>(method: string, options: O | undefined): O | undefined {
  if (options === undefined) return undefined;
  checkObject(method, 'options', options);
  const known = CALL_OPTIONS.get(method) ?? ANY_CALL_OPTIONS;
  rejectUnknownOptions(method, options, known);
  const copy: Record<string, unknown> = {};
  for (const key of known.names) {
    const value = (options as Record<string, unknown>)[key];
    if (value !== undefined) copy[key] = key === 'progress' ? unproxiedCounter(value) : value;
  }
  return copy as O;
}
