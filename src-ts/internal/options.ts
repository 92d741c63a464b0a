// Option types and their checks. Every check throws a TypeError (wrong kind of value) or a
// RangeError (right kind, bad value) whose message names the method and the option, so that a
// mistake fails at the call, before anything is queued.
//
// The checks only read: callers use the caller's own options object afterwards, so no
// per-call copy of the options is made on the hot path.

import { isGenuine } from './genuine.js';
import type { TransferListItem } from 'node:worker_threads';
import { describe } from '../kernels/args.js';
import type { JsTask, Runnable } from '../kernels/types.js';
import { MessagePort } from 'node:worker_threads';
import { SharedCounter } from '../shared/counter.js';

export const MAX_POOL_SIZE = 1024;

export interface PoolOptions {
  /** 'auto' (default): native when the addon loads, else worker. */
  backend?: 'auto' | 'native' | 'worker';
  /** Threads or workers, an integer in [1, 1024]. Default: os.availableParallelism(). */
  size?: number;
  /** Accepted tasks the pool holds before dispatching them: an integer >= 1 or Infinity. Default 1024. */
  maxQueue?: number;
  /** When the queue is full: 'wait' (default) for room, or 'reject' with a QueueFullError. */
  onQueueFull?: 'wait' | 'reject';
  /**
   * Worker backend only: a `task()` handle run once in each worker before its first task
   * (awaited when async). If it throws, the worker is not used and a new one is tried.
   */
  initializer?: JsTask<any, any>;
  /** Worker backend only: the initializer's arguments. */
  initArgs?: readonly unknown[];
  /** Worker backend only: replace a worker after it ran this many tasks (an integer >= 1). */
  maxTasksPerWorker?: number;
  /**
   * Worker backend only: ms an aborted or timed-out task still running in a worker gets to stop
   * on its own (by checking its signal) before the worker is terminated and replaced. Default
   * 1000; 0 terminates at once.
   */
  cancelGrace?: number;
}

/** Options every task-submitting method takes. */
export interface CallOptions {
  /** Aborting it cancels the call: it rejects with an AbortError whose `cause` is the signal's reason. */
  signal?: AbortSignal;
  /** Milliseconds from the call until it rejects with a TimeoutError and its work is cancelled. */
  timeout?: number;
  /** Kernels add the units of work they finish to this counter. */
  progress?: SharedCounter;
}

export interface CallbackOptions<R> {
  /** Runs on the pool's thread with the result, before get() resolves. */
  callback?: (result: R) => void;
  /** Runs on the pool's thread with the error, before get() rejects. */
  errorCallback?: (error: unknown) => void;
}

/** apply, applyAsync and submit: one call, whose arguments may be moved rather than copied. */
export interface ApplyOptions extends CallOptions {
  /**
   * Worker backend: ArrayBuffers (or MessagePorts) among the arguments to transfer to the
   * worker instead of copying; they are detached here once the task is dispatched. The native
   * backend reads arguments in place and ignores this.
   */
  transfer?: readonly TransferListItem[];
}

export interface AsyncCallOptions<R> extends ApplyOptions, CallbackOptions<R> {}

export interface MapOptions extends CallOptions {
  /** Items per dispatch. Default: ceil(n / (4 * size)), as Python's Pool.map. */
  chunkSize?: number;
}

export interface MapAsyncOptions<R> extends MapOptions, CallbackOptions<R> {}

export interface ImapOptions extends CallOptions {
  /** Items per dispatch. Default 1. */
  chunkSize?: number;
  /** Chunks in flight or finished and not yet read, at most. Default max(4, 2 * size). */
  window?: number;
}

