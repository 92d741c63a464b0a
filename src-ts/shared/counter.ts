// SharedCounter: a signed 64-bit integer in shared memory, operated on atomically by the main
// thread, worker_threads and native kernels alike.
//
// Layout: a 128-byte SharedArrayBuffer.
//
//   byte 0    Int32     COUNTER_TAG, naming the buffer's kind for SharedCounter.from()
//   byte 64   BigInt64  the value
//
// Allocations are at least 16-byte aligned, so the 64-byte cache line holding the value lies
// wholly inside this buffer: no other counter (or any other object) can share it, whatever the
// allocator does. Native kernels receive the BigInt64Array view over the value (kView) and
// never look at the tag.

import { isBigInt64Array, isProxy, isSharedArrayBuffer } from 'node:util/types';
import { brand, fixedOwn, hasBrand, isSharedInstance, isSharedOfSize, isViewAt, registerShape, sharedSize } from './brand.js';
import { describe, isGrowableShared } from '../kernels/args.js';

const BYTES = 128;
const VALUE_OFFSET = 64;
/** 'SPN' + 1; Lock and SharedValue buffers carry 'SPN' + 2 and + 3 (see lock.ts). */
const COUNTER_TAG = 0x53504e01;
const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;
const SAFE_MIN = BigInt(Number.MIN_SAFE_INTEGER);
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);

/** @internal The BigInt64Array view over the value; native kernels receive this view. */
export const kView = Symbol.for('spindle.counter.view');

/**
 * @internal Adds `units` of work done to a progress counter, whatever its value: as a bigint, so
 * that a counter already beyond ±2^53 (which `add(number)` reports with a RangeError after
 * adding) takes progress as the native kernels give it, and the work reporting it goes on.
 * Units that are not a safe integer get add()'s own error.
 */
export function addProgress(counter: SharedCounter, units: number | bigint): void {
  if (typeof units === 'number' && Number.isSafeInteger(units)) counter.add(BigInt(units));
  else counter.add(units);
}

/**
 * @internal `value` itself, or, for a Proxy that passes for a counter, a plain counter over the
 * same memory. The pool reads a progress counter again when it sends the task (its buffer, its
 * view), long after the call was checked: a Proxy's get trap that threw there escaped the
 * dispatch as an uncaught exception. What the check accepted is what the pool keeps.
 */
export function unproxiedCounter(value: unknown): unknown {
  if (!isProxy(value) || !hasBrand(value, 'SharedCounter')) return value;
  const counter = Object.create(SharedCounter.prototype) as SharedCounter;
  attach(counter, fixedOwn(value as object, 'buffer') as SharedArrayBuffer);
  return counter;
}

/** @internal A signed 64-bit integer from a safe-integer number or an in-range bigint. */
export function toInt64(v: unknown, where: string, name: string): bigint {
  if (typeof v === 'bigint') {
    if (v < I64_MIN || v > I64_MAX) throw new RangeError(`${where}: ${name} must fit in a signed 64-bit integer, got ${v}`);
    return v;
  }
  if (typeof v === 'number') {
    // Beyond 2^53 a number may already be rounded: accepting it would store a value the
    // caller never wrote. Such values must come as bigints.
    if (!Number.isSafeInteger(v)) throw new RangeError(`${where}: ${name} must be a safe integer (or a bigint), got ${v}`);
    return BigInt(v);
  }
  throw new TypeError(`${where}: ${name} must be a number or a bigint, got ${describe(v)}`);
}

/** @internal A 64-bit value as a number, or a RangeError where a number would round it. */
/** @internal Whether `v` is a safe integer, so that Number(v) is exact. */
export function isSafeBigInt(v: bigint): boolean {
  return v <= SAFE_MAX && v >= SAFE_MIN;
}

export function int64ToNumber(v: bigint, what: string): number {
  if (!isSafeBigInt(v)) throw new RangeError(`${what} ${v} is beyond ±2^53 and cannot be a number exactly; read .bigint instead`);
  return Number(v);
}

/**
 * A signed 64-bit integer in a SharedArrayBuffer, changed atomically. The same counter on the
 * main thread, in every worker it is sent to (send `counter.buffer`, revive with
 * {@link SharedCounter.from}) and in native kernels.
 *
 * Methods that return a number throw a RangeError when the value is beyond ±2^53 rather than
 * return a rounded number; use {@link bigint}, or pass bigints to {@link add} and
 * {@link compareExchange}, which then return bigints.
 */
export class SharedCounter {
  /** The brand that another module sends alongside `buffer` to revive the counter with {@link SharedCounter.from}. */
  static readonly kind = 'SharedCounter';

  /** The counter's shared memory: 128 bytes, the value being the BigInt64 at byte 64. */
  declare readonly buffer: SharedArrayBuffer;
  /** @internal */
  declare readonly [kView]: BigInt64Array;

  /** Creates a counter holding `initial` (a safe integer or any signed 64-bit bigint). */
  constructor(initial: number | bigint = 0) {
    const start = toInt64(initial, 'new SharedCounter', 'initial');
    const buffer = new SharedArrayBuffer(BYTES);
    new Int32Array(buffer, 0, 1)[0] = COUNTER_TAG;
    attach(this, buffer);
    this[kView][0] = start;
  }

