// Test data for the sort kernels: typed arrays of every element type in several shapes, and
// V8's own TypedArray.prototype.sort() as the oracle (test/sort.test.ts, test/sort-parallel.test.ts).
import { randomFillSync } from 'node:crypto';

export type Ctor =
  | Int8ArrayConstructor | Uint8ArrayConstructor | Uint8ClampedArrayConstructor | Int16ArrayConstructor
  | Uint16ArrayConstructor | Int32ArrayConstructor | Uint32ArrayConstructor | Float32ArrayConstructor
  | Float64ArrayConstructor | BigInt64ArrayConstructor | BigUint64ArrayConstructor;
export type Typed =
  | Int8Array<ArrayBufferLike> | Uint8Array<ArrayBufferLike> | Uint8ClampedArray<ArrayBufferLike> | Int16Array<ArrayBufferLike>
  | Uint16Array<ArrayBufferLike> | Int32Array<ArrayBufferLike> | Uint32Array<ArrayBufferLike> | Float32Array<ArrayBufferLike>
  | Float64Array<ArrayBufferLike> | BigInt64Array<ArrayBufferLike> | BigUint64Array<ArrayBufferLike>;

export const TYPES: Ctor[] = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
  Float32Array, Float64Array, BigInt64Array, BigUint64Array];

export const SHAPES = ['random', 'sorted', 'reversed', 'allEqual', 'fewDistinct', 'specials', 'oneHugeBucket'] as const;
export type Shape = (typeof SHAPES)[number];

/** Bit patterns of special values, little-endian hex of the element's width. */
const SPECIAL_BITS: Record<number, bigint[]> = {
  8: [0x0n, 0x8000000000000000n, 0x7ff0000000000000n, 0xfff0000000000000n, 0x7ff8000000000000n, 0xfff8000000000000n,
    0x7ff0000000000001n, 0xfff00000deadbeefn, 0x7fffffffffffffffn, 0x1n, 0x800fffffffffffffn, 0x3ff0000000000000n,
    0xbff0000000000000n, 0x7fefffffffffffffn],
  4: [0x0n, 0x80000000n, 0x7f800000n, 0xff800000n, 0x7fc00000n, 0xffc00000n, 0x7f800001n, 0xffbeef01n, 0x1n,
    0x807fffffn, 0x3f800000n, 0x7fffffffn, 0xffffffffn],
  2: [0x0n, 0x1n, 0x7fffn, 0x8000n, 0xffffn, 0x8001n],
  1: [0x0n, 0x1n, 0x7fn, 0x80n, 0xffn, 0x81n],
};

/** An array of `n` elements of `ctor` shaped as `shape`, over a SharedArrayBuffer when `shared`. */
export function makeArray(ctor: Ctor, n: number, shape: Shape, shared: boolean, seed: number): Typed {
  const width = ctor.BYTES_PER_ELEMENT;
  const buffer = shared ? new SharedArrayBuffer(n * width) : new ArrayBuffer(n * width);
  const array = new ctor(buffer as ArrayBuffer) as Typed; // the constructors take either kind; the types name one
  const bytes = new Uint8Array(buffer);
  let s = seed >>> 0 || 1;
  const next = (): number => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
  // Each special value's bytes, written through a Uint8Array view (DataView for the bit patterns).
  const specials = SPECIAL_BITS[width]!.map((bits) => {
    const one = new DataView(new ArrayBuffer(width));
    for (let b = 0; b < width; b++) one.setUint8(b, Number((bits >> BigInt(8 * b)) & 0xffn));
    return new Uint8Array(one.buffer);
  });
  const writeBits = (i: number, pattern: Uint8Array): void => bytes.set(pattern, i * width);
  switch (shape) {
    case 'random': case 'sorted': case 'reversed':
      randomFillSync(bytes);
      break;
    case 'allEqual':
      for (let i = 0; i < n; i++) writeBits(i, specials[specials.length - 1]!);
      break;
    case 'fewDistinct':
      for (let i = 0; i < n; i++) writeBits(i, specials[next() % 3]!);
      break;
    case 'specials':
      randomFillSync(bytes);
      for (let i = 0; i < n; i++) if (next() % 4 !== 0) writeBits(i, specials[next() % specials.length]!);
      break;
    case 'oneHugeBucket':
      // 99% one value (the bits of 1.0 for 4- and 8-byte elements), the rest random bits: one
      // bucket holds nearly everything.
      randomFillSync(bytes);
      for (let i = 0; i < n; i++) if (next() % 100 !== 0) writeBits(i, specials[width === 8 ? 11 : width === 4 ? 10 : 1]!);
      break;
  }
  if (shape === 'sorted' || shape === 'reversed') array.sort();
  if (shape === 'reversed') array.reverse();
  return array;
}

/** The first index where `got` and V8's sort of `input` differ under Object.is, or -1. */
export function firstMismatch(input: Typed, got: Typed): number {
  const want = input.slice().sort();
  if (want.length !== got.length) return 0;
  for (let i = 0; i < want.length; i++) if (!Object.is(want[i], got[i])) return i;
  return -1;
}

/** Whether `idx` is the stable permutation that sorts `input`: sorts it, and ties keep index order. */
export function isStableArgsort(input: Typed, idx: Uint32Array | Float64Array): boolean {
  const n = input.length;
  if (idx.length !== n) return false;
  const seen = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const j = idx[i]!;
    if (!Number.isInteger(j) || j < 0 || j >= n || seen[j]) return false;
    seen[j] = 1;
  }
  const want = input.slice().sort();
  for (let i = 0; i < n; i++) {
    if (!Object.is(input[idx[i]!], want[i])) return false;
    if (i > 0 && Object.is(want[i], want[i - 1]) && idx[i]! < idx[i - 1]!) return false;
  }
  return true;
}

