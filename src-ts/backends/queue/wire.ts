// What a job holds and returns: the contract between a queue pool (the client) and
// `spindle serve`. Version 1.
//
//   job.data         { v: 1, task: string, batch: boolean, calls: Encoded[][], progress?: true }
//   job.returnvalue  { r: Encoded, ms?: number } (a batch's r encodes the array of its results;
//                    ms: how long the server's pool took to run it, for the client's stats())
//   job.failedReason JSON of { spindle: 1, name, message, stack?, errno?, code?, syscall?,
//                    path?, ms? } when a spindle server failed it (a system error's fields as
//                    Node's fs errors carry them; ms: as in returnvalue, when the task ran);
//                    any other text came from BullMQ itself (a stalled job, say)
//
// Tasks are named so that both sides agree without sharing paths: 'kernel:countPrimes' for a
// built-in kernel, 'task:tasks.js#resize' for the export `resize` of a task module whose file
// is named tasks.js (the server registers each of its --tasks modules under its file name).

import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Runnable } from '../../kernels/types.js';
import { decode, encode, type Encoded } from './codec.js';

export const WIRE_VERSION = 1;

export interface JobData {
  v: 1;
  task: string;
  batch: boolean;
  calls: Encoded[][];
  progress?: true;
}

/** The name a client sends for `kernel` and a server registers it under. */
export function taskName(kernel: Runnable): string {
  if (kernel.kind === 'kernel') return `kernel:${kernel.name}`;
  return `task:${moduleFileName(kernel.module)}#${kernel.exportName}`;
}

/** The file name of a task module's URL: what names it on the wire. */
export function moduleFileName(href: string): string {
  return href.startsWith('file:') ? basename(fileURLToPath(href)) : basename(new URL(href).pathname);
}

/** Encodings of the digest kernels' `encoding` option, in the order their validate() numbers them (kernels/digest.ts). */
const DIGEST_ENCODINGS = ['hex', 'base64', 'buffer'] as const;

/**
 * A validated argument tuple as a caller would have written it, so that the server's Pool
 * validates it again: the digest kernels' validate() turns `{ encoding }` into a number that
 * their validate() does not take back, and sort's and argsort's add the element type (and
 * argsort's the index array it fills), which a caller does not pass. Every other kernel's
 * validated tuple validates as is.
 */
function callerArgs(kernel: Runnable, args: readonly unknown[]): readonly unknown[] {
  if (kernel.kind !== 'kernel') return args;
  if ((kernel.name === 'sha256' || kernel.name === 'sha256File') && typeof args[1] === 'number') {
    return [args[0], { encoding: DIGEST_ENCODINGS[args[1]] }];
  }
  if (kernel.name === 'sort' || kernel.name === 'argsort') return [args[0]];
  return args;
}

/** One call's arguments, encoded. Throws the codec's TypeError naming the argument. */
export function encodeCall(method: string, kernel: Runnable, args: readonly unknown[]): Encoded[] {
  const wire = callerArgs(kernel, args);
  const out: Encoded[] = new Array(wire.length);
  for (let i = 0; i < wire.length; i++) out[i] = encode(wire[i], `${method}: args[${i}]`);
  return out;
}

/** The job's data, checked: throws a TypeError that says what is wrong with a payload no spindle client wrote. */
export function readJobData(data: unknown): { task: string; batch: boolean; calls: unknown[][]; progress: boolean } {
  if (typeof data !== 'object' || data === null) throw new TypeError(`bad job payload: data is ${data === null ? 'null' : typeof data}, not a spindle job`);
  const d = data as Partial<JobData>;
  if (d.v !== WIRE_VERSION) throw new TypeError(`bad job payload: wire version ${JSON.stringify(d.v)}, this server reads version ${WIRE_VERSION}`);
  if (typeof d.task !== 'string') throw new TypeError('bad job payload: task is not a string');
  if (typeof d.batch !== 'boolean') throw new TypeError('bad job payload: batch is not a boolean');
  if (!Array.isArray(d.calls) || d.calls.length === 0 || (!d.batch && d.calls.length !== 1)) {
    throw new TypeError('bad job payload: calls must be a non-empty array (exactly one call unless batch)');
  }
  const calls = d.calls.map((call, i) => {
    if (!Array.isArray(call)) throw new TypeError(`bad job payload: calls[${i}] is not an argument array`);
    return call.map((arg, j) => decode(arg, `bad job payload: calls[${i}][${j}]`));
  });
  return { task: d.task, batch: d.batch, calls, progress: d.progress === true };
}

