// The JS twin of the sort kernel (src-cpp/core/sort/): an LSD radix sort over order-preserving
// keys, run synchronously in a worker (or directly). Same order as V8's TypedArray.prototype.sort()
// and the C++ kernel: NaNs last whatever their sign or payload, -0 before +0.
//
// Keys are the elements' bits viewed as unsigned words (Uint8/16/32Array; an 8-byte element is
// a pair of Uint32 words, low word first, as little-endian memory holds it) and mapped so that
// unsigned order is V8's order (the maps are src-cpp/core/sort/keys.hpp's):
//   unsigned: as is; signed: flip the sign bit; float: negatives flip every bit, others set the
//   sign bit, every NaN becomes all ones (above +Infinity).
// sort() maps the array's own memory to keys in place, sorts it one byte per pass (skipping bytes
// that are the same in every element) through one scratch array of the same size, and maps back.
// argsort() leaves the array alone: it sorts a copy of the keys with the indices beside them;
// LSD passes are stable, so equal keys keep index order.
//
// Scratch is kept for the next call (one buffer, at most KEEP_MAX bytes), as the C++ side does:
// fresh memory costs a page fault per 4 KiB on its first touch.
import type { KernelContext } from './types.js';

/** Element type codes, shared with src-cpp/core/sort/sort.hpp's ElementType. */
export enum SortType {
  Int8, Uint8, Uint8Clamped, Int16, Uint16, Int32, Uint32, Float32, Float64, BigInt64, BigUint64,
}

export type SortableArray =
  | Int8Array | Uint8Array | Uint8ClampedArray | Int16Array | Uint16Array | Int32Array | Uint32Array
  | Float32Array | Float64Array | BigInt64Array | BigUint64Array;

export type Words = Uint8Array | Uint16Array | Uint32Array;

type ArrayConstructor = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => SortableArray;

/** The built-in constructor of each SortType, indexed by it (the enum's order), taken at load: a caller's subclass or a Buffer is never constructed. */
export const CONSTRUCTORS: readonly ArrayConstructor[] = [
  Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array,
] as ArrayConstructor[];

const TYPED_ARRAY_SET = Object.getPrototypeOf(Int8Array.prototype).set as (this: SortableArray, source: SortableArray, offset?: number) => void;

/** target.set(source) by the built-in method, whatever the caller's array (a subclass's own set) defines. */
export function copyElements(target: SortableArray, source: SortableArray): void {
  TYPED_ARRAY_SET.call(target, source);
}
type Indices = Uint32Array | Float64Array;

/** A pass checks for cancellation and reports progress after this many elements. */
export const BLOCK = 1 << 20;
/** The largest scratch buffer kept between calls. */
export const KEEP_MAX = 256 * 1024 * 1024;

let kept: ArrayBuffer | undefined;

function scratch(bytes: number): ArrayBuffer {
  if (kept !== undefined && kept.byteLength >= bytes) {
    const s = kept;
    kept = undefined;
    return s;
  }
  return new ArrayBuffer(bytes);
}

