// SharedCounter: a signed 64-bit integer in shared memory, operated on atomically by the main
// thread, worker_threads and native kernels alike.
//
// Layout: a 128-byte SharedArrayBuffer whose value lives at byte 64. Allocations are at least
// 16-byte aligned, so the 64-byte cache line holding the value lies wholly inside this buffer:
// no other counter (or any other object) can share it, whatever the allocator does.

const BYTES = 128;
const VALUE_OFFSET = 64;
const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

/** @internal The BigInt64Array view over the value; native kernels receive this view. */
export const kView = Symbol('spindle.counter.view');

function toBigInt(v: unknown, what: string): bigint {
  if (typeof v === 'bigint') {
    if (v < I64_MIN || v > I64_MAX) throw new RangeError(`${what} must fit in a signed 64-bit integer, got ${v}`);
    return v;
  }
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new RangeError(`${what} must be a safe integer, got ${v}`);
    return BigInt(v);
  }
  throw new TypeError(`${what} must be a number or a bigint, got ${v === null ? 'null' : typeof v}`);
}

function toNumber(v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new RangeError(`the counter's value ${v} is beyond 2^53; read .bigint instead`);
  }
  return Number(v);
}

export class SharedCounter {
  readonly buffer: SharedArrayBuffer;
  /** @internal */
  readonly [kView]: BigInt64Array;

  constructor(initial: number | bigint = 0) {
    const start = toBigInt(initial, 'initial');
    this.buffer = new SharedArrayBuffer(BYTES);
    this[kView] = new BigInt64Array(this.buffer, VALUE_OFFSET, 1);
    this[kView][0] = start;
  }

  /** Wraps the buffer of another SharedCounter (e.g. one received from a worker): same memory. */
  static from(buffer: SharedArrayBuffer): SharedCounter {
    if (!(buffer instanceof SharedArrayBuffer)) throw new TypeError('buffer must be a SharedArrayBuffer');
    if (buffer.byteLength !== BYTES) throw new RangeError(`buffer must be a SharedCounter's ${BYTES}-byte buffer, got ${buffer.byteLength} bytes`);
    const counter = Object.create(SharedCounter.prototype) as SharedCounter;
    Object.defineProperty(counter, 'buffer', { value: buffer, enumerable: true });
    Object.defineProperty(counter, kView, { value: new BigInt64Array(buffer, VALUE_OFFSET, 1) });
    return counter;
  }

  /** The value as a number; a RangeError beyond ±2^53 rather than a silently rounded value. */
  get value(): number {
    return toNumber(Atomics.load(this[kView], 0));
  }
  set value(v: number | bigint) {
    Atomics.store(this[kView], 0, toBigInt(v, 'value'));
  }

  /** The exact value, at any magnitude. */
  get bigint(): bigint {
    return Atomics.load(this[kView], 0);
  }

  /** Adds n atomically and returns the new value. */
  add(n: number | bigint = 1): number {
    const by = toBigInt(n, 'n');
    return toNumber(BigInt.asIntN(64, Atomics.add(this[kView], 0, by) + by));
  }

  increment(): number {
    return this.add(1n);
  }

  decrement(): number {
    return this.add(-1n);
  }

  /** Sets the value to `replacement` if it equals `expected`; returns the value seen before. */
  compareExchange(expected: number | bigint, replacement: number | bigint): number {
    const seen = Atomics.compareExchange(this[kView], 0, toBigInt(expected, 'expected'), toBigInt(replacement, 'replacement'));
    return toNumber(seen);
  }

  /** Sets the value back to 0 (or to `to`). */
  reset(to: number | bigint = 0): void {
    Atomics.store(this[kView], 0, toBigInt(to, 'to'));
  }

  toJSON(): string {
    return this.bigint.toString();
  }
}
