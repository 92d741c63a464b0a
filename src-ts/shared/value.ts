// SharedValue: one typed number in shared memory with a lock of its own (the analogue of
// Python's multiprocessing.Value), the same object on the main thread and in every worker.
//
// Layout: a 128-byte SharedArrayBuffer.
//
//   byte 0    Int32   VALUE_TAG, naming the buffer's kind for SharedValue.from() and Lock.from()
//   byte 4    Int32   the type code (TYPE_CODES), so that from(buffer) needs nothing else
//   byte 64   Int32   the lock word (see lock.ts), at the offset a standalone Lock uses too
//   byte 72   8 bytes the value: Int32 / Uint32 in bytes 72-75, BigInt64 / Float64 in 72-79
//
// The lock word and the value (bytes 64-79) share one cache line on purpose: code that takes
// the lock touches the value next, so one line moves between cores instead of two. Buffers are at
// least 16-byte aligned, so those 16 bytes never straddle a line, and their line lies within
// bytes 16-127 of this buffer: no other object shares it. The header is written once, before the
// buffer is shared, and only read afterwards.
//
// Every read and write of `value` is a single atomic access. An f64 is stored through a
// BigInt64Array over its 8 bytes (Atomics.load/store), converted to and from a double through a
// private scratch buffer viewed both ways: so no thread ever sees half of one write and half of
// another, and -0, infinities and subnormals keep their exact bits (a NaN stays NaN; JS does not
// promise to keep a NaN's payload). Only a read-modify-write such as `v.value += 1.5` needs the
// lock.

import { isBigInt64Array, isInt32Array, isSharedArrayBuffer, isUint32Array } from 'node:util/types';
import { brand, brandOf, fixedOwn, isSharedInstance, isSharedOfSize, isViewAt, registerShape, sharedSize } from './brand.js';
import { describe, isGrowableShared } from '../kernels/args.js';
import { int64ToNumber, toInt64 } from './counter.js';
import { Lock, LOCK_WORD_OFFSET, VALUE_TAG } from './lock.js';

/** The element types a SharedValue can hold: 32-bit signed/unsigned integers, 64-bit signed integers, doubles. */
export type SharedValueType = 'i32' | 'u32' | 'i64' | 'f64';

/** What `value` accepts: bigints for 'i64' (beyond 2^53 they are the only exact way), numbers otherwise. */
export type SharedValueInput<T extends SharedValueType> = T extends 'i64' ? number | bigint : number;

const BYTES = 128;
const TYPE_OFFSET = 4;
const VALUE_OFFSET = 72;
/** 0 is no type, so a zeroed buffer can never pass for a SharedValue. */
const TYPE_CODES: Readonly<Record<SharedValueType, number>> = { i32: 1, u32: 2, i64: 3, f64: 4 };
const TYPE_NAMES = Object.keys(TYPE_CODES) as SharedValueType[];

// One thread's private scratch for the f64 <-> bits conversion; module state is per thread, and
// each use is a write followed at once by a read, with no call in between.
const scratch = new ArrayBuffer(8);
const scratchDouble = new Float64Array(scratch);
const scratchBits = new BigInt64Array(scratch);

/**
 * A number of a fixed type in a SharedArrayBuffer, with a {@link Lock} in the same buffer.
 * Every read or write of {@link value} is atomic; a read-modify-write is not, so hold the lock:
 * `await v.getLock().withLock(() => { v.value += 1.5; })`.
 *
 * Send `v.buffer` to another thread and revive it there with {@link SharedValue.from}: the
 * same value and the same lock, not copies.
 */
export class SharedValue<T extends SharedValueType = SharedValueType> {
  /** The brand that another module sends alongside `buffer` to revive the value with {@link SharedValue.from}. */
  static readonly kind = 'SharedValue';

  /** The element type, fixed at creation. */
  declare readonly type: T;
  /** The shared memory: 128 bytes holding the type, the lock word and the value. */
  declare readonly buffer: SharedArrayBuffer;
  /** An Int32Array, Uint32Array or BigInt64Array (f64 too) over the value's bytes, by `type`. */
  private declare readonly cell: Int32Array | Uint32Array | BigInt64Array;
  private declare readonly lock: Lock;

  /**
   * Creates a value of `type` ('i32' | 'u32' | 'i64' | 'f64') holding `initial` (default 0). A
   * TypeError for an unknown type or an initial value of the wrong kind; a RangeError for one
   * that the type cannot hold exactly (u32 -1, i32 2^31, 1.5 for an integer type, an i64 number
   * beyond 2^53 or bigint beyond 64 bits).
   */
  constructor(type: T, initial?: SharedValueInput<T>) {
    if (typeof type !== 'string' || !Object.hasOwn(TYPE_CODES, type)) {
      throw new TypeError(`new SharedValue: type must be one of ${TYPE_NAMES.map((t) => `'${t}'`).join(', ')}, got ${describe(type)}`);
    }
    const buffer = new SharedArrayBuffer(BYTES);
    const header = new Int32Array(buffer, 0, 2);
    header[0] = VALUE_TAG;
    header[TYPE_OFFSET / 4] = TYPE_CODES[type];
    attach(this, buffer, type);
    this.store(initial === undefined ? 0 : initial, 'new SharedValue', 'initial'); // null is a TypeError, as for SharedCounter
  }

  /**
   * Revives a SharedValue from its buffer (e.g. one received from another thread): the same
   * memory, type and lock, not a copy. A TypeError if `buffer` is not a SharedValue's.
   */
  /** True for a SharedValue from any copy of spindle loaded in this thread (see brand.ts). */
  static [Symbol.hasInstance](value: unknown): boolean {
    return isSharedInstance(this, SharedValue, 'SharedValue', value);
  }

