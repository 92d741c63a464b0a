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
//   [RESULTS, runMicros, ...records]         RESULT_STRIDE slots each: [seq, status, value, startedAt, runMs]
// Each reply names its task by seq: the pool matches replies by that, never by position, so a
// task that is skipped, taken back or answered out of turn cannot shift its neighbours' replies.
// runMicros: the wall time the message's tasks took, start to settle (an async task's awaits
// count: a worker awaiting a timer is not free to run the next task).
// startedAt, runMs: when the task was claimed, in the pool's performance.now() milliseconds
// (WorkerSetup.timeOrigin converts), and how long it took to its outcome; for stats().
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
// the worker then skips it. Once it has an outcome for task n (its reply is written, maybe not
// yet sent) the worker marks it finished there, so when a worker dies the pool knows which of
// its tasks were running and which had run.
//
// Control words (Int32):
//   STARTED   written by the worker: the sequence number of the last task claimed (claims go in
//             sequence order, so every held task after it is unclaimed);
//   RUNNING   written by the worker: how many claimed tasks have no outcome yet, at most
//             WorkerSetup.concurrency;
//   EPOCH     bumped by the pool: see the control port above.
// The pool reads STARTED and RUNNING as hints, for balancing; what a worker ran is decided by
// the claim table alone.

import type { MessagePort } from 'node:worker_threads';
import { SharedCounter } from '../shared/counter.js';
import { brandOf, type SharedKindName } from '../shared/brand.js';
import { Lock } from '../shared/lock.js';
import { SharedValue } from '../shared/value.js';

export const TASK_STRIDE = 5;
export const RESULT_STRIDE = 5;

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
export const RUNNING = 2;
export const CONTROL_WORDS = 3;

/** spindle's own setup for a worker: it travels as workerData.setup (see WorkerEnvelope in worker-start.ts), beside the user's workerData. */
export interface WorkerSetup {
  control: SharedArrayBuffer;
  controlPort: MessagePort;
  /** The pool's private protocol port: every task and reply travels here, never on parentPort. */
  port: MessagePort;
  /** The claim table's buffer (claim-table.ts). */
  claims: SharedArrayBuffer;
  initializer: { module: string; exportName: string; args: unknown[] } | undefined;
  /** Tasks the worker may have in flight at once (the pool's concurrentTasksPerWorker), >= 1. */
  concurrency: number;
  /** The pool thread's performance.timeOrigin: the worker reports start times on the pool's clock. */
  timeOrigin: number;
}

// ---- Arrays the worker fills -------------------------------------------------------------

// Taken when this module loads, before any task's module (see worker-entry.ts).
const setPrototypeOf = Object.setPrototypeOf;

/**
 * A new array with no prototype, `length` long (holes): for the arrays the worker runtime and
 * the error encoder fill by index. A write past an ordinary array's end, or into one of its
 * holes, calls any setter that Array.prototype or Object.prototype has for that index, and a
 * task may have put one there (some instrumentation does); this array has no prototype chain
 * to consult. Array.prototype's methods are not on it, and structured clone delivers it as an
 * ordinary array.
 */
export function nullArray<T>(length = 0): T[] {
  const array: T[] = [];
  if (length > 0) array.length = length; // not new Array(): a task may have replaced the global
  return setPrototypeOf(array, null) as T[];
}

// ---- Errors ------------------------------------------------------------------------------
// Structured clone keeps an Error's message but turns every non-standard name into 'Error' and
// drops a custom error's own properties. A task's error must reach its caller as it was thrown,
// so errors travel as plain objects (EncodedError) that keep:
// - name, message, stack and code;
// - the class: a built-in one (TypeError, AggregateError, DOMException, ...) travels as its kind
//   and is rebuilt as that class; a user's class as the nearest built-in class it extends (a
//   `class HttpError extends Error` arrives as an Error whose name is 'HttpError');
// - its own enumerable properties, in order (a failed system call's errno, code, syscall and
//   path: sha256File's ENOENT reads as fs's own);
// - its cause, an AggregateError's errors and a SuppressedError's error and suppressed (Node 24's
//   `using` declarations throw one when a disposal fails): Errors among them travel encoded the
//   same way.
// Values an error holds travel as structured clone carries them; one it cannot carry is left
// out if it is a property, and becomes a TypeError that says why if it is a cause or an element
// of `errors`. An error met twice (shared, or a cycle: err.cause = err) travels once, and
// decodeError() rebuilds the sharing. Nested errors are kept at most MAX_ERROR_DEPTH deep and
// MAX_NESTED_ERRORS in all; past that they are left out, so a runaway chain cannot flood the port.
// Reading an error runs the task's code (getters, Proxy traps). An error whose name, message or
// stack cannot be read is not sent at all: encodeError() throws, and the task gets the TypeError
// any reply that cannot be sent gets (worker-entry.ts), as does a nested one in its place. Any
// other read that throws costs only the field it was reading.

