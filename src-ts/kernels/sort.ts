// sort(array) and argsort(array): V8's TypedArray.prototype.sort() order, off the main thread.
//
// sort sorts any TypedArray in place and resolves with the same array; argsort resolves with the
// stable permutation that sorts it (a Uint32Array, or a Float64Array from 2^32 elements on) and
// leaves the array alone. The C++ kernel (src-cpp/core/sort/, kernels/sort.cpp) is a parallel
// radix sort over the pool's threads; the JS twin (sort-twin.ts) a radix sort in one worker,
// which sort-parallel.ts shares out over several for a large array on a SharedArrayBuffer.
//
// What a call does with the caller's buffer (README, "sort"):
// - Native backend: sorts the array where it is, without a copy. A SharedArrayBuffer can be
//   neither detached nor shrunk. An ordinary ArrayBuffer could be transferred away while pool
//   threads write it, and N-API cannot keep a transferred buffer's memory alive, so the call marks
//   it untransferable (untransferable.ts, permanent): a later postMessage or structuredClone
//   that lists it copies it instead of moving it, and its transfer() throws. Resizable ArrayBuffers (which
//   can shrink under the sort) and detached ones are TypeErrors.
// - Worker backend: an array over a SharedArrayBuffer is sorted in place, by every worker at once
//   from PARALLEL_MIN elements when the pool has several (split, nextRound: sort-parallel.ts),
//   else by one. An ordinary array from STAGE_MIN bytes is copied into a SharedArrayBuffer on
//   the pool's thread and sorted there likewise, and copied back once sorted; a smaller one is
//   cloned to one worker, and the sorted clone written back into the caller's array
//   (fromWorker) before the call resolves. argsort likewise, its indices moved back, not cloned.
import { isDataView, isProxy, isSharedArrayBuffer } from 'node:util/types';
import { checkArity, describe, isArray, intrinsicGetter, isDetached, isGrowableShared, viewRange } from './args.js';
import { isSortPart, nextSortRound, runSortPart, splitArgsort, splitSort } from './sort-parallel.js';
import { argsortTwin, CONSTRUCTORS, copyElements, keyBytes, sortTwin, SortType, type SortableArray } from './sort-twin.js';
import { defineKernel, type ResultFn } from './types.js';
import { markUntransferable } from './untransferable.js';

export type { SortableArray } from './sort-twin.js';

/** sort's ResultFn (see kernels/types.ts): a call resolves with the array it was given, of its own type. */
export interface SameArray extends ResultFn {
  readonly result: this['args'][0];
}

/** argsort's result type: Float64Array only for arrays of 2^32 elements or more. */
export type SortIndices = Uint32Array | Float64Array;

/** Element types by the internal tag of their views ('Float64Array', ...; a Buffer's is 'Uint8Array'). */
const TYPES = new Map<string, SortType>(CONSTRUCTORS.map((ctor, type) => [ctor.name, type as SortType]));

// The view's buffer, range and type are read through the built-in getters (args.ts, viewRange):
// a length that said 0 skipped the untransferable mark, and transferring the buffer during a
// native sort then crashed the process (freed memory written by pool threads).
const toStringTag = intrinsicGetter<string | undefined>(Object.getPrototypeOf(Int8Array.prototype) as object, Symbol.toStringTag)!;
/** Absent where Node has no resizable ArrayBuffers (then none is). */
const isResizable = intrinsicGetter<boolean>(ArrayBuffer.prototype, 'resizable');

/** The elements of `array` (of element type `type`), as the engine holds them. */
function lengthOf(array: SortableArray, type: SortType): number {
  return viewRange(array).byteLength / keyBytes(type);
}

/** The element type of a genuine TypedArray (a Buffer is a Uint8Array), by its internal tag. */
function typeOf(kernel: string, array: unknown): SortType {
  if (isProxy(array)) throw new TypeError(`${kernel}: array must be a TypedArray, got a Proxy`);
  if (isArray(array)) {
    throw new TypeError(`${kernel}: array must be a TypedArray, got a plain Array; sort numbers as Float64Array.from(array) (or another TypedArray)`);
  }
  if (isDataView(array)) {
    throw new TypeError(`${kernel}: array must be a TypedArray, got a DataView (it has no element type); view its bytes as the type they hold, e.g. new Float64Array(view.buffer, view.byteOffset, view.byteLength / 8)`);
  }
  const tag = ArrayBuffer.isView(array) ? toStringTag.call(array) : undefined;
  const type = tag === undefined ? undefined : TYPES.get(tag);
  if (tag === 'Float16Array') {
    throw new TypeError(`${kernel}: array is a Float16Array, which ${kernel} does not take (yet); ${kernel} a Float32Array.from(array)${kernel === 'sort' ? ' and copy it back' : ''}`);
  }
  if (type === undefined) throw new TypeError(`${kernel}: array must be a TypedArray, got ${describe(array)}`);
  return type;
}

