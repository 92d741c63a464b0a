// Starting a worker: the entry module, the Node options it inherits or is given, what it gets
// as workerData, and the initializer's arguments as every worker of a pool gets them. Kept
// apart from the scheduling in worker.ts.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker, type MessagePort, type ResourceLimits, type SHARE_ENV, type WorkerOptions } from 'node:worker_threads';
import { packageRoot } from './addon.js';
import { encodeValue, reasonOf, type WorkerSetup } from './worker-protocol.js';

/**
 * The `new Worker` options a pool's user may set (WorkerBackendOptions), passed as they are to
 * every worker of the pool: Node validates them (and the Pool checked them before).
 */
export interface WorkerControls {
  resourceLimits?: ResourceLimits | undefined;
  /** An object (copied into each worker's process.env) or worker_threads' SHARE_ENV. */
  env?: Readonly<NodeJS.Dict<string>> | typeof SHARE_ENV | undefined;
  argv?: readonly unknown[] | undefined;
  /** Replaces the options workers would inherit (workerExecArgv()) entirely. */
  execArgv?: readonly string[] | undefined;
  name?: string | undefined;
}

/**
 * What a worker is started with as worker_threads' workerData: spindle's private setup, and the
 * user's own value (snapshotWorkerData()). worker-entry.ts takes the setup out and makes
 * `userData` the worker's workerData before any user module loads, so no task or initializer
 * ever sees the setup.
 */
export interface WorkerEnvelope {
  setup: WorkerSetup;
  userData: unknown;
}

/**
 * The options every `new Worker` of a pool gets from its controls: copies, taken when the pool is
 * made, so the caller changing its objects later changes no worker. Only options that are set
 * appear (Node's defaults apply to the others).
 */
export function controlOptions(controls: WorkerControls): WorkerOptions {
  const options: WorkerOptions = {};
  if (controls.resourceLimits !== undefined) options.resourceLimits = { ...controls.resourceLimits };
  if (typeof controls.env === 'symbol') options.env = controls.env;
  else if (controls.env !== undefined) options.env = { ...controls.env };
  if (controls.argv !== undefined) options.argv = [...controls.argv];
  if (controls.execArgv !== undefined) options.execArgv = [...controls.execArgv];
  if (controls.name !== undefined) options.name = controls.name;
  return options;
}

/**
 * The parent's Node options, minus those about the parent's own entry point: a worker started
 * from `node --input-type=module -e ...` would otherwise refuse to start (--input-type applies
 * only to string input) or run the -e script again.
 */
export function workerExecArgv(execArgv: readonly string[] = process.execArgv): string[] {
  const kept: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i]!;
    const name = arg.split('=')[0]!;
    if (!DROPPED_OPTIONS.has(name)) kept.push(arg);
    else if (name === arg && OPTIONS_WITH_VALUE.has(name)) i++; // and its value
  }
  return kept;
}

/** Options about the parent's own entry point; the ones in OPTIONS_WITH_VALUE may take the next argument as their value. */
const DROPPED_OPTIONS = new Set(['-e', '--eval', '-p', '--print', '--input-type', '-i', '--interactive']);
const OPTIONS_WITH_VALUE = new Set(['-e', '--eval', '-p', '--print', '--input-type']);

/**
 * The execArgv option for new workers that are given none: undefined (inherit, as Node does by
 * default, silently dropping per-process flags such as --expose-gc) unless the parent's options
 * had to be cleaned. The cleaned list, passed explicitly, is validated by Node, which refuses
 * per-process flags, so those named in its refusal are dropped and the start retried.
 */
let execArgvForWorkers: string[] | undefined | null = null;

/**
 * Starts a worker of the entry module. `options` are the pool's controlOptions(): an execArgv
 * there is the user's and is used as it is, never cleaned (Node refusing it is the caller's
 * error); without one the worker inherits the parent's options, cleaned (workerExecArgv()).
 */
export function startWorker(entry: URL, envelope: WorkerEnvelope, ports: MessagePort[], options: WorkerOptions): Worker {
  if (options.execArgv !== undefined) return new Worker(entry, { ...options, workerData: envelope, transferList: ports });
  if (execArgvForWorkers === null) {
    const cleaned = workerExecArgv();
    execArgvForWorkers = cleaned.length === process.execArgv.length ? undefined : cleaned;
  }
  for (;;) {
    const execArgv: string[] | undefined = execArgvForWorkers;
    try {
      return new Worker(entry, { ...options, workerData: envelope, transferList: ports, execArgv });
    } catch (error) {
      const refused = (error as { code?: string }).code === 'ERR_WORKER_INVALID_EXEC_ARGV' ? /flags: (.*)$/.exec((error as Error).message) : null;
      if (refused === null || execArgv === undefined) throw error;
      const names = new Set(refused[1]!.split(', ').map((flag) => flag.split('=')[0]));
      const kept: string[] = execArgv.filter((arg) => !names.has(arg.split('=')[0]!));
      if (kept.length === execArgv.length) throw error;
      execArgvForWorkers = kept;
    }
  }
}

/** The built worker runtime; throws when the package was not built. */
export function workerEntry(): URL {
  const path = join(packageRoot(), 'dist', 'worker.js');
  if (!existsSync(path)) throw new Error(`spindle's worker runtime ${path} is missing: build the package (npm run build:ts)`);
  return pathToFileURL(path);
}

/**
 * initArgs encoded and cloned once, when the pool is made: workers start later too (after a
 * crash, when recycled), and by then the caller may have transferred a buffer away or revoked a
 * Proxy, which must not fail a worker's start from an event handler. What cannot be sent at all
 * is a TypeError from the constructor, naming the argument.
 */
export function snapshotInitArgs(args: readonly unknown[]): unknown[] {
  const snapshot: unknown[] = [];
  let i = 0;
  try {
    for (; i < args.length; i++) snapshot.push(structuredClone(encodeValue(args[i])));
  } catch (error) {
    throw new TypeError(`Pool: options.initArgs[${i}] cannot be sent to a worker: ${reasonOf(error)}`, { cause: error });
  }
  return snapshot;
}

/**
 * The user's workerData as every worker of the pool gets it: encoded (a SharedCounter, SharedValue
 * or Lock given as workerData itself arrives live, as a task argument does) and cloned once, when
 * the pool is made, for the reasons snapshotInitArgs() gives. What cannot be cloned is a
 * TypeError from the constructor; nothing is transferred (a worker that starts later could not
 * get what an earlier one took).
 */
export function snapshotWorkerData(value: unknown): unknown {
  if (value === undefined) return undefined;
  try {
    return structuredClone(encodeValue(value));
  } catch (error) {
    throw new TypeError(`Pool: options.workerData cannot be sent to a worker: ${reasonOf(error)}`, { cause: error });
  }
}