export interface EncodedError {
  /** The built-in class it is rebuilt as: a key of ERROR_KINDS. */
  kind: string;
  name: string;
  message: string;
  stack: string | undefined;
  /** error.code, when it is not an own enumerable property (those travel in `props`). */
  code?: unknown;
  /** Own enumerable properties, in order; `cause`, AggregateError's `errors` and SuppressedError's pair travel apart. */
  props?: [key: string, value: Held][];
  cause?: Held;
  /** AggregateError's errors. */
  errors?: Held[];
  /** SuppressedError's `error` and `suppressed`. */
  suppression?: [error: Held, suppressed: Held];
}

/** A value an error holds: an Error, encoded, or any other value as structured clone carries it. */
export type Held = { error: EncodedError } | { value: unknown };

const MAX_ERROR_DEPTH = 32;
const MAX_NESTED_ERRORS = 1000;

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

/** A built-in error class an error can arrive as, and the way to rebuild one. */
interface ErrorKind {
  /** Undefined where this thread lacks the class (WebAssembly's, under node --jitless). */
  Class: { readonly prototype: object } | undefined;
  build(message: string, name: string): Error;
}

function wasmKind(name: 'CompileError' | 'LinkError' | 'RuntimeError'): ErrorKind {
  const wasm = (globalThis as { WebAssembly?: Record<string, new (message: string) => Error> }).WebAssembly;
  const Class = wasm?.[name];
  return { Class, build: (message) => new Class!(message) };
}

/**
 * The runtime's SuppressedError, taken once at load as the other classes are: a global that is
 * not a class (`globalThis.SuppressedError = null` before the import made the import throw)
 * counts as none, and one deleted or replaced later still rebuilds the errors that arrive.
 */
const SuppressedErrorClass = ((C: unknown) => (typeof C === 'function' ? (C as new (error: unknown, suppressed: unknown, message: string) => Error) : undefined))(
  (globalThis as { SuppressedError?: unknown }).SuppressedError,
);

/** Every kind, by the name it travels as. */
const ERROR_KINDS: Record<string, ErrorKind> = {
  Error: { Class: Error, build: (message) => new Error(message) },
  TypeError: { Class: TypeError, build: (message) => new TypeError(message) },
  RangeError: { Class: RangeError, build: (message) => new RangeError(message) },
  SyntaxError: { Class: SyntaxError, build: (message) => new SyntaxError(message) },
  ReferenceError: { Class: ReferenceError, build: (message) => new ReferenceError(message) },
  EvalError: { Class: EvalError, build: (message) => new EvalError(message) },
  URIError: { Class: URIError, build: (message) => new URIError(message) },
  // Its errors are set once they are decoded: one of them may be the AggregateError itself.
  AggregateError: { Class: AggregateError, build: (message) => new AggregateError([], message) },
  // Node 24 on (explicit resource management). Its error and suppressed are set once decoded, as
  // AggregateError's errors are.
  SuppressedError: { Class: SuppressedErrorClass, build: (message) => new SuppressedErrorClass!(undefined, undefined, message) },
  // A DOMException's name picks its legacy numeric code, so the name is given to the constructor.
  DOMException: { Class: globalThis.DOMException, build: (message, name) => new DOMException(message, name) },
  'WebAssembly.CompileError': wasmKind('CompileError'),
  'WebAssembly.LinkError': wasmKind('LinkError'),
  'WebAssembly.RuntimeError': wasmKind('RuntimeError'),
};

const KIND_BY_PROTOTYPE = new Map<object, string>();
for (const [kind, { Class }] of Object.entries(ERROR_KINDS)) if (Class !== undefined) KIND_BY_PROTOTYPE.set(Class.prototype, kind);

