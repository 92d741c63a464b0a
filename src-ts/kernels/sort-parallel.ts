// sort shared out over the worker backend's workers: an array over a SharedArrayBuffer is sorted
// where it is by every worker at once, as the rounds of one split call (backends/split-call.ts,
// Kernel.nextRound). The algorithm is the one-worker twin's LSD radix sort (sort-twin.ts), each
// of its passes shared out by slices of the array:
//   count    each part turns its slice's elements into keys, written into a shared scratch buffer
//            at the same positions (the array is only read), and counts every key byte's values;
//   pass     one round per key byte that is not the same in every key, lowest first: the pool's
//            thread turns the per-slice counts of that byte into each slice's start in each of
//            the 256 buckets, and each part moves its slice's keys there, between the scratch
//            and the array's own memory, stably. While it moves them it counts the next byte's
//            values per slice of where each key lands, which are the next pass's slices;
//   finish   each part turns its slice of the sorted keys back into values in the array.
// So the workers together do the one-worker sort's work and little more. Sorting buckets in
// cache after a most-significant-digit scatter, as the C++ kernel does (src-cpp/core/sort/),
// measured slower here: a JavaScript pass costs about as much in cache as out of it, and the
// extra rounds that plan needs (min/max, histogram) outweighed the second worker on two cores.
//
// Slices are 2^sliceBits elements (the last one shorter), so a destination's slice is a shift.
// Invariants: within a round parts never write the same memory (each pass part writes its own
// range of each bucket; count and finish parts write their own slice); a round starts only
// once every part of the previous one has replied, and a part replies after its writes, so each
// round sees everything the one before wrote. progress counts elements as the finish round
// writes them back: it reaches the array's length exactly when the sort has succeeded. The
// array holds keys, not values, between the first pass and the finish: a cancelled or failed
// sort leaves its contents unspecified, as the one-worker twin and the native backend do.
//
// Scratch: one SharedArrayBuffer of the array's byte length, taken when the call is split and
// given back once the finish round has succeeded; one (the largest, up to KEEP_MAX) is kept on
// the pool's thread for the next parallel sort. A cancelled or failed sort drops its scratch to
// the garbage collector.
//
// argsort is not shared out: it runs in one worker (sort-twin.ts's argsortTwin).
import { isSharedArrayBuffer } from 'node:util/types';
import {
  BLOCK,
  checkEndianness,
  fromKeys,
  histograms,
  KEEP_MAX,
  keyBytes,
  toKeys,
  wordsLike,
  wordsOf,
  wordsPerElement,
  type SortableArray,
  type SortType,
  type Words,
} from './sort-twin.js';
import type { KernelContext } from './types.js';

/**
 * From this many elements a sort on a SharedArrayBuffer is shared out when the pool has several
 * workers. The shared-out sort does about 1.2-1.35x the one-worker sort's CPU work (the per-slice
 * counting in each pass) plus a message round trip per round (up to 10 rounds). Measured on the
 * 2-vCPU development VM in a quiet minute: two workers 1.13-1.20x faster than one at 2^20
 * elements, 1.3-1.5x at 2^21-2^22; forced below 2^20 (in a busier minute), 0.2-0.6x. Under other
 * jobs' load, when no second core is free, two workers are slower than one at any size (README,
 * "sort").
 */
export const PARALLEL_MIN = 1 << 20;
/** Up to this many elements (exclusive): a position in the array is then an int32, which V8 moves fastest. Beyond, one worker sorts. */
const PARALLEL_MAX = 2 ** 31;

/** Counts, offsets: per byte value. */
const RADIX = 256;

const enum Round {
  Count,
  Pass,
  Finish,
}

/**
 * One part's tuple: [array, type, round, from, to, scratch, sliceBits, digits, pass, next].
 * [from, to): the part's slice. digits: the key bytes that differ between keys, lowest first,
 * one pass each; pass: which of them this round moves by (the finish: digits.length). next:
 * a pass part's start in each bucket.
 */
type Part = [SortableArray, SortType, Round, number, number, SharedArrayBuffer, number, number[], number, Int32Array | undefined];

/** Whether validated sort arguments are one part of a shared-out sort rather than a whole sort. */
export function isSortPart(args: readonly unknown[]): boolean {
  return args.length > 2;
}

// ---- the pool's thread: planning the rounds --------------------------------------------------

let keptScratch: SharedArrayBuffer | undefined;

function takeScratch(bytes: number): SharedArrayBuffer {
  const kept = keptScratch;
  if (kept !== undefined && kept.byteLength >= bytes) {
    keptScratch = undefined;
    return kept;
  }
  return new SharedArrayBuffer(bytes);
}

