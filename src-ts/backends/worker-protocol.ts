// The wire format between the worker backend (worker.ts, on the pool's thread) and the worker
// runtime (worker-entry.ts, in each worker). Both sides import this file, so a change here is a
// change on both ends.
//
// Pool → worker, on the private protocol port (WorkerSetup.port, not parentPort), one message per batch:
//   { defs?: [index, module, exportName][], tasks: [...records] }
//   where each task is TASK_STRIDE slots: [seq, ref, batch (0|1), payload, progress]
//   seq: the task's sequence number on this worker (see below);
//   ref: a kernel's name (string) or the index of a JS task sent in `defs` (number);
//   payload: the argument tuple, or for a batch the array of tuples;
//   progress: a SharedCounter's buffer, or null.
// Pool → worker, on the control port: an array of task sequence numbers to cancel. The pool
// bumps the control word EPOCH before posting, so a task busy in synchronous code can notice
// with one Atomics.load and drain the port with receiveMessageOnPort.
//
// Worker → pool, on the protocol port:
//   [READY]                                  the initializer (if any) finished; tasks run now
//   [INIT_FAILED, encodedError]              the initializer threw; the worker exits
//   [RESULTS, runMicros, ...records]         RESULT_STRIDE slots each: [seq, status, value]
// Each reply names its task by seq: the pool matches replies by that, never by position, so a
// task that is skipped, taken back or answered out of turn cannot shift its neighbours' replies.
// runMicros: the wall time the message's tasks took, start to settle (an async task's awaits
// count: a worker awaiting a timer is not free to run the next task).
// Every task the worker claims gets exactly one reply: a value or an error that cannot be sent
// becomes a TypeError for that task (see worker-entry.ts).
//
// Workers wait for batches on their event loop, not in Atomics.wait: on the VMs measured, an
// Atomics.notify that wakes a sleeping thread costs the pool's thread about 10 µs, more than
// the event-loop wake-up a message brings anyway (see bench/ and DEVELOPERS notes).
//
// Task sequence numbers: the pool numbers the tasks it posts to a worker 1, 2, 3, ... and the
// worker visits them in that order. Before running task n the worker claims it in the claim
// table (claim-table.ts); the pool may take back a posted task the worker has not claimed, and
// the worker then skips it. After claiming, the worker stores n in the control word STARTED, so
// when a worker dies the pool knows which task was running.

import type { MessagePort } from 'node:worker_threads';
import { SharedCounter } from '../shared/counter.js';
import { brandOf, type SharedKindName } from '../shared/brand.js';
import { Lock } from '../shared/lock.js';
import { SharedValue } from '../shared/value.js';

export const TASK_STRIDE = 5;
export const RESULT_STRIDE = 3;

export const READY = 0;
export const INIT_FAILED = 1;
export const RESULTS = 2;

export const STATUS_OK = 0;
/** value: an EncodedError. */
export const STATUS_ERROR = 1;
/** value: a thrown non-Error value, as thrown. */
export const STATUS_THROWN = 2;
export const STATUS_CANCELLED = 3;

/** Int32 slots of each worker's control buffer. */
export const STARTED = 0;
export const EPOCH = 1;
export const CONTROL_WORDS = 2;

/** What the worker gets as workerData. */
export interface WorkerSetup {
  control: SharedArrayBuffer;
  controlPort: MessagePort;
  /** The pool's private protocol port: every task and reply travels here, never on parentPort. */
  port: MessagePort;
  /** The claim table's buffer (claim-table.ts). */
  claims: SharedArrayBuffer;
  initializer: { module: string; exportName: string; args: unknown[] } | undefined;
}

// ---- Errors ------------------------------------------------------------------------------
// Structured clone keeps an Error's message but turns every non-standard name into 'Error'.
// Tasks' errors must keep name, message, stack and code, and a failed system call's errno,
// syscall and path (sha256File's ENOENT reads as fs's own), so they travel as plain objects.

export interface EncodedError {
  name: string;
  message: string;
  stack: string | undefined;
  code: unknown;
  errno?: number;
  syscall?: string;
  path?: string;
}

/**
 * What went wrong, for a message: the error's own message when it can be read, else a word about
 * it. Never throws, whatever was thrown (a Proxy whose traps throw, a getter that throws).
 */
export function reasonOf(error: unknown): string {
  try {
    if (error instanceof Error) return String(error.message);
    if (typeof error === 'symbol') return error.toString();
    return String(error);
  } catch {
    return 'reading it threw';
  }
}

export function encodeError(error: Error): EncodedError {
  const { code, errno, syscall, path } = error as { code?: unknown; errno?: unknown; syscall?: unknown; path?: unknown };
  const encoded: EncodedError = { name: String(error.name), message: String(error.message), stack: error.stack, code: typeof code === 'string' || typeof code === 'number' ? code : undefined };
  if (typeof errno === 'number') encoded.errno = errno;
  if (typeof syscall === 'string') encoded.syscall = syscall;
  if (typeof path === 'string') encoded.path = path;
  return encoded;
}