/** The nearest built-in error class on the error's prototype chain. */
function kindOf(error: object): string {
  try {
    // Bounded: a Proxy's getPrototypeOf trap can make the chain endless.
    let proto = Object.getPrototypeOf(error) as object | null;
    for (let hops = 0; proto !== null && hops < 100; hops++) {
      const kind = KIND_BY_PROTOTYPE.get(proto);
      if (kind !== undefined) return kind;
      proto = Object.getPrototypeOf(proto) as object | null;
    }
  } catch {
    // A throwing trap: nothing more is known of it.
  }
  return 'Error';
}

function isError(value: unknown): value is Error {
  try {
    return value instanceof Error;
  } catch {
    return false; // a Proxy whose getPrototypeOf trap throws
  }
}

/** `read()`, or what `fallback` makes of the error it threw. */
function attempt<T>(read: () => T, fallback: (error: unknown) => T): T {
  try {
    return read();
  } catch (error) {
    return fallback(error);
  }
}

/** The value as structured clone carries it (a snapshot: getters have run once), or the reason it cannot be. */
function carry(value: unknown): { value: unknown } | { reason: string } {
  if (typeof value === 'symbol') return { reason: 'a symbol cannot be cloned' };
  if (typeof value !== 'object' && typeof value !== 'function') return { value };
  if (value === null) return { value };
  try {
    return { value: structuredClone(value) };
  } catch (error) {
    return { reason: reasonOf(error) };
  }
}

/** An error about an error: what travels in place of a cause or an element of errors that cannot. */
function cannotTravel(what: string, reason: string): Held {
  const message = `${what} cannot be sent back to the pool: ${reason}`;
  return { error: { kind: 'TypeError', name: 'TypeError', message, stack: `TypeError: ${message}` } };
}

/** Whether `list` holds `item`, without Array.prototype.includes (a task may have replaced it). */
function hasElement(list: readonly string[], item: string): boolean {
  for (let i = 0; i < list.length; i++) if (list[i] === item) return true;
  return false;
}

/** One error (the one thrown, with every error it holds), as it travels. */
class ErrorEncoder {
  /** Errors met so far: one met again travels as the same EncodedError. */
  private readonly seen = new Map<object, EncodedError>();
  private nested = 0;

  encode(error: Error, depth: number): EncodedError {
    const kind = kindOf(error);
    // These three reads may throw: see above.
    const stack = error.stack;
    const encoded: EncodedError = { kind, name: String(error.name), message: String(error.message), stack: typeof stack === 'string' ? stack : undefined };
    this.seen.set(error, encoded);
    const keys = attempt(() => Object.keys(error), () => []);
    const props = this.props(error, keys, kind, depth);
    if (props.length > 0) encoded.props = props;
    if (!hasElement(keys, 'code')) {
      const code = attempt(() => (error as { code?: unknown }).code, () => undefined);
      const carried = code === undefined ? undefined : carry(code);
      if (carried !== undefined && 'value' in carried) encoded.code = carried.value;
    }
    if (attempt(() => 'cause' in error, () => false)) {
      const cause = this.held(() => error.cause, depth, 'the error\'s cause');
      if (cause !== undefined) encoded.cause = cause;
    }
    if (kind === 'AggregateError') {
      const errors = this.errors(error as AggregateError, depth);
      if (errors !== undefined) encoded.errors = errors;
    }
    if (kind === 'SuppressedError') {
      const pair = error as { error?: unknown; suppressed?: unknown };
      const first = this.held(() => pair.error, depth, 'SuppressedError.error');
      const second = this.held(() => pair.suppressed, depth, 'SuppressedError.suppressed');
      // Past the nesting limits either is left out, and then both are, as errors' rest are.
      if (first !== undefined && second !== undefined) encoded.suppression = [first, second];
    }
    return encoded;
  }