function checkObject(where: string, what: string, v: unknown): void {
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

export function checkPoolOptions(options: unknown): asserts options is PoolOptions | undefined {
  if (options === undefined) return;
  checkObject('Pool', 'options', options);
  const o = options as PoolOptions;
  if (o.backend !== undefined && o.backend !== 'auto' && o.backend !== 'native' && o.backend !== 'worker') {
    throw new TypeError(`Pool: options.backend must be 'auto', 'native' or 'worker', got ${describe(o.backend)}`);
  }
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
  if (o.initArgs !== undefined && !Array.isArray(o.initArgs)) {
    throw new TypeError(`Pool: options.initArgs must be an array, got ${describe(o.initArgs)}`);
  }
  if (o.maxTasksPerWorker !== undefined) checkPositiveInteger('Pool', 'options.maxTasksPerWorker', o.maxTasksPerWorker);
  if (o.cancelGrace !== undefined) {
    if (typeof o.cancelGrace !== 'number') throw new TypeError(`Pool: options.cancelGrace must be a number of ms, got ${describe(o.cancelGrace)}`);
    if (!(o.cancelGrace >= 0 && o.cancelGrace <= 2 ** 31 - 1)) {
      throw new RangeError(`Pool: options.cancelGrace must be a finite number of ms in [0, 2^31 - 1], got ${o.cancelGrace}`);
    }
  }
}

/** The worker-only options that are set, by name. */
export function workerOnlyOptions(o: PoolOptions | undefined): string[] {
  if (o === undefined) return [];
  return (['initializer', 'initArgs', 'maxTasksPerWorker', 'cancelGrace'] as const).filter((name) => o[name] !== undefined);
}

/** A kernel or a task() handle, and one the pool's backend can run. */
export function checkTask(method: string, task: unknown, backend: 'native' | 'worker'): asserts task is Runnable {
  const kind = typeof task === 'object' && task !== null ? (task as { kind?: unknown }).kind : undefined;
  if (kind !== 'kernel' && kind !== 'task') {
    throw new TypeError(`${method}: task must be a kernel such as kernels.noop or a task() handle, got ${describe(task)}`);
  }
  if (!isGenuine(task as object)) {
    throw new TypeError(
      `${method}: task looks like a ${kind === 'kernel' ? 'kernel' : 'task() handle'} but was not made by spindle (a copy or a hand-made object): pass ${kind === 'kernel' ? 'one of kernels.*' : 'what task(module, exportName) returned'} itself`,
    );
  }
  if (kind === 'task' && backend !== 'worker') {
    throw new TypeError(
      `${method}: ${(task as JsTask).name} is a JavaScript task, and JavaScript tasks run only on the worker backend: create the pool with { backend: 'worker' }`,
    );
  }
}

/** apply/applyAsync/submit's `transfer`: an array of transferable objects. */
export function checkTransfer(method: string, o: ApplyOptions | undefined): void {
  if (o?.transfer === undefined) return;
  if (!Array.isArray(o.transfer)) throw new TypeError(`${method}: options.transfer must be an array, got ${describe(o.transfer)}`);
  for (let i = 0; i < o.transfer.length; i++) {
    const item: unknown = o.transfer[i];
    if (!(item instanceof ArrayBuffer) && !(item instanceof MessagePort)) {
      const hint = item instanceof SharedArrayBuffer ? ' (a SharedArrayBuffer is shared, never transferred: leave it out)' : '';
      throw new TypeError(`${method}: options.transfer[${i}] must be an ArrayBuffer or a MessagePort, got ${describe(item)}${hint}`);
    }
  }
}

export function checkCallOptions(method: string, options: unknown): asserts options is CallOptions | undefined {
  if (options === undefined) return;
  checkObject(method, 'options', options);
  const o = options as CallOptions;
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) {
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

/** Every option a call reads; snapshotCallOptions() copies exactly these. */
const CALL_OPTION_KEYS = ['signal', 'timeout', 'progress', 'transfer', 'callback', 'errorCallback', 'chunkSize', 'window'] as const;

/**
 * The call's options read once, into a plain object the pool owns, before anything is checked
 * or accepted. A getter runs exactly once, so one that answers differently the second time
 * cannot turn a checked, accepted call into one that throws (and orphans its promise) later.
 */
export function snapshotCallOptions<O extends object>(method: string, options: O | undefined): O | undefined {
  if (options === undefined) return undefined;
  checkObject(method, 'options', options);
  const copy: Record<string, unknown> = {};
  for (const key of CALL_OPTION_KEYS) {
    const value = (options as Record<string, unknown>)[key];
    if (value !== undefined) copy[key] = value;
  }
  return copy as O;
}