  static from(buffer: SharedArrayBuffer): SharedValue {
    if (!isSharedArrayBuffer(buffer)) { // not instanceof: see SharedCounter.from
      throw new TypeError(`SharedValue.from: buffer must be a SharedArrayBuffer, got ${describe(buffer)}`);
    }
    if (isGrowableShared(buffer)) {
      throw new TypeError(`SharedValue.from: buffer is a growable SharedArrayBuffer; a SharedValue's buffer keeps its size (once grown it would no longer be one)`);
    }
    const header = sharedSize(buffer) === BYTES ? new Int32Array(buffer, 0, 2) : undefined;
    const type = header?.[0] === VALUE_TAG ? TYPE_NAMES.find((t) => TYPE_CODES[t] === header[TYPE_OFFSET / 4]) : undefined;
    if (type === undefined) {
      throw new TypeError(`SharedValue.from: buffer is not a SharedValue's buffer (${sharedSize(buffer)} bytes)`);
    }
    const value = Object.create(SharedValue.prototype) as SharedValue;
    attach(value, buffer, type);
    return value;
  }

  /**
   * The value, read atomically. For 'i64' a RangeError beyond ±2^53 rather than a rounded
   * number: read {@link bigint} there. Setting it is one atomic store, checked like `initial`.
   */
  get value(): number {
    const cell = this.cell;
    switch (this.type) {
      case 'i64':
        return int64ToNumber(Atomics.load(cell as BigInt64Array, 0), "the SharedValue's value");
      case 'f64':
        scratchBits[0] = Atomics.load(cell as BigInt64Array, 0);
        return scratchDouble[0]!;
      default:
        return Atomics.load(cell as Int32Array | Uint32Array, 0);
    }
  }
  set value(v: SharedValueInput<T>) {
    this.store(v, 'SharedValue.value', 'value');
  }

  /** The exact value as a bigint, at any magnitude ('i64'; also 'i32' and 'u32'). A TypeError for 'f64'. */
  get bigint(): bigint {
    if (this.type === 'i64') return Atomics.load(this.cell as BigInt64Array, 0);
    if (this.type === 'f64') throw new TypeError("SharedValue.bigint: an 'f64' value has no exact bigint; read .value");
    return BigInt(Atomics.load(this.cell as Int32Array | Uint32Array, 0));
  }

  /**
   * The lock that guards this value: it lives in the same buffer (at `byteOffset` 64), so it
   * travels with the value, and every thread's copy of this value returns the same lock. Always
   * the same Lock object for this SharedValue object.
   */
  getLock(): Lock {
    return this.lock;
  }

  private store(v: unknown, where: string, name: string): void {
    const cell = this.cell;
    switch (this.type) {
      case 'i32':
        Atomics.store(cell as Int32Array, 0, checkInteger32(v, where, name, -(2 ** 31), 2 ** 31 - 1));
        return;
      case 'u32':
        Atomics.store(cell as Uint32Array, 0, checkInteger32(v, where, name, 0, 2 ** 32 - 1));
        return;
      case 'i64':
        Atomics.store(cell as BigInt64Array, 0, toInt64(v, where, name));
        return;
      case 'f64':
        if (typeof v !== 'number') throw new TypeError(`${where}: ${name} must be a number, got ${describe(v)}`);
        scratchDouble[0] = v;
        Atomics.store(cell as BigInt64Array, 0, scratchBits[0]!);
        return;
    }
  }
}

function checkInteger32(v: unknown, where: string, name: string, min: number, max: number): number {
  if (typeof v !== 'number') throw new TypeError(`${where}: ${name} must be a number, got ${describe(v)}`);
  if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`${where}: ${name} must be an integer in [${min}, ${max}], got ${v}`);
  return v;
}

// A value is what attach() makes: its cell of its type at VALUE_OFFSET and its lock, both in one
// value-sized SharedArrayBuffer.
registerShape('SharedValue', (value) => {
  const buffer = fixedOwn(value, 'buffer');
  const type = fixedOwn(value, 'type');
  const cell = fixedOwn(value, 'cell');
  const lock = fixedOwn(value, 'lock');
  if (!isSharedOfSize(buffer, BYTES)) return false;
  const wide = type === 'i64' || type === 'f64'; // attach() keeps both in a BigInt64Array
  const cellOk = type === 'i32' ? isInt32Array(cell) : type === 'u32' ? isUint32Array(cell) : wide && isBigInt64Array(cell);
  return cellOk && isViewAt(cell, buffer, VALUE_OFFSET, wide ? 8 : 4) && brandOf(lock) === 'Lock' && fixedOwn(lock as object, 'buffer') === buffer;
});

function attach(value: SharedValue, buffer: SharedArrayBuffer, type: SharedValueType): void {
  brand(value, 'SharedValue');
  const cell =
    type === 'i32' ? new Int32Array(buffer, VALUE_OFFSET, 1)
    : type === 'u32' ? new Uint32Array(buffer, VALUE_OFFSET, 1)
    : new BigInt64Array(buffer, VALUE_OFFSET, 1);
  Object.defineProperty(value, 'type', { value: type, enumerable: true });
  Object.defineProperty(value, 'buffer', { value: buffer, enumerable: true });
  Object.defineProperty(value, 'cell', { value: cell });
  Object.defineProperty(value, 'lock', { value: Lock.from(buffer, LOCK_WORD_OFFSET) });
}
