// Users' own JavaScript tasks: `task(module, exportName)` names a function that worker threads
// import and call. Functions themselves never travel (they cannot cross threads with their
// closures); each worker imports the module once and keeps it.

import { markGenuine } from './internal/genuine.js';
import type { TransferListItem } from 'node:worker_threads';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, isArray } from './kernels/args.js';
import type { JsTask } from './kernels/types.js';

/** What a running JS task can see of its call: `this` inside the task function, or `taskContext()`. */
export interface TaskContext {
  /**
   * Aborts when the call is aborted, times out, or the pool terminates. Async tasks can listen
   * for 'abort'; synchronous loops can read `signal.aborted`, which checks for a cancellation
   * each time it is read. A task that ignores it is stopped by terminating its worker after
   * the pool's `cancelGrace`.
   */
  readonly signal: AbortSignal;
  /** True once the call was cancelled: the cheap check for tight loops. */
  cancelled(): boolean;
  /**
   * Adds units of work done to the call's `progress` counter, if it has one. `units` is a safe
   * integer or a bigint (a TypeError or RangeError otherwise, counter or not).
   */
  progress(units: number | bigint): void;
}

const contextKey = Symbol.for('spindle.worker.taskContext');
const transferKey = Symbol.for('spindle.worker.transfer');

/** The schemes Node's default ESM loader imports; a string starting with none of them is a path. */
const LOADABLE = /^(file|data|node):/i; // a scheme is case-insensitive: 'FILE:///x.mjs' is a file: URL
/**
 * A string that is plainly a URL of another scheme ('https://host/tasks.js'). Taken as a path,
 * it would resolve to a file named after the host under the current directory, and fail only when
 * a call ran. Two letters at least, so a Windows drive letter ('C://dir') stays a path.
 */
const OTHER_URL = /^([a-z][a-z0-9+.-]+:)\/\//i;

/**
 * Names an exported function as a task for a worker pool. `module` is a file URL or a path
 * (a relative path is resolved against the current directory now), or a data: or node: URL; ESM and CommonJS modules
 * both work, and the function may be async. The module is imported in each worker on first
 * use: a missing module or export rejects the call with an error naming it.
 *
 * `F` types the handle: `task<typeof import('./tasks.js').resize>(url, 'resize')`.
 */
export function task<F extends (...args: any[]) => unknown>(module: string | URL, exportName = 'default'): JsTask<Parameters<F>, Awaited<ReturnType<F>>> {
  let href: string;
  if (module instanceof URL) {
    // What a worker's import() loads: a URL of another scheme would fail only when a call ran.
    if (!LOADABLE.test(module.protocol)) {
      throw new TypeError(`task: module must be a file: URL (or a data: or node: one) or a path, got ${module.protocol} URL ${module.href}`);
    }
    href = module.href;
  } else if (typeof module === 'string') {
    if (module.length === 0) throw new TypeError('task: module must not be empty');
    if (LOADABLE.test(module)) {
      // The scheme lowercased, as URL does, so that the runtime reads a file: URL whatever its case.
      href = module.replace(LOADABLE, (scheme) => scheme.toLowerCase());
    } else {
      const scheme = OTHER_URL.exec(module)?.[1];
      if (scheme !== undefined) {
        throw new TypeError(`task: module must be a file: URL (or a data: or node: one) or a path, got ${scheme.toLowerCase()} URL ${module}`);
      }
      href = pathToFileURL(isAbsolute(module) ? module : resolve(module)).href;
    }
  } else {
    throw new TypeError(`task: module must be a URL or a path string, got ${describe(module)}`);
  }
  if (typeof exportName !== 'string' || exportName.length === 0) {
    throw new TypeError(`task: exportName must be a non-empty string, got ${describe(exportName)}`);
  }
  const name = `${exportName} from ${href}`;
  const handle = markGenuine({
    kind: 'task' as const,
    name,
    module: href,
    exportName,
    validate(args: readonly unknown[]): unknown[] {
      // The arguments' contents are checked by structured clone when they are sent.
      return args as unknown[];
    },
  });
  return Object.freeze(handle);
}

/**
 * Inside a JS task running on a worker: the context of the call being run (the same object
 * the task function gets as `this`, for arrow functions and helpers). Throws elsewhere.
 */
export function taskContext(): TaskContext {
  const context = (globalThis as { [contextKey]?: TaskContext })[contextKey];
  if (context === undefined) throw new Error('taskContext() is only available inside a task running on a spindle worker');
  return context;
}

/** A task's result paired with the ArrayBuffers to move (not copy) back to the pool's thread. */
export interface TransferredResult<T> {
  readonly [transferKey]: true;
  readonly value: T;
  readonly transferList: readonly TransferListItem[];
}

/**
 * Return `withTransfer(value, [buffer])` from a JS task to move `buffer` (which `value`
 * contains) to the caller instead of copying it. The caller receives `value`.
 */
export function withTransfer<T>(value: T, transferList: readonly TransferListItem[]): T {
  if (!isArray(transferList)) throw new TypeError(`withTransfer: transferList must be an array, got ${describe(transferList)}`);
  const wrapped: TransferredResult<T> = { [transferKey]: true, value, transferList };
  // Typed as T so that a task's declared result type stays what the caller receives.
  return wrapped as unknown as T;
}

/** @internal Used by the worker runtime. */
export const taskRuntimeKeys = { contextKey, transferKey } as const;
