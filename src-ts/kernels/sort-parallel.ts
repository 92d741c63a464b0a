// sort and argsort on the worker backend, as split calls (backends/split-call.ts, Kernel.split
// and Kernel.nextRound): shared out over the workers for a large array, and kept off the pool's
// thread's clone path for any large array.
//
// Shared out: an array over a SharedArrayBuffer is sorted where it is by every worker at once,
// in rounds. The algorithm is the one-worker twin's LSD radix sort (sort-twin.ts), each of its
// passes shared out by slices of the array:
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
// argsort runs the same rounds with the indices moving beside the keys ("indexed" parts). The
// array is only read: the count round writes its keys and the identity permutation into the
// scratch's first key and index regions, and the passes move both between those and the second
// regions. A last round of one part (collect) copies the sorted indices into a fresh array of
// the worker's and moves it (no copy) to the pool's thread as the call's result.
//
// Staged: structured clone, the worker backend's way of sending arguments, is slow for big typed
// arrays: on the development VM it blocked the pool's thread for about 300 ms to send 1e7
// doubles, and the sorted copy's way back cost as much again in the workers. So an ordinary
// (not shared) array from STAGE_MIN bytes is copied by the pool's thread into a
// SharedArrayBuffer kept for the purpose (a memcpy: about 7 ms for 1e7 doubles), sorted there
// as above (shared out when it can be, else by one worker: the "whole" round), and copied back
// into the caller's array when the sort has succeeded. A fresh buffer's pages are faulted in
// by the workers first (the "touch" round, sliced like the round after it): on the development
// VM, faulting 80 MB in took the thread that did it about 230 ms. argsort's result likewise
// comes back moved, never cloned: a large argsort always runs as a split call, shared out or
// whole.
//
// Slices are 2^sliceBits elements (the last one shorter), so a destination's slice is a shift.
// Invariants: within a round parts never write the same memory (each pass part writes its own
// range of each bucket; count and finish parts write their own slice); a round starts only
// once every part of the previous one has replied, and a part replies after its writes, so each
// round sees everything the one before wrote. progress counts elements as the finish round
// writes them back (argsort: as the collect round copies them; a whole part: as the twin counts
// them): it reaches the array's length exactly when the sort has succeeded. The array holds
// keys, not values, between the first pass and the finish: a cancelled or failed sort leaves its
// contents unspecified, as the one-worker twin and the native backend do (a staged sort leaves
// the caller's array as it was: only a successful one copies back).
//
// Memory: one SharedArrayBuffer per call, taken when the call is split and given back once its
// last round has succeeded: the staged copy (when staged, rounded up to 8 bytes), then the
// scratch (shared out only): the array's byte length for sort; for argsort two key regions
// (each the array's byte length, rounded up to 8 bytes; one when staged, whose keys are made in
// the staged copy) and two index regions (4 bytes per element). Buffers come from staging.ts,
// which keeps a few for later calls (a cancelled or failed call's is left to the garbage
// collector). The worker backend hands a split call's buffer out when it dispatches the call,
// which it does for the calls it runs and the few it queues for its workers, not for the
// pool's whole queue.
import { isSharedArrayBuffer } from 'node:util/types';
import { withTransfer } from '../task.js';
import { giveBackStaging, STAGE_MIN, takeStaging } from './staging.js';
import {
  argsortTwin,
  BLOCK,
  checkEndianness,
  CONSTRUCTORS,
  copyElements,
  fromKeys,
  histograms,
  keyBytes,
  sortTwin,
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
/** From this many bytes an ordinary array is staged rather than cloned to a worker (staging.ts), and an argsort's indices come back moved. */
export { STAGE_MIN };

/** Counts, offsets: per byte value. */
const RADIX = 256;

const enum Round {
  Count,
  Pass,
  Finish,
  /** argsort, shared out: one part copies the sorted indices into the result. */
  Collect,
  /** One part runs the one-worker twin on the whole (staged or shared) array. */
  Whole,
  /** Staged into a fresh buffer: the parts fault its pages in, before the pool's thread copies the array there. */
  Touch,
}

/** What a part of a split sort or argsort does; the part's argument tuple is [part]. */
export interface SortPart {
  readonly round: Round;
  /** The array the workers sort: the caller's on a SharedArrayBuffer, or the staged copy. */
  readonly array: SortableArray;
  readonly type: SortType;
  /** argsort: indices move with the keys; the result is the indices. */
  readonly indexed: boolean;
  /** argsort: the result is a Float64Array (2^32 elements or more), else a Uint32Array. */
  readonly wide: boolean;
  /** Whether `array` is a staged copy, to be copied back into the caller's on success (sort). */
  readonly staged: boolean;
  /** Whether the call is shared out (count, pass... rounds) rather than run whole. */
  readonly parallel: boolean;
  /** The call's buffer: the staged copy, then the scratch from byte scratchAt. */
  readonly buffer: SharedArrayBuffer;
  readonly scratchAt: number;
  /** The part's slice [from, to) of the array. */
  readonly from: number;
  readonly to: number;
  readonly sliceBits: number;
  /** The key bytes that differ between keys, lowest first, one pass each (known after count). */
  readonly digits: readonly number[];
  /** Which of them this round moves by. */
  readonly pass: number;
  /** A pass part's start in each bucket. */
  readonly next: Int32Array | undefined;
}

/** Whether validated sort or argsort arguments are a part of a split call ([part]) rather than a whole call (2 or 4 arguments). */
export function isSortPart(args: readonly unknown[]): boolean {
  return args.length === 1;
}

/**
 * Where a part's keys move: `a` holds them after the count round, each pass moves them from `a`
 * to `b` or back. For sort, `a` is the scratch and `b` the array's own memory. For argsort the
 * array is only read: both are in the scratch, followed by the index regions that move
 * alongside; a staged array is the call's own copy, so its keys are made in place (`a` is the
 * staged copy) and the scratch holds `b` and the indices.
 */
interface Regions {
  a: Words;
  b: Words;
  indexA?: Uint32Array;
  indexB?: Uint32Array;
}

function regionsOf(words: Words, w: 1 | 2, part: SortPart): Regions {
  const { buffer, scratchAt: at, indexed, staged } = part;
  if (!indexed) return { a: wordsLike(words, buffer, at, words.length), b: words };
  const n = words.length / w;
  const keyBytes = roundUp8(words.byteLength);
  const indexAt = staged ? at + keyBytes : at + 2 * keyBytes;
  return {
    a: staged ? words : wordsLike(words, buffer, at, words.length),
    b: wordsLike(words, buffer, staged ? at : at + keyBytes, words.length),
    indexA: new Uint32Array(buffer, indexAt, n),
    indexB: new Uint32Array(buffer, indexAt + 4 * n, n),
  };
}

/** Scratch bytes a shared-out call needs beside its staged copy, if any: see regionsOf. */
function scratchBytesOf(byteLength: number, n: number, indexed: boolean, staged: boolean): number {
  if (!indexed) return byteLength;
  return (staged ? 1 : 2) * roundUp8(byteLength) + 8 * n;
}

/** Region sizes rounded up to 8 bytes keep the regions after them aligned for every view. */
function roundUp8(bytes: number): number {
  return Math.ceil(bytes / 8) * 8;
}

// ---- the pool's thread: planning the rounds --------------------------------------------------

/** Kernel.split for sort (validated arguments [array, type]). */
export function splitSort(args: readonly unknown[], parts: number): unknown[][] {
  return split(args, parts, false);
}

/** Kernel.split for argsort (validated arguments [array, type, result indices, index type]). */
export function splitArgsort(args: readonly unknown[], parts: number): unknown[][] {
  return split(args, parts, true);
}

/**
 * The first round of the call's parts, or [args] (the call as it is: one worker, its
 * arguments cloned) when neither sharing out nor staging is worth it.
 */
function split(args: readonly unknown[], parts: number, indexed: boolean): unknown[][] {
  const [array, type] = args as [SortableArray, SortType];
  const n = array.length;
  const shared = isSharedArrayBuffer(array.buffer);
  const big = array.byteLength >= STAGE_MIN;
  const parallel = parts >= 2 && n >= PARALLEL_MIN && n < PARALLEL_MAX;
  // Not worth a split call: a small array (cloned), or a sort of a shared one on one worker
  // (sorted where it is, nothing cloned).
  if (!big || (shared && !parallel && !indexed)) return [args as unknown[]];
  const staged = !shared;
  const stagedBytes = staged ? roundUp8(array.byteLength) : 0;
  const scratchBytes = parallel ? scratchBytesOf(array.byteLength, n, indexed, staged) : 0;
  const { buffer, fresh } = takeStaging(stagedBytes + scratchBytes);
  const target = staged ? new CONSTRUCTORS[type]!(buffer, 0, n) : array;
  const base = { array: target, type, indexed, wide: args[3] === 1, staged, parallel, buffer, scratchAt: stagedBytes, digits: [], pass: -1, next: undefined };
  // Slices of a power of two elements, at most `parts` of them (at least half as many): each
  // part's message costs a round trip, which on a loaded machine costs milliseconds.
  const sliceBits = parallel ? Math.ceil(Math.log2(n / parts)) : 0;
  const slices = parallel ? slicesOf(n, sliceBits) : [[0, n] as [number, number]];
  // A fresh buffer's first touch costs a page fault per 4 KiB (about 23 ms per 8 MB on the
  // development VM): the workers take those in a round of their own, so that the pool's thread's
  // copy into it (nextSortRound) is only a copy.
  if (staged && fresh) return slices.map(([from, to]) => [{ ...base, round: Round.Touch, from, to, sliceBits } satisfies SortPart]);
  if (staged) copyElements(target, array);
  return slices.map(([from, to]) => [{ ...base, round: parallel ? Round.Count : Round.Whole, from, to, sliceBits } satisfies SortPart]);
}

function slicesOf(n: number, sliceBits: number): [number, number][] {
  const size = 2 ** sliceBits;
  const out: [number, number][] = [];
  for (let from = 0; from < n; from += size) out.push([from, Math.min(n, from + size)]);
  return out;
}

/**
 * Kernel.nextRound, for sort and argsort: the next round's parts from the one that ended, or
 * undefined after the last (a staged sort's result then copied into the caller's array).
 */
export function nextSortRound(results: unknown[], pieces: readonly (readonly unknown[])[], args: readonly unknown[]): unknown[][] | undefined {
  const done = pieces.map((piece) => piece[0] as SortPart);
  const first = done[0]!;
  const { array, round } = first;
  const n = array.length;
  if (round === Round.Touch) {
    copyElements(array, args[0] as SortableArray);
    return done.map((part) => [{ ...part, round: part.parallel ? Round.Count : Round.Whole } satisfies SortPart]);
  }
  let digits: number[];
  let pass: number;
  /** counts[q][v]: keys in slice q whose byte digits[pass] is v. */
  let counts: (Int32Array | Float64Array)[];
  if (round === Round.Count) {
    // Each part counted every byte of its own slice; a byte with one value throughout is skipped.
    const perSlice = results as Int32Array[];
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
    digits = first.digits as number[];
    pass = first.pass + 1;
    counts = done.map(() => new Float64Array(RADIX));
    if (pass < digits.length) {
      for (const c of results as Uint32Array[]) {
        for (let q = 0; q < counts.length; q++) for (let v = 0; v < RADIX; v++) counts[q]![v]! += c[q * RADIX + v]!;
      }
    }
  } else {
    // The last round (finish, collect or whole) succeeded.
    if (first.staged && !first.indexed) copyElements(args[0] as SortableArray, array);
    giveBackStaging(first.buffer);
    return undefined;
  }
  if (pass === digits.length) {
    if (first.indexed) return [[{ ...first, round: Round.Collect, from: 0, to: n, digits, pass, next: undefined } satisfies SortPart]];
    return done.map((part) => [{ ...part, round: Round.Finish, digits, pass, next: undefined } satisfies SortPart]);
  }
  const next = startsOf(counts);
  return done.map((part, q) => [{ ...part, round: Round.Pass, digits, pass, next: next[q] } satisfies SortPart]);
}

/** Each slice's start in each bucket: the buckets in value order, each slice's share in slice order. */
function startsOf(counts: (Int32Array | Float64Array)[]): Int32Array[] {
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

/**
 * Runs one part of a split sort or argsort (a tuple made above); its result is for
 * nextSortRound, and for a collect or whole argsort part the call's indices, moved to the
 * pool's thread.
 */
export function runSortPart(args: readonly unknown[], ctx: KernelContext): unknown {
  checkEndianness();
  const part = args[0] as SortPart;
  const { array, type, round, from, to, indexed, digits, pass } = part;
  if (round === Round.Touch) {
    touch(array, from, to);
    return 0;
  }
  if (round === Round.Whole) {
    if (!indexed) {
      sortTwin(array, type, ctx);
      return 0;
    }
    const out = part.wide ? new Float64Array(array.length) : new Uint32Array(array.length);
    argsortTwin(array, type, out, ctx);
    return withTransfer(out, [out.buffer]);
  }
  const words = wordsOf(array, type);
  const w = wordsPerElement(type);
  const { a, b, indexA, indexB } = regionsOf(words, w, part);
  switch (round) {
    case Round.Count:
      return count(words, a, indexA, type, w, from, to, ctx);
    case Round.Pass: {
      // Pass 0 moves from `a` to `b`, pass 1 back, and so on.
      const even = pass % 2 === 0;
      const following = pass + 1 < digits.length ? digits[pass + 1]! : -1;
      const moving = { src: even ? a : b, dst: even ? b : a, index: even ? indexA : indexB, indexTo: even ? indexB : indexA };
      return move(moving, w, from, to, digits[pass]!, part.next!, following, part.sliceBits, ctx);
    }
    case Round.Collect:
      return collect(digits.length % 2 === 0 ? indexA! : indexB!, ctx);
    default:
      finish(digits.length % 2 === 0 ? a : b, words, type, from, to, digits.length === 0, ctx);
      return 0;
  }
}

/** Faults in the pages of array[from, to): one write per 4 KiB. */
function touch(array: SortableArray, from: number, to: number): void {
  const bytes = new Uint8Array(array.buffer, array.byteOffset + from * array.BYTES_PER_ELEMENT, (to - from) * array.BYTES_PER_ELEMENT);
  for (let at = 0; at < bytes.length; at += 4096) bytes[at] = 0;
}

/** The sorted indices, copied into a fresh array that moves to the pool's thread (positions are below 2^31: a Uint32Array). */
function collect(sorted: Uint32Array, ctx: KernelContext): unknown {
  const out = new Uint32Array(sorted.length);
  for (let begin = 0; begin < sorted.length; begin += BLOCK) {
    if (begin > 0 && ctx.cancelled()) return undefined;
    const end = Math.min(sorted.length, begin + BLOCK);
    out.set(sorted.subarray(begin, end), begin);
    ctx.progress(end - begin);
  }
  return withTransfer(out, [out.buffer]);
}

/**
 * Writes the keys of [from, to) into `keys` (and, for argsort, each position into `index`);
 * counts of each key byte's values, 256 per byte.
 */
function count(words: Words, keys: Words, index: Uint32Array | undefined, type: SortType, w: 1 | 2, from: number, to: number, ctx: KernelContext): Int32Array | undefined {
  const bytes = keyBytes(type);
  const counts = new Int32Array(RADIX * bytes); // a slice has fewer than 2^31 elements (PARALLEL_MAX)
  // In blocks, so each block's keys are counted while still in cache.
  const step = 1 << 14;
  for (let at = from; at < to; at += step) {
    if (at > from && (at - from) % BLOCK === 0 && ctx.cancelled()) return undefined;
    const end = Math.min(to, at + step);
    toKeys(words, keys, type, at, end);
    histograms(keys.subarray(w * at, w * end), end - at, w, bytes, counts);
    if (index !== undefined) for (let i = at; i < end; i++) index[i] = i;
  }
  return counts;
}

/** A pass's source and destination keys, and for argsort the indices moving with them. */
interface Moving {
  src: Words;
  dst: Words;
  index: Uint32Array | undefined;
  indexTo: Uint32Array | undefined;
}

/**
 * Moves the keys of src[from, to) to dst, stably, by byte `digit`, each to next[its value]
 * (advanced as it goes), and their indices likewise when there are any. When `following` is a
 * byte (not -1), returns how many keys landed in each slice with each value of that byte: 256
 * counts per slice.
 */
function move({ src, dst, index, indexTo }: Moving, w: 1 | 2, from: number, to: number, digit: number, next: Int32Array, following: number, sliceBits: number, ctx: KernelContext): Uint32Array | 0 {
  const slices = Math.ceil(src.length / w / 2 ** sliceBits);
  const counts = following >= 0 ? new Uint32Array(RADIX * slices) : undefined;
  for (let begin = from; begin < to; begin += BLOCK) {
    if (begin > from && ctx.cancelled()) return 0;
    const end = Math.min(to, begin + BLOCK);
    if (index !== undefined) {
      if (w === 1) move1Indexed(src, dst, index, indexTo!, begin, end, 8 * digit, next, counts, 8 * following, sliceBits);
      else move2Indexed(src as Uint32Array, dst as Uint32Array, index, indexTo!, begin, end, digit, next, counts, following, sliceBits);
    } else if (w === 1) move1(src, dst, begin, end, 8 * digit, next, counts, 8 * following, sliceBits);
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

// The same two loops with the indices moving beside the keys (argsort). Copies rather than one
// loop with an `index !== undefined` test per element, for the reason above: each stays one
// straight loop for V8.

function move1Indexed(src: Words, dst: Words, index: Uint32Array, indexTo: Uint32Array, begin: number, end: number, shift: number, next: Int32Array, counts: Uint32Array | undefined, nextShift: number, sliceBits: number): void {
  if (counts === undefined) {
    for (let i = begin; i < end; i++) {
      const k = src[i]!;
      const at = next[(k >>> shift) & 0xff]++;
      dst[at] = k;
      indexTo[at] = index[i]!;
    }
    return;
  }
  for (let i = begin; i < end; i++) {
    const k = src[i]!;
    const at = next[(k >>> shift) & 0xff]++;
    dst[at] = k;
    indexTo[at] = index[i]!;
    counts[((at >>> sliceBits) << 8) | ((k >>> nextShift) & 0xff)]++;
  }
}

function move2Indexed(src: Uint32Array, dst: Uint32Array, index: Uint32Array, indexTo: Uint32Array, begin: number, end: number, digit: number, next: Int32Array, counts: Uint32Array | undefined, following: number, sliceBits: number): void {
  const word = digit >> 2;
  const shift = 8 * (digit & 3);
  if (counts === undefined) {
    for (let i = begin; i < end; i++) {
      const lo = src[2 * i]!;
      const hi = src[2 * i + 1]!;
      const at = next[((word === 0 ? lo : hi) >>> shift) & 0xff]++;
      dst[2 * at] = lo;
      dst[2 * at + 1] = hi;
      indexTo[at] = index[i]!;
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
    indexTo[at] = index[i]!;
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