/** Checks the array's buffer (read through the built-in getters); marks an ordinary one untransferable (see the header). */
function checkBuffer(kernel: string, buffer: ArrayBufferLike, length: number): void {
  if (isSharedArrayBuffer(buffer)) return;
  if (isDetached(buffer)) {
    throw new TypeError(`${kernel}: array is a view over a detached ArrayBuffer (it was transferred away); pass the array where it now lives`);
  }
  if (isResizable?.call(buffer) === true) {
    throw new TypeError(`${kernel}: array's ArrayBuffer is resizable, and a sort in progress must not see it shrink; sort a fixed-length copy (array.slice())`);
  }
  // From one element: the native sort turns even a lone element into its key and back in place,
  // and argsort reads it, on a pool thread. An empty view is never read or written.
  if (length > 0 && !markUntransferable(buffer as ArrayBuffer)) {
    throw new TypeError(
      `${kernel}: array's ArrayBuffer cannot be kept where it is while it is sorted: this Node cannot refuse its transfer() (node --frozen-intrinsics before Node 24); sort an array on a SharedArrayBuffer`,
    );
  }
}

function checkArray(kernel: string, args: readonly unknown[]): [SortableArray, SortType] {
  checkArity(kernel, args, 1, 1, 'array');
  const type = typeOf(kernel, args[0]);
  const array = args[0] as SortableArray;
  const { buffer, byteOffset, byteLength } = viewRange(array);
  const length = byteLength / keyBytes(type);
  checkBuffer(kernel, buffer, length);
  return [kernelView(array, type, buffer, byteOffset, length), type];
}

/** Callers' arrays, by the views kernelView made for them. */
const callerArrays = new WeakMap<SortableArray, SortableArray>();

/**
 * The array the kernels work on: the caller's own when it is a plain instance of its built-in
 * type, else a built-in view of the same elements, which callerArray maps back to it:
 * - for a subclass (a Buffer too) or an array with own properties, so that the JS side (the
 *   twin, the worker backend's staging, argsort's index array) sees the length and buffer the
 *   native kernel sees, not what a getter says;
 * - for a view of a growable SharedArrayBuffer, a fixed-length view of the elements it had at
 *   the call. A view that tracks the buffer's length (and a worker's copy of it) would take in
 *   elements added while the sort runs, and a sort shared out over workers would see its length
 *   change between rounds (it failed with an internal RangeError); the native backend sorts the
 *   elements there were at the call.
 */
function kernelView(array: SortableArray, type: SortType, buffer: ArrayBufferLike, byteOffset: number, length: number): SortableArray {
  const ctor = CONSTRUCTORS[type]!;
  const plain = Object.getPrototypeOf(array) === ctor.prototype && !hasOwnView(array);
  if (plain && !(isSharedArrayBuffer(buffer) && isGrowableShared(buffer))) return array;
  const view = new ctor(buffer, byteOffset, length);
  callerArrays.set(view, array);
  return view;
}

/** Whether `array` has an own property that shadows a view's built-in getters. */
function hasOwnView(array: SortableArray): boolean {
  for (const name of VIEW_PROPERTIES) if (Object.prototype.hasOwnProperty.call(array, name)) return true;
  return false;
}

const VIEW_PROPERTIES = ['length', 'buffer', 'byteOffset', 'byteLength', 'BYTES_PER_ELEMENT', 'constructor'];

/** The caller's own array, for the one the kernels worked on. */
function callerArray(array: SortableArray): SortableArray {
  return callerArrays.get(array) ?? array;
}

export const sort = defineKernel<[array: SortableArray], SortableArray, SameArray>({
  name: 'sort',
  // Normalized: [array, type code]. The same array object, so both backends sort it in place.
  validate(args) {
    return checkArray('sort', args);
  },
  run(args, ctx) {
    // A part's result goes to nextRound, never to a caller; run()'s type names the caller's.
    if (isSortPart(args)) return runSortPart(args, ctx) as SortableArray;
    const array = args[0] as SortableArray;
    sortTwin(array, args[1] as SortType, ctx);
    return array;
  },
  split: splitSort,
  nextRound: nextSortRound,
  // The parts sorted the caller's array where it is.
  combine: (_results, args) => callerArray(args[0] as SortableArray),
  // The C++ kernel returns no bytes: the result is the array it sorted in place.
  fromBytes: (_bytes, _start, _end, args) => callerArray(args[0] as SortableArray),
  fromWorker(value, args) {
    if (isSortPart(args)) return value as SortableArray; // a part's result, for nextRound (as in run)
    const array = args[0] as SortableArray;
    if (!isSharedArrayBuffer(array.buffer)) copyElements(array, value as SortableArray);
    return callerArray(array);
  },
});

export const argsort = defineKernel<[array: SortableArray], SortIndices>({
  name: 'argsort',
  // Normalized: [array, type code, indices (the result, filled by the kernel), index type code].
  validate(args) {
    const [array, type] = checkArray('argsort', args);
    const n = lengthOf(array, type); // as checkArray read it
    const wide = n >= 2 ** 32;
    return [array, type, wide ? new Float64Array(n) : new Uint32Array(n), wide ? 1 : 0];
  },
  run(args, ctx) {
    // A part's result goes to nextRound, never to a caller (as in sort).
    if (isSortPart(args)) return runSortPart(args, ctx) as SortIndices;
    const out = args[2] as SortIndices;
    argsortTwin(args[0] as SortableArray, args[1] as SortType, out, ctx);
    return out;
  },
  split: splitArgsort,
  nextRound: nextSortRound,
  // A split argsort ends with one part (collect or whole) whose result is the indices.
  combine: (results) => results[0] as SortIndices,
  fromBytes: (_bytes, _start, _end, args) => args[2] as SortIndices,
});