function keepScratch(buffer: SharedArrayBuffer): void {
  if (buffer.byteLength <= KEEP_MAX && (keptScratch === undefined || keptScratch.byteLength < buffer.byteLength)) keptScratch = buffer;
}

/** Kernel.split: the count round, or the whole call when it is not worth sharing out. */
export function splitSort(args: readonly unknown[], parts: number): unknown[][] {
  const [array, type] = args as [SortableArray, SortType];
  const n = array.length;
  if (parts < 2 || n < PARALLEL_MIN || n >= PARALLEL_MAX || !isSharedArrayBuffer(array.buffer)) return [args as unknown[]];
  // Slices of a power of two elements, at most `parts` of them (at least half as many): each
  // part's message costs a round trip, which on a loaded machine costs milliseconds.
  const sliceBits = Math.ceil(Math.log2(n / parts));
  const scratch = takeScratch(array.byteLength);
  return slicesOf(n, sliceBits).map(([from, to]) => [array, type, Round.Count, from, to, scratch, sliceBits, [], -1, undefined] satisfies Part);
}

function slicesOf(n: number, sliceBits: number): [number, number][] {
  const size = 2 ** sliceBits;
  const out: [number, number][] = [];
  for (let from = 0; from < n; from += size) out.push([from, Math.min(n, from + size)]);
  return out;
}

/** Kernel.nextRound: the next round's parts from the one that ended, or undefined after the finish. */
export function nextSortRound(results: unknown[], pieces: readonly (readonly unknown[])[]): unknown[][] | undefined {
  const done = pieces as readonly Part[];
  const [array, type, round, , , scratch, sliceBits] = done[0]!;
  const n = array.length;
  let digits: number[];
  let pass: number;
  /** counts[q][v]: keys in slice q whose byte digits[pass] is v. */
  let counts: Float64Array[];
  if (round === Round.Count) {
    // Each part counted every byte of its own slice; a byte with one value throughout is skipped.
    const perSlice = results as Float64Array[];
    const bytes = perSlice[0]!.length / RADIX;
    digits = [];
    for (let d = 0; d < bytes; d++) {
      const total = new Float64Array(RADIX);
      for (const c of perSlice) for (let v = 0; v < RADIX; v++) total[v]! += c[d * RADIX + v]!;
      if (!total.includes(n)) digits.push(d);
    }
    pass = 0;
    counts = perSlice.map((c) => (digits.length > 0 ? c.subarray(digits[0]! * RADIX, (digits[0]! + 1) * RADIX) : c));
  } else if (round === Round.Pass) {
    // Each part counted the next byte by the slice its keys landed in: sum over parts.
    digits = done[0]![7];
    pass = done[0]![8] + 1;
    counts = done.map(() => new Float64Array(RADIX));
    if (pass < digits.length) {
      for (const c of results as Uint32Array[]) {
        for (let q = 0; q < counts.length; q++) for (let v = 0; v < RADIX; v++) counts[q]![v]! += c[q * RADIX + v]!;
      }
    }
  } else {
    keepScratch(scratch);
    return undefined;
  }
  const slices = done.map(([, , , from, to]) => [from, to] as const);
  if (pass === digits.length) {
    return slices.map(([from, to]) => [array, type, Round.Finish, from, to, scratch, sliceBits, digits, pass, undefined] satisfies Part);
  }
  const next = startsOf(counts);
  return slices.map(([from, to], q) => [array, type, Round.Pass, from, to, scratch, sliceBits, digits, pass, next[q]] satisfies Part);
}

/** Each slice's start in each bucket: the buckets in value order, each slice's share in slice order. */
function startsOf(counts: Float64Array[]): Int32Array[] {
  const starts = counts.map(() => new Int32Array(RADIX));
  for (let v = 0, at = 0; v < RADIX; v++) {
    for (let q = 0; q < counts.length; q++) {
      starts[q]![v] = at;
      at += counts[q]![v]!;
    }
  }
  return starts;
}

// ---- a worker: one part ----------------------------------------------------------------------

/** Runs one part of a shared-out sort (a tuple made above); its result is for nextSortRound. */
export function runSortPart(args: readonly unknown[], ctx: KernelContext): unknown {
  checkEndianness();
  const [array, type, round, from, to, scratch, sliceBits, digits, pass, next] = args as Part;
  const words = wordsOf(array, type);
  const keys = wordsLike(words, scratch, 0, words.length);
  const w = wordsPerElement(type);
  switch (round) {
    case Round.Count:
      return count(words, keys, type, w, from, to, ctx);
    case Round.Pass: {
      // Pass 0 reads the keys from the scratch, pass 1 from the array, and so on.
      const [src, dst] = pass % 2 === 0 ? [keys, words] : [words, keys];
      const following = pass + 1 < digits.length ? digits[pass + 1]! : -1;
      return move(src, dst, w, from, to, digits[pass]!, next!, following, sliceBits, ctx);
    }
    default:
      finish(digits.length % 2 === 0 ? keys : words, words, type, from, to, digits.length === 0, ctx);
      return 0;
  }
}

