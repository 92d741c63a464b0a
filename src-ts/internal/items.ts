// Turning map/imap inputs into validated argument tuples. A bad item fails with the kernel's
// own error class and message, prefixed with where the item was: "map: items[3]: countPrimes:
// lo must be ...".

import { describe, isArray } from '../kernels/args.js';
import type { Runnable } from '../kernels/types.js';

/** The name of the input argument, as the methods document it. */
export function inputName(spread: boolean): string {
  return spread ? 'tuples' : 'items';
}

/** One item's normalized arguments: [item] for map, the item itself for starmap. */
export function itemArgs(method: string, kernel: Runnable, item: unknown, index: number, spread: boolean): unknown[] {
  if (spread && !isArray(item)) {
    throw new TypeError(`${method}: tuples[${index}] must be an array of arguments, got ${describe(item)}`);
  }
  try {
    return kernel.validate(spread ? ownCopy(item as unknown[], 'the tuple') : [item]);
  } catch (error) {
    const where = `${method}: ${inputName(spread)}[${index}]: `;
    if (isExactly(error, RangeError)) throw new RangeError(where + error.message, { cause: error });
    if (isExactly(error, TypeError)) throw new TypeError(where + error.message, { cause: error });
    throw error;
  }
}

/**
 * The most arguments one call takes: a task is called with them spread (Reflect.apply), and V8
 * overflows its stack somewhere past 125 000. A sparse array with a length of 2^32 - 1 once
 * made the copy below run the process out of memory.
 */
export const MAX_ARGS = 65_536;

/**
 * A plain array of `args`' elements, each read once (a Proxy's traps or an index getter run once
 * per element), so a kernel's checks and its run see the same values. `name` names the array in
 * the RangeError for one longer than MAX_ARGS.
 */
export function ownCopy(args: readonly unknown[], name: string): unknown[] {
  const n = args.length;
  if (n > MAX_ARGS) throw new RangeError(`${name} has ${n} elements: a call takes at most ${MAX_ARGS} arguments`);
  const copy = new Array<unknown>(n);
  for (let i = 0; i < n; i++) copy[i] = args[i];
  return copy;
}

/**
 * The most items a map, starmap or mapAsync takes: the most elements V8 holds in one array (its
 * FixedArray limit on 64-bit machines), and their results arrive as one array. A sparse array
 * with a length of 2^32 - 1 once ran the process out of memory (V8 aborted) while its calls
 * were gathered. imap takes any number.
 */
export const MAX_MAP_ITEMS = 134_217_725;

function checkItemCount(method: string, spread: boolean, n: number): void {
  if (n > MAX_MAP_ITEMS) {
    throw new RangeError(`${method}: ${inputName(spread)} has ${n} elements, more than one array of results can hold (${MAX_MAP_ITEMS}); imap takes any number`);
  }
}

/** Every item's arguments, validated before anything is queued. */
export function allCalls(method: string, kernel: Runnable, items: unknown, spread: boolean): unknown[][] {
  let list: ArrayLike<unknown>;
  // What the input is, read through readInput too: a revoked Proxy throws at the first read.
  const iterable = !isArray(items) && items !== null && items !== undefined && readInput(method, spread, () => typeof (items as Iterable<unknown>)[Symbol.iterator] === 'function');
  if (isArray(items)) {
    list = items;
  } else if (iterable) {
    list = readInput(method, spread, () => Array.from(items as Iterable<unknown>));
  } else if (typeof items === 'object' && items !== null && readInput(method, spread, () => typeof (items as ArrayLike<unknown>).length === 'number')) {
    const arrayLike = items as ArrayLike<unknown>;
    list = readInput(method, spread, () => {
      // As Array.from reads it (ToLength), but once: the count checked is the count copied.
      const length = Number(arrayLike.length);
      const n = Number.isNaN(length) ? 0 : Math.min(Math.max(Math.trunc(length), 0), Number.MAX_SAFE_INTEGER);
      checkItemCount(method, spread, n);
      const copy = new Array<unknown>(n);
      for (let i = 0; i < n; i++) copy[i] = arrayLike[i];
      return copy;
    });
  } else {
    const what = describe(items);
    const hint = what === 'an async iterable' ? ' (the imap family takes one)' : '';
    throw new TypeError(`${method}: ${inputName(spread)} must be an iterable or an array-like, got ${what}${hint}`);
  }
  // The length read once: an item's getter may shrink the array while it is read.
  const n = list.length;
  checkItemCount(method, spread, n);
  const calls = new Array<unknown[]>(n);
  for (let i = 0; i < n; i++) calls[i] = itemArgs(method, kernel, list[i], i, spread);
  return calls;
}

/**
 * Whether `error` is an instance of the built-in class itself, not of a subclass. The engine and
 * the kernels' checks throw only the built-ins; a subclass (`class SayWhenError extends
 * TypeError`) is the caller's own error, thrown by their generator or getter, and wrapping it
 * in a plain TypeError lost its class (Python's Pool.map raises the iterable's own exception).
 */
function isExactly<C extends ErrorConstructor>(error: unknown, ctor: C): error is InstanceType<C> {
  return error instanceof ctor && Object.getPrototypeOf(error) === ctor.prototype;
}

/**
 * Runs `read` over the caller's input. A TypeError from reading it (the engine's, as for a
 * typed array over a detached buffer) comes back naming the method and the argument, with the
 * original as its cause; anything else the input's own code throws (a generator's error, an
 * error of its own TypeError subclass) is the caller's, and passes through as it is, as in
 * Python and as the imap family passes a failing source's error.
 */
function readInput<T>(method: string, spread: boolean, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (!isExactly(error, TypeError)) throw error;
    const why = error instanceof Error ? error.message : String(error);
    throw new TypeError(`${method}: ${inputName(spread)} could not be read: ${why}`, { cause: error });
  }
}

/** Calls `source.return()` if it has one; what that throws or rejects with is not the caller's concern. */
export function closeQuietly(source: Iterator<unknown> | AsyncIterator<unknown>): void {
  try {
    const closing = source.return?.();
    if (closing !== undefined && typeof (closing as PromiseLike<unknown>).then === 'function') (closing as Promise<unknown>).then(undefined, () => {});
  } catch {
    // A source whose return() throws is closed all the same.
  }
}

/** imap's input: an async iterator when the input has one, else its sync iterator. */
export function openSource(method: string, items: unknown, spread: boolean): Iterator<unknown> | AsyncIterator<unknown> {
  const input = items as Partial<AsyncIterable<unknown> & Iterable<unknown>> | null | undefined;
  if (input !== null && input !== undefined) {
    if (typeof input[Symbol.asyncIterator] === 'function') return readInput(method, spread, () => input[Symbol.asyncIterator]!());
    if (typeof input[Symbol.iterator] === 'function') return readInput(method, spread, () => input[Symbol.iterator]!());
  }
  throw new TypeError(`${method}: ${inputName(spread)} must be an iterable or an async iterable, got ${describe(items)}`);
}