function keep(buffer: ArrayBuffer): void {
  if (buffer.byteLength <= KEEP_MAX && (kept === undefined || kept.byteLength < buffer.byteLength)) kept = buffer;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Bytes per element, and the word view (bits per word) of an array of the type. */
export function wordsOf(array: SortableArray, type: SortType): Words {
  const { buffer, byteOffset, byteLength } = array;
  switch (type) {
    case SortType.Int8: case SortType.Uint8: case SortType.Uint8Clamped: return new Uint8Array(buffer, byteOffset, byteLength);
    case SortType.Int16: case SortType.Uint16: return new Uint16Array(buffer, byteOffset, byteLength / 2);
    default: return new Uint32Array(buffer, byteOffset, byteLength / 4);
  }
}

/** Words per element: 2 for 8-byte elements. */
export function wordsPerElement(type: SortType): 1 | 2 {
  return type >= SortType.Float64 ? 2 : 1;
}

/** Key bytes per element. */
export function keyBytes(type: SortType): number {
  if (type <= SortType.Uint8Clamped) return 1;
  if (type <= SortType.Uint16) return 2;
  return type <= SortType.Float32 ? 4 : 8;
}

// ---- key maps --------------------------------------------------------------------------------

/** Writes the keys of src[from, to) (words) into dst at the same positions. */
export function toKeys(src: Words, dst: Words, type: SortType, from: number, to: number): void {
  switch (type) {
    case SortType.Int8: for (let i = from; i < to; i++) dst[i] = src[i]! ^ 0x80; break;
    case SortType.Int16: for (let i = from; i < to; i++) dst[i] = src[i]! ^ 0x8000; break;
    case SortType.Int32: for (let i = from; i < to; i++) dst[i] = src[i]! ^ 0x80000000; break;
    case SortType.Float32:
      for (let i = from; i < to; i++) {
        const x = src[i]!;
        dst[i] = (x & 0x7fffffff) > 0x7f800000 ? 0xffffffff : x & 0x80000000 ? ~x : x | 0x80000000;
      }
      break;
    case SortType.Float64:
      for (let i = 2 * from; i < 2 * to; i += 2) {
        const lo = src[i]!;
        const hi = src[i + 1]!;
        const mag = hi & 0x7fffffff;
        if (mag > 0x7ff00000 || (mag === 0x7ff00000 && lo !== 0)) {
          dst[i] = 0xffffffff;
          dst[i + 1] = 0xffffffff;
        } else if (hi & 0x80000000) {
          dst[i] = ~lo;
          dst[i + 1] = ~hi;
        } else {
          dst[i] = lo;
          dst[i + 1] = hi | 0x80000000;
        }
      }
      break;
    case SortType.BigInt64:
      for (let i = 2 * from; i < 2 * to; i += 2) {
        dst[i] = src[i]!;
        dst[i + 1] = src[i + 1]! ^ 0x80000000;
      }
      break;
    default: {
      const w = wordsPerElement(type);
      if (src !== dst) dst.set(src.subarray(w * from, w * to), w * from);
    }
  }
}

/** The inverse of toKeys, for every type; a NaN's key gives a NaN back. */
export function fromKeys(src: Words, dst: Words, type: SortType, from: number, to: number): void {
  switch (type) {
    case SortType.Float32:
      for (let i = from; i < to; i++) {
        const k = src[i]!;
        dst[i] = k & 0x80000000 ? k ^ 0x80000000 : ~k;
      }
      break;
    case SortType.Float64:
      for (let i = 2 * from; i < 2 * to; i += 2) {
        const lo = src[i]!;
        const hi = src[i + 1]!;
        if (hi & 0x80000000) {
          dst[i] = lo;
          dst[i + 1] = hi ^ 0x80000000;
        } else {
          dst[i] = ~lo;
          dst[i + 1] = ~hi;
        }
      }
      break;
    default:
      toKeys(src, dst, type, from, to); // the other maps are their own inverses
  }
}

// ---- radix passes ----------------------------------------------------------------------------

/**
 * Sorts n keys (w words each) by their low `bytes` bytes, stably, between `keys` and `tmp`, with
 * `idx` moving beside them when given. Returns true when the result ended in `tmp` (and
 * `idxTmp`). Stops early, leaving an unspecified order, once ctx reports cancellation.
 *
 * Counts and places are Int32Array elements, which V8 moves keys by about 20% faster than by
 * doubles (1e7 doubles: 0.75 s instead of 1.0 s in one process on the development VM); `wide`
 * (keys of 2^31 words or more, or a test) takes Float64Array ones, exact to 2^53.
 */
export function radix(n: number, w: 1 | 2, bytes: number, keys: Words, tmp: Words, idx: Indices | undefined, idxTmp: Indices | undefined, ctx: KernelContext, wide = n * w >= 2 ** 31): boolean {
  const counts = histograms(keys, n, w, bytes, wide ? new Float64Array(256 * bytes) : new Int32Array(256 * bytes));
  // Each bucket's next place: a word position (an element's for the indexed passes, which
  // place an index too).
  const step = idx === undefined ? w : 1;
  const next = wide ? new Float64Array(256) : new Int32Array(256);
  let inTmp = false;
  for (let d = 0; d < bytes; d++) {
    const count = counts.subarray(256 * d, 256 * d + 256);
    const word = w === 2 ? d >> 2 : 0;
    const shift = 8 * (d & 3);
    if (count[(keys[word]! >>> shift) & 0xff] === n) continue; // this byte is the same in every key
    if (ctx.cancelled()) return inTmp;
    const src = inTmp ? tmp : keys;
    const dst = inTmp ? keys : tmp;
    for (let b = 0, at = 0; b < 256; b++) {
      next[b] = at;
      at += count[b]! * step;
    }
    if (w === 1) pass1(src, dst, n, shift, next, inTmp ? idxTmp : idx, inTmp ? idx : idxTmp, ctx);
    else pass2(src as Uint32Array, dst as Uint32Array, n, word, shift, next, inTmp ? idxTmp : idx, inTmp ? idx : idxTmp, ctx);
    inTmp = !inTmp;
  }
  return inTmp;
}

/** One histogram of 256 counts per key byte, all from one read of the keys, added to `counts`. */
export function histograms<C extends Places>(keys: Words, n: number, w: 1 | 2, bytes: number, counts: C): C {
  if (w === 2) {
    for (let i = 0; i < 2 * n; i += 2) {
      const lo = keys[i]!;
      const hi = keys[i + 1]!;
      counts[lo & 0xff]++;
      counts[256 + ((lo >>> 8) & 0xff)]++;
      counts[512 + ((lo >>> 16) & 0xff)]++;
      counts[768 + (lo >>> 24)]++;
      counts[1024 + (hi & 0xff)]++;
      counts[1280 + ((hi >>> 8) & 0xff)]++;
      counts[1536 + ((hi >>> 16) & 0xff)]++;
      counts[1792 + (hi >>> 24)]++;
    }
  } else if (bytes === 4) {
    for (let i = 0; i < n; i++) {
      const k = keys[i]!;
      counts[k & 0xff]++;
      counts[256 + ((k >>> 8) & 0xff)]++;
      counts[512 + ((k >>> 16) & 0xff)]++;
      counts[768 + (k >>> 24)]++;
    }
  } else {
    for (let i = 0; i < n; i++) {
      const k = keys[i]!;
      counts[k & 0xff]++;
      if (bytes === 2) counts[256 + (k >>> 8)]++;
    }
  }
  return counts;
}

/** Next places by bucket: Int32Array where they fit in 31 bits, else Float64Array. */
type Places = Int32Array | Float64Array;

function pass1(src: Words, dst: Words, n: number, shift: number, next: Places, idx: Indices | undefined, idxTo: Indices | undefined, ctx: KernelContext): void {
  for (let begin = 0; begin < n; begin += BLOCK) {
    if (begin > 0 && ctx.cancelled()) return;
    const end = Math.min(n, begin + BLOCK);
    if (idx === undefined) {
      for (let i = begin; i < end; i++) {
        const k = src[i]!;
        dst[next[(k >>> shift) & 0xff]++] = k;
      }
    } else {
      for (let i = begin; i < end; i++) {
        const k = src[i]!;
        const to = next[(k >>> shift) & 0xff]++;
        dst[to] = k;
        idxTo![to] = idx[i]!;
      }
    }
  }
}

function pass2(src: Uint32Array, dst: Uint32Array, n: number, word: number, shift: number, next: Places, idx: Indices | undefined, idxTo: Indices | undefined, ctx: KernelContext): void {
  for (let begin = 0; begin < n; begin += BLOCK) {
    if (begin > 0 && ctx.cancelled()) return;
    const end = Math.min(n, begin + BLOCK);
    // One loop per case, with nothing decided per element: V8 keeps each loop monomorphic.
    if (idx !== undefined) pass2Indexed(src, dst, begin, end, word, shift, next, idx, idxTo!);
    else if (word === 0) pass2Low(src, dst, begin, end, shift, next);
    else pass2High(src, dst, begin, end, shift, next);
  }
}

function pass2Low(src: Uint32Array, dst: Uint32Array, begin: number, end: number, shift: number, next: Places): void {
  for (let i = 2 * begin; i < 2 * end; i += 2) {
    const lo = src[i]!;
    const b = (lo >>> shift) & 0xff;
    const to = next[b]!;
    next[b] = to + 2;
    dst[to] = lo;
    dst[to + 1] = src[i + 1]!;
  }
}

function pass2High(src: Uint32Array, dst: Uint32Array, begin: number, end: number, shift: number, next: Places): void {
  for (let i = 2 * begin; i < 2 * end; i += 2) {
    const hi = src[i + 1]!;
    const b = (hi >>> shift) & 0xff;
    const to = next[b]!;
    next[b] = to + 2;
    dst[to] = src[i]!;
    dst[to + 1] = hi;
  }
}

function pass2Indexed(src: Uint32Array, dst: Uint32Array, begin: number, end: number, word: number, shift: number, next: Places, idx: Indices, idxTo: Indices): void {
  for (let i = begin; i < end; i++) {
    const lo = src[2 * i]!;
    const hi = src[2 * i + 1]!;
    const to = next[((word === 0 ? lo : hi) >>> shift) & 0xff]++;
    dst[2 * to] = lo;
    dst[2 * to + 1] = hi;
    idxTo[to] = idx[i]!;
  }
}

export function wordsLike(words: Words, buffer: ArrayBufferLike, offset: number, length: number): Words {
  if (words instanceof Uint8Array) return new Uint8Array(buffer, offset, length);
  if (words instanceof Uint16Array) return new Uint16Array(buffer, offset, length);
  return new Uint32Array(buffer, offset, length);
}

export function checkEndianness(): void {
  if (!LITTLE_ENDIAN) throw new Error('sort: the JS twin reads 8-byte elements as little-endian words; this machine is big-endian');
}

// ---- entry points ----------------------------------------------------------------------------

/** Sorts `array` (of element type `type`) in place in V8's order. */
export function sortTwin(array: SortableArray, type: SortType, ctx: KernelContext): void {
  checkEndianness();
  const n = array.length;
  if (n < 2) {
    ctx.progress(n);
    return;
  }
  const words = wordsOf(array, type);
  const w = wordsPerElement(type);
  const buffer = scratch(words.byteLength);
  try {
    const tmp = wordsLike(words, buffer, 0, words.length);
    toKeys(words, words, type, 0, n);
    const inTmp = radix(n, w, keyBytes(type), words, tmp, undefined, undefined, ctx);
    if (ctx.cancelled()) return;
    for (let begin = 0; begin < n; begin += BLOCK) {
      const end = Math.min(n, begin + BLOCK);
      fromKeys(inTmp ? tmp : words, words, type, begin, end);
      ctx.progress(end - begin);
    }
  } finally {
    keep(buffer);
  }
}

/** The stable permutation that sorts `array`, written into `out`; `array` is only read. */
export function argsortTwin(array: SortableArray, type: SortType, out: Indices, ctx: KernelContext): void {
  checkEndianness();
  const n = array.length;
  const words = wordsOf(array, type);
  const w = wordsPerElement(type);
  const keyBytesTotal = Math.ceil(words.byteLength / 8) * 8;
  const indexBytes = n * out.BYTES_PER_ELEMENT;
  const buffer = scratch(2 * keyBytesTotal + indexBytes);
  try {
    const keys = wordsLike(words, buffer, 0, words.length);
    const tmp = wordsLike(words, buffer, keyBytesTotal, words.length);
    const idxTmp = out instanceof Uint32Array ? new Uint32Array(buffer, 2 * keyBytesTotal, n) : new Float64Array(buffer, 2 * keyBytesTotal, n);
    toKeys(words, keys, type, 0, n);
    for (let i = 0; i < n; i++) out[i] = i;
    const inTmp = n < 2 ? false : radix(n, w, keyBytes(type), keys, tmp, out, idxTmp, ctx);
    if (ctx.cancelled()) return;
    if (inTmp) out.set(idxTmp);
    ctx.progress(n);
  } finally {
    keep(buffer);
  }
}