  /** Own enumerable properties that can travel; the structural ones (cause, errors, error and suppressed) travel apart. */
  private props(error: Error, keys: string[], kind: string, depth: number): [string, Held][] {
    const props = nullArray<[string, Held]>(); // filled by index: see nullArray()
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      if (key === 'cause' || (kind === 'AggregateError' && key === 'errors')) continue;
      if (kind === 'SuppressedError' && (key === 'error' || key === 'suppressed')) continue;
      const value = this.held(() => (error as unknown as Record<string, unknown>)[key], depth, undefined);
      if (value !== undefined) props[props.length] = [key, value]; // by index: a task may have replaced push()
    }
    return props;
  }

  /** AggregateError's errors; those past the limits are left out, and with them the rest. */
  private errors(error: AggregateError, depth: number): Held[] | undefined {
    const list = attempt(() => error.errors as unknown, () => undefined);
    if (!Array.isArray(list)) return undefined;
    const out = nullArray<Held>();
    const length = attempt(() => list.length, () => 0);
    for (let i = 0; i < length; i++) {
      const element = this.held(() => list[i] as unknown, depth, `AggregateError.errors[${i}]`);
      if (element === undefined) break;
      out[out.length] = element;
    }
    return out;
  }

  /**
   * A value the error holds, as it travels; undefined when it is left out. `what` names a cause
   * or an element of errors, which travel as a TypeError when they cannot; an unnamed value
   * (a property) that cannot is left out.
   */
  private held(read: () => unknown, depth: number, what: string | undefined): Held | undefined {
    let value: unknown;
    try {
      value = read();
    } catch (error) {
      return what === undefined ? undefined : cannotTravel(what, `reading it threw: ${reasonOf(error)}`);
    }
    if (isError(value)) {
      const seen = this.seen.get(value);
      if (seen !== undefined) return { error: seen };
      if (depth >= MAX_ERROR_DEPTH || this.nested >= MAX_NESTED_ERRORS) return undefined;
      this.nested++;
      try {
        return { error: this.encode(value, depth + 1) };
      } catch (error) {
        return what === undefined ? undefined : cannotTravel(what, `reading it threw: ${reasonOf(error)}`);
      }
    }
    const carried = carry(value);
    if ('value' in carried) return carried;
    return what === undefined ? undefined : cannotTravel(what, carried.reason);
  }
}

/** The error as it travels (see above). Throws only when its name, message or stack cannot be read. */
export function encodeError(error: Error): EncodedError {
  return new ErrorEncoder().encode(error, 0);
}

/** Rebuilds one encoded error, with every error it holds; an error met twice is built once. */
class ErrorDecoder {
  private readonly built = new Map<EncodedError, Error>();

  decode(e: EncodedError): Error {
    const known = this.built.get(e);
    if (known !== undefined) return known;
    const error = build(e);
    this.built.set(e, error);
    if (error.name !== e.name) defineHidden(error, 'name', e.name);
    if (e.stack !== undefined) defineHidden(error, 'stack', e.stack);
    // As a task's code always was: an own enumerable property (unless the class has it already).
    // Defined, not assigned: a class may have `code` as a getter of its own (DOMException), and
    // assigning to that threw on the pool's thread, where it crashed the process.
    if (e.code !== undefined && (error as { code?: unknown }).code !== e.code) {
      Object.defineProperty(error, 'code', { value: e.code, writable: true, enumerable: true, configurable: true });
    }
    if (e.props !== undefined) {
      for (const [key, value] of e.props) Object.defineProperty(error, key, { value: this.value(value), writable: true, enumerable: true, configurable: true });
    }
    // Like the constructors' own: not enumerable.
    if (e.cause !== undefined) defineHidden(error, 'cause', this.value(e.cause));
    if (e.errors !== undefined) defineHidden(error, 'errors', e.errors.map((held) => this.value(held)));
    if (e.suppression !== undefined) {
      defineHidden(error, 'error', this.value(e.suppression[0]));
      defineHidden(error, 'suppressed', this.value(e.suppression[1]));
    }
    return error;
  }

  private value(held: Held): unknown {
    return 'error' in held ? this.decode(held.error) : held.value;
  }
}

/** A new error of the encoded kind; an unknown kind (or one this thread lacks) is an Error. */
function build(e: EncodedError): Error {
  const kind = Object.hasOwn(ERROR_KINDS, e.kind) ? ERROR_KINDS[e.kind]! : undefined;
  if (kind === undefined || kind.Class === undefined) return new Error(e.message);
  return kind.build(e.message, e.name);
}

function defineHidden(object: object, key: string, value: unknown): void {
  Object.defineProperty(object, key, { value, writable: true, enumerable: false, configurable: true });
}