/** Writes the keys of [from, to) into `keys`; counts of each key byte's values, 256 per byte. */
function count(words: Words, keys: Words, type: SortType, w: 1 | 2, from: number, to: number, ctx: KernelContext): Float64Array | undefined {
  const bytes = keyBytes(type);
  const counts = new Float64Array(RADIX * bytes);
  // In blocks, so each block's keys are counted while still in cache.
  const step = 1 << 14;
  for (let at = from; at < to; at += step) {
    if (at > from && (at - from) % BLOCK === 0 && ctx.cancelled()) return undefined;
    const end = Math.min(to, at + step);
    toKeys(words, keys, type, at, end);
    histograms(keys.subarray(w * at, w * end), end - at, w, bytes, counts);
  }
  return counts;
}

/**
 * Moves the keys of src[from, to) to dst, stably, by byte `digit`, each to next[its value]
 * (advanced as it goes). When `following` is a byte (not -1), returns how many keys landed in
 * each slice with each value of that byte: 256 counts per slice.
 */
function move(src: Words, dst: Words, w: 1 | 2, from: number, to: number, digit: number, next: Int32Array, following: number, sliceBits: number, ctx: KernelContext): Uint32Array | 0 {
  const slices = Math.ceil(src.length / w / 2 ** sliceBits);
  const counts = following >= 0 ? new Uint32Array(RADIX * slices) : undefined;
  for (let begin = from; begin < to; begin += BLOCK) {
    if (begin > from && ctx.cancelled()) return 0;
    const end = Math.min(to, begin + BLOCK);
    if (w === 1) move1(src, dst, begin, end, 8 * digit, next, counts, 8 * following, sliceBits);
    else move2(src as Uint32Array, dst as Uint32Array, begin, end, digit, next, counts, following, sliceBits);
  }
  return counts ?? 0;
}

// One loop per case, with nothing decided per element: V8 keeps each loop monomorphic. A key's
// slice is `at >>> sliceBits`: positions are below 2^31 (PARALLEL_MAX).

function move1(src: Words, dst: Words, begin: number, end: number, shift: number, next: Int32Array, counts: Uint32Array | undefined, nextShift: number, sliceBits: number): void {
  if (counts === undefined) {
    for (let i = begin; i < end; i++) {
      const k = src[i]!;
      dst[next[(k >>> shift) & 0xff]++] = k;
    }
    return;
  }
  for (let i = begin; i < end; i++) {
    const k = src[i]!;
    const at = next[(k >>> shift) & 0xff]++;
    dst[at] = k;
    counts[((at >>> sliceBits) << 8) | ((k >>> nextShift) & 0xff)]++;
  }
}

function move2(src: Uint32Array, dst: Uint32Array, begin: number, end: number, digit: number, next: Int32Array, counts: Uint32Array | undefined, following: number, sliceBits: number): void {
  // Byte d of a key is byte d & 3 of word d >> 2 (low word first).
  const word = digit >> 2;
  const shift = 8 * (digit & 3);
  // The word is picked by a condition that never changes within the loop (measured faster than
  // reading it again at 2 * i + word).
  if (counts === undefined) {
    for (let i = begin; i < end; i++) {
      const lo = src[2 * i]!;
      const hi = src[2 * i + 1]!;
      const at = 2 * next[((word === 0 ? lo : hi) >>> shift) & 0xff]++;
      dst[at] = lo;
      dst[at + 1] = hi;
    }
    return;
  }
  const nextWord = following >> 2;
  const nextShift = 8 * (following & 3);
  for (let i = begin; i < end; i++) {
    const lo = src[2 * i]!;
    const hi = src[2 * i + 1]!;
    const at = next[((word === 0 ? lo : hi) >>> shift) & 0xff]++;
    dst[2 * at] = lo;
    dst[2 * at + 1] = hi;
    counts[((at >>> sliceBits) << 8) | (((nextWord === 0 ? lo : hi) >>> nextShift) & 0xff)]++;
  }
}

/**
 * Turns the sorted keys of [from, to) back into values in the array (`words`), reporting each
 * block as progress. `unmoved`: every key was equal, so the array, never written, is sorted as
 * it is.
 */
function finish(sorted: Words, words: Words, type: SortType, from: number, to: number, unmoved: boolean, ctx: KernelContext): void {
  for (let begin = from; begin < to; begin += BLOCK) {
    if (begin > from && ctx.cancelled()) return;
    const end = Math.min(to, begin + BLOCK);
    if (!unmoved) fromKeys(sorted, words, type, begin, end);
    ctx.progress(end - begin);
  }
}
