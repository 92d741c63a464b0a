// Starting a worker: the entry module, the Node options it inherits or is given, what it gets
// as workerData, and the initializer's arguments as every worker of a pool gets them. Kept
// apart from the scheduling in worker.ts.

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Readable } from 'node:stream';
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

// ---- TypeScript loaders ------------------------------------------------------------------------
//
// A task module in TypeScript loads in a worker when the parent's TypeScript loader reaches the
// worker. Node's own type stripping (--experimental-strip-types, the default from Node 23.6)
// and --loader hooks (`node --loader ts-node/esm`) reach it through the inherited options, as
// do --import preloads that register their hooks in every thread (ts-node's register() line).
// tsx does not, on most Nodes: its preload (`tsx main.ts` adds `--import <tsx>/dist/loader.mjs`;
// also `node --import tsx`, or the same in NODE_OPTIONS) runs again in each worker, but registers
// tsx's ES module hooks (module.register(), whose hooks never reach another thread) only on the
// main thread, except on the newest Nodes (22.22.3, 24.11.1, 25.1 and later). Its require() hook
// is there, so a worker's import() of a .ts file alone fails: "Unknown file extension .ts". So
// the workers of a parent run under tsx get one more preload, which registers tsx's hooks through
// its own API (tsx/esm/api). Where tsx's preload registered them already, that second
// registration is redundant and harmless (the same module, the same stack positions).

/** The `--import` specifiers among Node options: execArgv's, or NODE_OPTIONS' (split at spaces, as tsx and Node read it). */
export function importSpecifiers(execArgv: readonly string[], nodeOptions = ''): string[] {
  const found: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i]!;
    if (arg === '--import' && i + 1 < execArgv.length) found.push(execArgv[++i]!);
    else if (arg.startsWith('--import=')) found.push(arg.slice('--import='.length));
  }
  for (const match of nodeOptions.matchAll(/(?:^|\s)--import(?:=|\s+)(\S+)/g)) found.push(match[1]!);
  return found;
}

/**
 * The file URL of tsx's ES module API (its package's "./esm/api" export, import condition) when
 * the preload `specifier` is tsx's, else undefined. A bare 'tsx' or 'tsx/...' is resolved from
 * `cwd`, as Node resolves --import; a path or file URL is tsx's when tsx's package holds it.
 */
function tsxApiOf(specifier: string, cwd: string): string | undefined {
  try {
    let file: string;
    if (specifier === 'tsx' || specifier.startsWith('tsx/')) file = createRequire(join(cwd, 'noop.js')).resolve('tsx/package.json');
    else if (specifier.startsWith('file:')) file = fileURLToPath(specifier);
    else if (isAbsolute(specifier) || specifier.startsWith('.')) file = resolve(cwd, specifier);
    else return undefined;
    // The nearest package.json above the file is its package's.
    let dir = dirname(file);
    while (!existsSync(join(dir, 'package.json'))) {
      if (dirname(dir) === dir) return undefined;
      dir = dirname(dir);
    }
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; exports?: Record<string, unknown> };
    if (manifest.name !== 'tsx') return undefined;
    let target = manifest.exports?.['./esm/api'];
    if (typeof target === 'object' && target !== null) target = (target as { import?: unknown }).import;
    if (typeof target === 'object' && target !== null) target = (target as { default?: unknown }).default;
    if (typeof target !== 'string' || !existsSync(join(dir, target))) return undefined;
    return pathToFileURL(join(dir, target)).href;
  } catch {
    // Not resolvable, not readable: not a tsx we can help.
    return undefined;
  }
}

/**
 * The options a worker needs, after `execArgv`, for the TypeScript loader of a parent run under
 * tsx (see above): `['--import', <a data: URL that registers tsx's hooks>]`, or none.
 */
export function typeScriptPreload(execArgv: readonly string[], nodeOptions = process.env.NODE_OPTIONS, cwd = process.cwd()): string[] {
  for (const specifier of importSpecifiers(execArgv, nodeOptions)) {
    const api = tsxApiOf(specifier, cwd);
    if (api !== undefined) return ['--import', `data:text/javascript,${encodeURIComponent(`import { register } from ${JSON.stringify(api)}; register();`)}`];
  }
  return [];
}

