// Argument checks shared by kernel descriptors. Each throws a TypeError (wrong kind of value)
// or RangeError (right kind, bad value) whose message names the kernel and the argument.
import { isProxy, isTypedArray } from 'node:util/types';

/**
 * A value as an error message names it. Never throws and runs none of the value's own code
 * (a getter, a Proxy trap): a message about a bad argument must not turn into the argument's
 * own error.
 */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return `${typeof v} ${String(v)}`;
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  if (typeof v !== 'object') return typeof v;
  if (isProxy(v)) return 'a Proxy';
  if (Array.isArray(v)) return 'an array';
  if (isAsyncIterable(v)) return 'an async iterable';
  const name = constructorName(v);
  return `an object (${name === undefined ? 'no prototype' : name === '' ? 'anonymous class' : name})`;
}

/** Array.isArray, false for a revoked Proxy (where Array.isArray throws the engine's own TypeError). */
export function isArray(v: unknown): v is unknown[] {
  try {
    return Array.isArray(v);
  } catch {
    return false;
  }
}

/** The name of `v`'s constructor, read from its prototype chain's own data properties only. */
function constructorName(v: object): string | undefined {
  for (let proto = Object.getPrototypeOf(v) as object | null; proto !== null; proto = Object.getPrototypeOf(proto) as object | null) {
    const descriptor = Object.getOwnPropertyDescriptor(proto, 'constructor');
    if (descriptor === undefined) continue;
    const ctor: unknown = descriptor.value;
    if (typeof ctor !== 'function') return undefined;
    const name = Object.getOwnPropertyDescriptor(ctor, 'name')?.value as unknown;
    return typeof name === 'string' ? name : '';
  }
  return undefined;
}

function isAsyncIterable(v: object): boolean {
  for (let proto: object | null = v; proto !== null; proto = Object.getPrototypeOf(proto) as object | null) {
    const descriptor = Object.getOwnPropertyDescriptor(proto, Symbol.asyncIterator);
    if (descriptor !== undefined) return typeof descriptor.value === 'function';
  }
  return false;
}

export function checkArity(kernel: string, args: readonly unknown[], min: number, max: number, names: string): void {
  if (!isArray(args)) throw new TypeError(`${kernel}: args must be an array, got ${describe(args)}`);
  if (args.length < min || args.length > max) {
    const want = min === max ? `${min}` : `${min} to ${max}`;
    throw new TypeError(`${kernel} takes ${want} argument${max === 1 ? '' : 's'} (${names}), got ${args.length}`);
  }
}

/** A number that is an integer in [min, max]. */
export function checkInteger(kernel: string, name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number') throw new TypeError(`${kernel}: ${name} must be a number, got ${describe(v)}`);
  if (!Number.isInteger(v)) throw new RangeError(`${kernel}: ${name} must be an integer, got ${v}`);
  if (v < min || v > max) throw new RangeError(`${kernel}: ${name} must be in [${min}, ${max}], got ${v}`);
  return v;
}

/** Any finite number. */
export function checkFinite(kernel: string, name: string, v: unknown): number {
  if (typeof v !== 'number') throw new TypeError(`${kernel}: ${name} must be a number, got ${describe(v)}`);
  if (!Number.isFinite(v)) throw new RangeError(`${kernel}: ${name} must be finite, got ${v}`);
  return v;
}

/**
 * The built-in getter `name` of `prototype`, taken at load. A caller's view (or its buffer) may
 * shadow `length`, `buffer`, `byteLength` or `resizable` with its own property or a subclass's
 * getter; the native kernels read a view's real memory through N-API whatever those say, so
 * kernels read what decides which bytes they use, and whether memory may go away, through these.
 */
export function intrinsicGetter<T>(prototype: object, name: PropertyKey): ((this: unknown) => T) | undefined {
  return Object.getOwnPropertyDescriptor(prototype, name)?.get as ((this: unknown) => T) | undefined;
}

/**
 * Reflect.apply as it was at load. The getters below are called through it, never through
 * .call(): the worker's runtime uses them on its claim and reply paths (reviving a counter, the
 * detached-buffer check), and a task that replaced Function.prototype.call made every later
 * call on that worker with a counter, or a withTransfer() result, fail with its error.
 */
export const reflectApply = Reflect.apply;

const TYPED_ARRAY_PROTOTYPE = Object.getPrototypeOf(Int8Array.prototype) as object;
const typedBuffer = intrinsicGetter<ArrayBufferLike>(TYPED_ARRAY_PROTOTYPE, 'buffer')!;
const typedByteOffset = intrinsicGetter<number>(TYPED_ARRAY_PROTOTYPE, 'byteOffset')!;
const typedByteLength = intrinsicGetter<number>(TYPED_ARRAY_PROTOTYPE, 'byteLength')!;
const dataViewBuffer = intrinsicGetter<ArrayBufferLike>(DataView.prototype, 'buffer')!;
const dataViewByteOffset = intrinsicGetter<number>(DataView.prototype, 'byteOffset')!;
const dataViewByteLength = intrinsicGetter<number>(DataView.prototype, 'byteLength')!;

/** A TypedArray's or DataView's buffer and byte range as the engine holds them (see intrinsicGetter). */
export function viewRange(view: ArrayBufferView): { buffer: ArrayBufferLike; byteOffset: number; byteLength: number } {
  if (!isTypedArray(view)) {
    const buffer = reflectApply(dataViewBuffer, view, []);
    try {
      return { buffer, byteOffset: reflectApply(dataViewByteOffset, view, []), byteLength: reflectApply(dataViewByteLength, view, []) };
    } catch {
      // A DataView's getters throw where a TypedArray's read 0: over a detached buffer, or out of
      // a resizable one that shrank. Read as a TypedArray is, so the caller's own checks (a
      // detached buffer's TypeError, naming the argument) apply to both alike.
      return { buffer, byteOffset: 0, byteLength: 0 };
    }
  }
  return { buffer: reflectApply(typedBuffer, view, []), byteOffset: reflectApply(typedByteOffset, view, []), byteLength: reflectApply(typedByteLength, view, []) };
}

const arrayBufferByteLength = intrinsicGetter<number>(ArrayBuffer.prototype, 'byteLength')!;

/** Whether an ordinary `buffer` was detached (transferred). Node 20 lacks ArrayBuffer.prototype.detached. */
export function isDetached(buffer: ArrayBufferLike): boolean {
  if (reflectApply(arrayBufferByteLength, buffer, []) !== 0) return false;
  try {
    new Uint8Array(buffer as ArrayBuffer, 0, 0);
    return false;
  } catch {
    return true;
  }
}

const sharedGrowable = intrinsicGetter<boolean>(SharedArrayBuffer.prototype, 'growable');

/**
 * Whether `buffer` is a growable SharedArrayBuffer, read through the built-in getter (absent
 * before Node 20's growable ones: then none is).
 */
export function isGrowableShared(buffer: SharedArrayBuffer): boolean {
  return sharedGrowable !== undefined && reflectApply(sharedGrowable, buffer, []) === true;
}