/**
 * The fields of a system error (sha256File's, Node's fs errors) that travel beside name and
 * message, in the order Node's own errors have them, each with the type it must have.
 */
const ERROR_FIELDS: readonly (readonly [string, readonly string[]])[] = [
  ['errno', ['number']],
  ['code', ['string', 'number']],
  ['syscall', ['string']],
  ['path', ['string']],
  ['dest', ['string']],
];

function errorFields(from: Record<string, unknown>): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const [key, types] of ERROR_FIELDS) {
    if (types.includes(typeof from[key])) fields[key] = from[key];
  }
  return fields;
}

/** An error as failedReason carries it, with how long the task ran on the server's pool if it did. */
export function failureReason(error: unknown, runMs?: number): string {
  const ms = runMs === undefined ? {} : { ms: runMs };
  if (!(error instanceof Error)) return JSON.stringify({ spindle: 1, name: 'Error', message: `a task threw a non-Error: ${String(error)}`, ...ms });
  return JSON.stringify({
    spindle: 1,
    name: error.name,
    message: error.message,
    stack: error.stack,
    ...errorFields(error as unknown as Record<string, unknown>),
    ...ms,
  });
}

/** A run time in ms as a server sends it: a finite number, at least 0; anything else is none. */
function runMsOf(ms: unknown): number | undefined {
  return typeof ms === 'number' && ms >= 0 && Number.isFinite(ms) ? ms : undefined;
}

/** The run time a spindle server put in a failedReason, if any. */
export function reasonRunMs(reason: unknown): number | undefined {
  if (typeof reason !== 'string' || !reason.startsWith('{')) return undefined;
  try {
    const e = JSON.parse(reason) as { spindle?: unknown; ms?: unknown };
    return e.spindle === 1 ? runMsOf(e.ms) : undefined;
  } catch {
    return undefined;
  }
}

const ERROR_CLASSES: Record<string, new (message: string) => Error> = {
  Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError,
};

/** The client's error for a failed job: the task's own error rebuilt, or one that quotes BullMQ's reason. */
export function errorFromReason(jobId: string, reason: unknown): Error {
  if (typeof reason === 'string' && reason.startsWith('{')) {
    try {
      const e = JSON.parse(reason) as { spindle?: unknown; name?: unknown; message?: unknown; stack?: unknown };
      if (e.spindle === 1 && typeof e.name === 'string' && typeof e.message === 'string') {
        const Class = Object.hasOwn(ERROR_CLASSES, e.name) ? ERROR_CLASSES[e.name]! : Error;
        const error = new Class(e.message);
        if (error.name !== e.name) Object.defineProperty(error, 'name', { value: e.name, writable: true, enumerable: false, configurable: true });
        if (typeof e.stack === 'string') error.stack = e.stack;
        Object.assign(error, errorFields(e as Record<string, unknown>));
        return error;
      }
    } catch {
      // Not ours after all: quoted below.
    }
  }
  return new Error(`queue job ${jobId} failed: ${typeof reason === 'string' ? reason : 'no reason given'}`);
}

/**
 * A job's return value, decoded, and its run time in ms where the server sent one (a finite
 * number, at least 0). Throws a TypeError when the value is not one a spindle server wrote.
 */
export function readResult(jobId: string, returnvalue: unknown): { value: unknown; runMs: number | undefined } {
  let value = returnvalue;
  if (typeof returnvalue === 'string') {
    try {
      value = JSON.parse(returnvalue);
    } catch {
      throw new TypeError(`queue job ${jobId} returned ${JSON.stringify(returnvalue.slice(0, 80))}, not a spindle result`);
    }
  }
  if (typeof value !== 'object' || value === null || !('r' in value)) throw new TypeError(`queue job ${jobId} returned no spindle result`);
  const { r, ms } = value as { r: unknown; ms?: unknown };
  return { value: decode(r, `the result of queue job ${jobId}`), runMs: runMsOf(ms) };
}