/**
 * The error an EncodedError describes, rebuilt on this side. Never throws: what cannot be
 * rebuilt (a reply that is not an EncodedError) is an Error that says so, so the task it
 * answers is settled all the same.
 */
export function decodeError(e: EncodedError): Error {
  try {
    return new ErrorDecoder().decode(e);
  } catch (why) {
    return new Error(`the worker's error could not be read: ${reasonOf(why)}`);
  }
}

// ---- Shared handles ----------------------------------------------------------------------
// SharedCounter, SharedValue and Lock are class instances around a SharedArrayBuffer.
// Structured clone would share the memory but lose the class, so top-level arguments and
// results that are shared handles travel as { [SHARED_MARK]: kind, buffer, byteOffset } and are
// revived with Kind.from(buffer, byteOffset): the same memory, a live object again. Handles
// nested deeper inside an argument arrive as plain objects; pass them as arguments of their own.
// A caller's own top-level object that has the marker's key travels wrapped as ESCAPED_MARK, so
// it arrives as it was sent (it once arrived as whatever its key named: an Array, a Buffer, or
// an error).

const SHARED_MARK = '__spindle_shared__';
const ESCAPED_MARK = 'Escaped';

/** The markers this module made (a kernel's Buffer result, on its way out): not escaped again. */
const ownMarkers = new WeakSet<object>();

/** `marker`, registered as one of this module's own. */
function own<T extends object>(marker: T): T {
  ownMarkers.add(marker);
  return marker;
}

/** Whether `value` is a caller's object with an own key that reads as the marker's (a Proxy whose trap throws: no). */
function hasMarkKey(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || ownMarkers.has(value)) return false;
  try {
    return Object.hasOwn(value, SHARED_MARK);
  } catch {
    return false;
  }
}

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
  if (kind === undefined) return hasMarkKey(value) ? { [SHARED_MARK]: ESCAPED_MARK, value } : value;
  const handle = value as { buffer: SharedArrayBuffer; byteOffset?: number };
  const marker: SharedMarker = { [SHARED_MARK]: kind, buffer: handle.buffer, byteOffset: handle.byteOffset ?? 0 };
  return marker;
}

/** The argument tuple as it travels; the same array when it holds no shared handle. */
export function encodeArgs(args: readonly unknown[]): readonly unknown[] {
  for (let i = 0; i < args.length; i++) {
    if (brandOf(args[i]) !== undefined || hasMarkKey(args[i])) return args.map(encodeValue);
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
  return Buffer.isBuffer(value) ? own({ [SHARED_MARK]: BUFFER_MARK, bytes: value }) : value;
}

/** A kernel's result as it travels: a single result, or (batch) the array of a chunk's results. */
export function encodeKernelResult(value: unknown, batch: boolean): unknown {
  if (!batch) return encodeBuffer(value);
  // Index loops, not some() and map(): `results` is the worker's nullArray(), which has neither.
  const results = value as unknown[];
  for (let i = 0; i < results.length; i++) {
    if (Buffer.isBuffer(results[i])) return own({ [SHARED_MARK]: ARRAY_MARK, values: mapped(results, encodeBuffer) });
  }
  return results;
}

/** fn of each element, in a nullArray(): the worker's arrays have no map(). */
function mapped(list: readonly unknown[], fn: (value: unknown) => unknown): unknown[] {
  const out = nullArray<unknown>(list.length);
  for (let i = 0; i < list.length; i++) out[i] = fn(list[i]);
  return out;
}

/**
 * A JS task chunk's results as they travel: each one as encodeValue() sends a single result
 * (shared handles marked, look-alike marker keys escaped), so a map's results arrive as an
 * apply's do; the array itself when no result needs that.
 */
export function encodeChunkResults(results: unknown[]): unknown {
  for (let i = 0; i < results.length; i++) {
    if (brandOf(results[i]) !== undefined || hasMarkKey(results[i])) {
      return own({ [SHARED_MARK]: ARRAY_MARK, values: mapped(results, encodeValue) });
    }
  }
  return results;
}

/** Revives a value encodeValue(), encodeKernelResult() or encodeChunkResults() produced. */
export function decodeValue(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const mark = (value as Partial<SharedMarker>)[SHARED_MARK];
  if (mark === undefined) return value;
  if (mark === ESCAPED_MARK) return (value as { value: unknown }).value;
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