  /** Revives a counter from its buffer (e.g. one received from another thread): the same memory, not a copy. */
  /** True for a SharedCounter from any copy of spindle loaded in this thread (see brand.ts). */
  static [Symbol.hasInstance](value: unknown): boolean {
    return isSharedInstance(this, SharedCounter, 'SharedCounter', value);
  }

  static from(buffer: SharedArrayBuffer): SharedCounter {
    // Not instanceof: an object made from SharedArrayBuffer.prototype is one to instanceof (and
    // then failed in the engine's getters, naming nothing), while a SharedArrayBuffer from
    // another realm or with its prototype changed is not.
    if (!isSharedArrayBuffer(buffer)) {
      throw new TypeError(`SharedCounter.from: buffer must be a SharedArrayBuffer, got ${describe(buffer)}`);
    }
    if (isGrowableShared(buffer)) {
      throw new TypeError(`SharedCounter.from: buffer is a growable SharedArrayBuffer; a SharedCounter's buffer keeps its size (once grown it would no longer be one)`);
    }
    if (sharedSize(buffer) !== BYTES || new Int32Array(buffer, 0, 1)[0] !== COUNTER_TAG) {
      throw new TypeError(`SharedCounter.from: buffer is not a SharedCounter's buffer (${sharedSize(buffer)} bytes)`);
    }
    const counter = Object.create(SharedCounter.prototype) as SharedCounter;
    attach(counter, buffer);
    return counter;
  }

  /** The value as a number; a RangeError beyond ±2^53 rather than a silently rounded value. Setting it is atomic. */
  get value(): number {
    return int64ToNumber(Atomics.load(this[kView], 0), "the counter's value");
  }
  set value(v: number | bigint) {
    Atomics.store(this[kView], 0, toInt64(v, 'SharedCounter.value', 'value'));
  }

  /** The exact value, at any magnitude. */
  get bigint(): bigint {
    return Atomics.load(this[kView], 0);
  }

  /**
   * Adds `n` (default 1, may be negative) atomically and returns the new value, as a bigint when
   * `n` is one. Wraps around at ±2^63 like a C int64. When `n` is a number and the new value is
   * beyond ±2^53, the addition still happens (it cannot be undone) and a RangeError reports it.
   */
  add(n?: number): number;
  add(n: bigint): bigint;
  add(n: number | bigint): number | bigint;
  add(n: number | bigint = 1): number | bigint {
    const by = toInt64(n, 'SharedCounter.add', 'n');
    const after = BigInt.asIntN(64, Atomics.add(this[kView], 0, by) + by);
    return typeof n === 'bigint' ? after : int64ToNumber(after, "the counter's new value");
  }

  /** Adds 1 atomically and returns the new value (see {@link add} beyond ±2^53). */
  increment(): number {
    return this.add(1);
  }

  /** Subtracts 1 atomically and returns the new value (see {@link add} beyond ±2^53). */
  decrement(): number {
    return this.add(-1);
  }

  /**
   * Sets the value to `replacement` if it equals `expected`, atomically, and returns the value
   * seen before (so the exchange happened exactly when the result equals `expected`). The result
   * is a bigint when `expected` is one; as a number it throws a RangeError beyond ±2^53, in which
   * case nothing was exchanged (a safe-integer `expected` cannot have matched).
   */
  compareExchange(expected: number, replacement: number | bigint): number;
  compareExchange(expected: bigint, replacement: number | bigint): bigint;
  compareExchange(expected: number | bigint, replacement: number | bigint): number | bigint;
  compareExchange(expected: number | bigint, replacement: number | bigint): number | bigint {
    const want = toInt64(expected, 'SharedCounter.compareExchange', 'expected');
    const next = toInt64(replacement, 'SharedCounter.compareExchange', 'replacement');
    const seen = Atomics.compareExchange(this[kView], 0, want, next);
    return typeof expected === 'bigint' ? seen : int64ToNumber(seen, "the counter's value");
  }

  /** Sets the value back to 0, or to `to`, atomically. */
  reset(to: number | bigint = 0): void {
    Atomics.store(this[kView], 0, toInt64(to, 'SharedCounter.reset', 'to'));
  }

  /** The exact value as a decimal string (JSON has no 64-bit integers). */
  toJSON(): string {
    return this.bigint.toString();
  }
}

// A counter is what attach() makes: native kernels add into its view's memory, which must be
// the 8 bytes at VALUE_OFFSET of a counter-sized SharedArrayBuffer (never freed while in use).
registerShape('SharedCounter', (value) => {
  const buffer = fixedOwn(value, 'buffer');
  const view = fixedOwn(value, kView);
  return isSharedOfSize(buffer, BYTES) && isBigInt64Array(view) && isViewAt(view, buffer, VALUE_OFFSET, 8);
});

function attach(counter: SharedCounter, buffer: SharedArrayBuffer): void {
  brand(counter, 'SharedCounter');
  Object.defineProperty(counter, 'buffer', { value: buffer, enumerable: true });
  Object.defineProperty(counter, kView, { value: new BigInt64Array(buffer, VALUE_OFFSET, 1) });
}