const STANDARD_ERRORS: Record<string, new (message: string) => Error> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
};

export function decodeError(e: EncodedError): Error {
  const Class = Object.hasOwn(STANDARD_ERRORS, e.name) ? STANDARD_ERRORS[e.name]! : Error;
  const error = new Class(e.message);
  if (error.name !== e.name) Object.defineProperty(error, 'name', { value: e.name, writable: true, configurable: true, enumerable: false });
  if (e.stack !== undefined) error.stack = e.stack;
  // In the order Node's fs errors have them: errno, code, syscall, path.
  const fields = error as { errno?: number; code?: unknown; syscall?: string; path?: string };
  if (e.errno !== undefined) fields.errno = e.errno;
  if (e.code !== undefined) fields.code = e.code;
  if (e.syscall !== undefined) fields.syscall = e.syscall;
  if (e.path !== undefined) fields.path = e.path;
  return error;
}

// ---- Shared handles ----------------------------------------------------------------------
// SharedCounter, SharedValue and Lock are class instances around a SharedArrayBuffer.
// Structured clone would share the memory but lose the class, so top-level arguments and
// results that are shared handles travel as { [SHARED_MARK]: kind, buffer, byteOffset } and are
// revived with Kind.from(buffer, byteOffset): the same memory, a live object again. Handles
// nested deeper inside an argument arrive as plain objects; pass them as arguments of their own.

const SHARED_MARK = '__spindle_shared__';

interface SharedMarker {
  [SHARED_MARK]: string;
  buffer: SharedArrayBuffer;
  byteOffset: number;
}

/** Each shared kind's way back from its buffer, by the brand its instances carry (brand.ts). */
const revivers: Record<SharedKindName, (buffer: SharedArrayBuffer, byteOffset: number) => unknown> = {
  SharedCounter: (buffer) => SharedCounter.from(buffer),
  SharedValue: (buffer) => SharedValue.from(buffer),
  Lock: (buffer, byteOffset) => Lock.from(buffer, byteOffset),
};

/** The value as it travels: a marker for a shared handle, else itself. */
export function encodeValue(value: unknown): unknown {
  const kind = brandOf(value);
  if (kind === undefined) return value;
  const handle = value as { buffer: SharedArrayBuffer; byteOffset?: number };
  const marker: SharedMarker = { [SHARED_MARK]: kind, buffer: handle.buffer, byteOffset: handle.byteOffset ?? 0 };
  return marker;
}

/** The argument tuple as it travels; the same array when it holds no shared handle. */
export function encodeArgs(args: readonly unknown[]): readonly unknown[] {
  for (let i = 0; i < args.length; i++) {
    if (brandOf(args[i]) !== undefined) return args.map(encodeValue);
  }
  return args;
}

// ---- Kernel results ----------------------------------------------------------------------
// Structured clone also turns a Buffer into a plain Uint8Array. A kernel that promises a Buffer
// (sha256 with encoding 'buffer') must deliver one on the worker backend as on the native one,
// so kernel results that are Buffers travel marked, alone or inside a map chunk's array, and
// are revived as Buffers over the cloned bytes. Users' JS tasks are left alone: their results
// are structured clones, as documented.

const BUFFER_MARK = 'Buffer';
const ARRAY_MARK = 'Array';

function encodeBuffer(value: unknown): unknown {
  return Buffer.isBuffer(value) ? { [SHARED_MARK]: BUFFER_MARK, bytes: value } : value;
}

/** A kernel's result as it travels: a single result, or (batch) the array of a chunk's results. */
export function encodeKernelResult(value: unknown, batch: boolean): unknown {
  if (!batch) return encodeBuffer(value);
  const results = value as unknown[];
  if (!results.some((r) => Buffer.isBuffer(r))) return results;
  return { [SHARED_MARK]: ARRAY_MARK, values: results.map(encodeBuffer) };
}

/** Revives a value encodeValue() or encodeKernelResult() produced. */
export function decodeValue(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const mark = (value as Partial<SharedMarker>)[SHARED_MARK];
  if (mark === undefined) return value;
  if (mark === BUFFER_MARK) {
    const bytes = (value as { bytes: Uint8Array }).bytes;
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  if (mark === ARRAY_MARK) return (value as { values: unknown[] }).values.map(decodeValue);
  const revive = Object.hasOwn(revivers, mark) ? revivers[mark as SharedKindName] : undefined;
  const marker = value as SharedMarker;
  return revive === undefined ? value : revive(marker.buffer, marker.byteOffset);
}

/** Revives every argument in place; the tuple is the worker's own copy. */
export function decodeArgs(args: unknown[]): unknown[] {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (typeof arg === 'object' && arg !== null && SHARED_MARK in arg) args[i] = decodeValue(arg);
  }
  return args;
}