/**
 * The execArgv option for new workers that are given none: undefined (inherit, as Node does by
 * default, silently dropping per-process flags such as --expose-gc) unless the parent's options
 * had to be cleaned or a TypeScript loader needs a preload. That list, passed explicitly, is
 * validated by Node, which refuses per-process flags, so those named in its refusal are dropped
 * and the start retried.
 */
let execArgvForWorkers: string[] | undefined | null = null;

/**
 * Per-process V8 flags, by the Node option that sets them: Node refuses the V8 flag for a
 * worker (node --experimental-shadow-realm -e ...: "invalid execArgv flags:
 * --harmony-shadow-realm"), which did not name anything in the list, so every start failed.
 */
const IMPLYING_OPTION: Record<string, string> = { '--harmony-shadow-realm': '--experimental-shadow-realm' };

/**
 * Starts a worker of the entry module. `options` are the pool's controlOptions(): an execArgv
 * there is the user's and is used as it is, never cleaned (Node refusing it is the caller's
 * error), only followed by what a TypeScript loader in it needs (typeScriptPreload()); without
 * one the worker inherits the parent's options, cleaned (workerExecArgv()), and so followed.
 */
export function startWorker(entry: URL, envelope: WorkerEnvelope, ports: MessagePort[], options: WorkerOptions): Worker {
  if (options.execArgv !== undefined) {
    const execArgv = [...options.execArgv, ...typeScriptPreload(options.execArgv)];
    return new Worker(entry, { ...options, execArgv, workerData: envelope, transferList: ports });
  }
  if (execArgvForWorkers === null) {
    const cleaned = workerExecArgv();
    const preload = typeScriptPreload(process.execArgv);
    execArgvForWorkers = cleaned.length === process.execArgv.length && preload.length === 0 ? undefined : [...cleaned, ...preload];
  }
  for (;;) {
    const execArgv: string[] | undefined = execArgvForWorkers;
    try {
      return new Worker(entry, { ...options, workerData: envelope, transferList: ports, execArgv });
    } catch (error) {
      const refused = (error as { code?: string }).code === 'ERR_WORKER_INVALID_EXEC_ARGV' ? /flags: (.*)$/.exec((error as Error).message) : null;
      if (refused === null || execArgv === undefined) throw error;
      const names = new Set(refused[1]!.split(', ').map((flag) => flag.split('=')[0]!));
      // A V8 flag that a Node option implies is refused under the V8 flag's name: drop the option.
      for (const name of [...names]) {
        const option = Object.hasOwn(IMPLYING_OPTION, name) ? IMPLYING_OPTION[name] : undefined;
        if (option !== undefined) names.add(option);
      }
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

// Node pipes each worker's stdout and stderr into the process's own. When the process's stream
// fails (EPIPE from a closed pipe, ENOSPC from /dev/full, both with an 'error' listener there) or
// is destroyed, Node unpipes the worker's and leaves it paused: it is never read again, so the
// worker's writes are never acknowledged, and every task that writes then waits the full second
// for its output (worker-entry.ts, settleAfterOutput). Such a stream is set flowing again: its
// output is dropped, as the process's own is from then on. One listener per process stream,
// whichever streams process.stdout and process.stderr are when a worker starts (an application
// may replace them).
const workerStdio = new WeakSet<Readable>();
const watchedProcessStreams = new WeakSet<object>();

const resumeWorkerStream = (source: Readable): void => {
  if (workerStdio.has(source) && !source.readableEnded) source.resume();
};

/** Keeps `worker`'s stdout and stderr read when the process's streams unpipe them. */
export function keepOutputFlowing(worker: Worker): void {
  workerStdio.add(worker.stdout);
  workerStdio.add(worker.stderr);
  for (const stream of [process.stdout, process.stderr]) {
    if (watchedProcessStreams.has(stream)) continue;
    watchedProcessStreams.add(stream);
    stream.on('unpipe', resumeWorkerStream);
  }
}
