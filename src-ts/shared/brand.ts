// One spindle loaded twice (its ESM and CommonJS builds side by side, or two copies in
// node_modules) has two SharedCounter classes. A counter made by one must still be accepted by
// the other's pools and kernels, so `instanceof` on the shared-state classes checks a brand
// keyed with Symbol.for, which every copy shares, instead of the prototype chain.
//
// Symbol.for keys can be written by anyone, so the brand alone proves nothing: an object with
// the brand and a BigInt64Array over an ordinary ArrayBuffer as its view was taken for a
// counter, and native threads then added progress into memory the caller could free (and a
// worker given such a handle died reviving it). A handle counts only with its shape: the own,
// fixed (non-writable, non-configurable) properties its class's attach() defines, over a
// SharedArrayBuffer of the right size, checked by the shape each class registers here.

import { isSharedArrayBuffer } from 'node:util/types';
import { intrinsicGetter, isGrowableShared, reflectApply, viewRange } from '../kernels/args.js';

const kBrand = Symbol.for('spindle.shared.kind');

export type SharedKindName = 'SharedCounter' | 'SharedValue' | 'Lock';

/** Marks `target` as a handle of `kind`. Called once per instance, by the class itself. */
export function brand(target: object, kind: SharedKindName): void {
  Object.defineProperty(target, kBrand, { value: kind });
}

/** Each kind's shape check, registered by its class's module (value: an object with its brand). */
const shapes: Partial<Record<SharedKindName, (value: object) => boolean>> = {};

/** Registers the check that an object branded `kind` really is one (see the header). */
export function registerShape(kind: SharedKindName, check: (value: object) => boolean): void {
  shapes[kind] = check;
}

/** The kind of shared handle `value` is, from any copy of spindle; undefined for anything else, a look-alike included. */
export function brandOf(value: unknown): SharedKindName | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  // A Proxy's traps may throw (a revoked one always does): that is no handle either. Thrown
  // through, the engine's message ("Cannot perform 'getOwnPropertyDescriptor' on a proxy that
  // has been revoked") replaced the caller's own, which names the argument (options.progress).
  try {
    const kind = fixedOwn(value, kBrand);
    if (kind !== 'SharedCounter' && kind !== 'SharedValue' && kind !== 'Lock') return undefined;
    return shapes[kind]?.(value) === true ? kind : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The value of `value`'s own data property `key` when it can never change (non-writable and
 * non-configurable, as Object.defineProperty makes it by default), else undefined: what was
 * checked once stays true.
 */
export function fixedOwn(value: object, key: PropertyKey): unknown {
  const d = Object.getOwnPropertyDescriptor(value, key);
  return d !== undefined && 'value' in d && d.writable === false && d.configurable === false ? d.value : undefined;
}

export function hasBrand(value: unknown, kind: SharedKindName): boolean {
  return brandOf(value) === kind;
}

const ordinaryHasInstance = Function.prototype[Symbol.hasInstance];

/**
 * `value instanceof ctor` for a shared-state class (`base`) or a subclass of it. The class itself
 * accepts every genuine handle of its kind, from any copy of spindle; a subclass inherited that
 * static method, so a plain counter was an instance of every subclass too. A subclass accepts
 * only genuine handles whose prototype chain holds it.
 */
export function isSharedInstance(ctor: unknown, base: unknown, kind: SharedKindName, value: unknown): boolean {
  if (!hasBrand(value, kind)) return false;
  if (ctor === base) return true;
  try {
    return reflectApply(ordinaryHasInstance, ctor, [value]) as boolean;
  } catch {
    return false; // a Proxy whose getPrototypeOf trap throws
  }
}

const sharedByteLength = intrinsicGetter<number>(SharedArrayBuffer.prototype, 'byteLength')!;

/**
 * `buffer`'s size as the engine holds it: an own `byteLength` property (or a prototype's getter
 * replaced) must not make a buffer pass for a counter's, nor make from() fail with the
 * engine's 'Invalid typed array length' instead of its own TypeError.
 */
export function sharedSize(buffer: SharedArrayBuffer): number {
  return reflectApply(sharedByteLength, buffer, []); // not .call(): see reflectApply
}

/** Whether `buffer` is a SharedArrayBuffer of `bytes` bytes (read as the engine holds it). */
export function isSharedOfSize(buffer: unknown, bytes: number): buffer is SharedArrayBuffer {
  return isSharedArrayBuffer(buffer) && sharedSize(buffer) === bytes && !isGrowableShared(buffer);
}


/** Whether `view` is a view of `bytes` bytes at `byteOffset` in `buffer`, as the engine holds it. */
export function isViewAt(view: unknown, buffer: SharedArrayBuffer, byteOffset: number, bytes: number): boolean {
  if (!ArrayBuffer.isView(view)) return false;
  const range = viewRange(view);
  return range.buffer === buffer && range.byteOffset === byteOffset && range.byteLength === bytes;
}
