// The queue backend's codec: how arguments, results and errors travel through Redis.
//
// BullMQ stores a job's data and return value as JSON, which loses what structured clone keeps
// (-0, NaN, bigint, undefined, Dates, Maps, Sets, Buffers, typed arrays). So values travel as
// JSON in a tagged form that keeps them:
//
//   string, boolean, null, finite number other than -0   itself
//   array without holes                                   an array of encoded items
//   anything else                                         an object with exactly one key, its tag:
//     { h: [length, [[index, encoded], ...]] } an array with holes: its length and the elements
//                                   present, by ascending index (what is absent stays a hole)
//     { u: 0 } undefined            { n: 'NaN' | '-0' | 'Infinity' | '-Infinity' }
//     { i: '123' } bigint           { d: 1700000000000 | null } Date (null: an invalid Date)
//     { o: { key: encoded } } plain object (prototype Object.prototype or null)
//     { m: [[k, v], ...] } Map      { s: [v, ...] } Set
//     { B: base64 } Buffer          { a: base64 } ArrayBuffer
//     { t: ['Float64Array', base64] } any standard typed array or DataView, by its constructor's name
//                                   and its bytes alone: it arrives at byteOffset 0 over a buffer of
//                                   exactly its length (structured clone would send the whole buffer
//                                   behind a small view of a big one)
//     { r: 3 } the object met before that got id 3 (below)
//
// Shared references and cycles are kept, as structured clone keeps them: the encoder numbers the
// objects it meets (arrays, plain objects, Maps, Sets, Buffers, ArrayBuffers, typed arrays, Dates)
// 0, 1, 2, ... in the order it meets them (an object before what it holds), and an object met
// again is { r: id }; the decoder numbers the objects it makes in the same order (a container
// before its contents, so that a cycle can refer to it) and hands out the same object for each
// reference. So a value costs what its distinct objects cost: without this, a DAG such as
// `a = [a, a]` twenty times over, which structured clone copies at once, took 2^n time and memory
// (an out-of-memory crash on a server returning one). Each argument, and each result, is numbered
// on its own: an object in two arguments arrives as two.
//
// An array's cost is that of the elements it has, not of its length (a sparse array of length
// 2^32 - 1 took the encoder to an out-of-memory crash); arrays longer than MAX_ARRAY_LENGTH are
// refused both ways. Only an array's elements travel: its other own properties (a.x = 1), which
// structured clone keeps, do not (finding them would cost a key list per array).
//
// Invariant: every JSON object in the encoded form is a tag object, so decoding never guesses.
// Anything else (functions, symbols, class instances, Errors, SharedArrayBuffers and
// spindle's Shared* handles) is a TypeError at the call that names where in the value it sits.
// decode() trusts nothing: a job from another producer may hold anything, and a malformed value
// is a TypeError saying so, never a crash.

import { constants } from 'node:buffer';
import { brandOf } from '../../shared/brand.js';

const TYPED_ARRAYS = {
  Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
  Float32Array, Float64Array, BigInt64Array, BigUint64Array, DataView,
} as const;
type TypedName = keyof typeof TYPED_ARRAYS;

/** Deeper than this is refused both ways: JSON.parse and the encoder recurse. */
const MAX_DEPTH = 200;

/**
 * The longest array (its length, holes included) that travels, both ways: a RangeError names an
 * argument longer than this. Beyond it no array's JSON would fit in one string anyway (V8's
 * strings end at 2^29 characters), and a receiver's task would be handed a length it cannot walk.
 */
export const MAX_ARRAY_LENGTH = 2 ** 28;

/** A value in its JSON-safe travelling form. */
export type Encoded = null | boolean | number | string | Encoded[] | { [tag: string]: unknown };

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  const ctor = (value as { constructor?: { name?: unknown } }).constructor;
  return typeof ctor?.name === 'string' && ctor.name !== '' ? `an object (${ctor.name})` : 'an object';
}

function refuse(where: string, why: string): never {
  throw new TypeError(`${where} cannot travel through the queue: ${why}`);
}

/**
 * Bytes as base64, or a RangeError naming `where` when that string would be longer than V8's
 * strings can be (about 403 MB of bytes): Buffer's own error, ERR_STRING_TOO_LONG, named nothing.
 */
function toBase64(bytes: Buffer, where: string): string {
  const chars = Math.ceil(bytes.byteLength / 3) * 4;
  if (chars > constants.MAX_STRING_LENGTH) {
    throw new RangeError(`${where} is too large to travel through the queue: its ${bytes.byteLength} bytes would be ${chars} characters of base64, more than the ${constants.MAX_STRING_LENGTH} a string holds`);
  }
  return bytes.toString('base64');
}

/** True for an ArrayBuffer whose memory was transferred away (postMessage, structuredClone's transfer). */
function isDetached(buffer: ArrayBuffer): boolean {
  const detached = (buffer as { detached?: unknown }).detached; // Node 22 and later
  if (typeof detached === 'boolean') return detached;
  if (buffer.byteLength !== 0) return false;
  try {
    new Uint8Array(buffer);
    return false;
  } catch {
    return true;
  }
}

/**
 * `value` in its travelling form. `where` names it in errors ("args[0]"). Throws a TypeError
 * for anything the codec does not carry.
 */
export function encode(value: unknown, where: string): Encoded {
  return encodeAt(value, where, new Map(), 0);
}

/** Each object met so far, by id (the order met in). */
type Ids = Map<object, number>;

function encodeAt(value: unknown, where: string, ids: Ids, depth: number): Encoded {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (Number.isNaN(value)) return { n: 'NaN' };
      if (value === Infinity) return { n: 'Infinity' };
      if (value === -Infinity) return { n: '-Infinity' };
      if (Object.is(value, -0)) return { n: '-0' };
      return value;
    case 'bigint':
      return { i: value.toString() };
    case 'undefined':
      return { u: 0 };
    case 'function':
    case 'symbol':
      return refuse(where, `a ${typeof value} is code or identity, not data`);
  }
  if (value === null) return null;
  const object = value as object;
  const sharedKind = brandOf(object); // what instanceof accepts, named by kind, not by class name
  if (sharedKind !== undefined) {
    return refuse(
      where,
      `a ${sharedKind} is memory shared between threads of one process and cannot cross machines: pass the call's \`progress\` option for a counter of work done, or keep shared state in Redis (a Redis counter: INCRBY)`,
    );
  }
  if (depth >= MAX_DEPTH) return refuse(where, `it is nested more than ${MAX_DEPTH} levels deep`);
  const id = ids.get(object);
  if (id !== undefined) return { r: id };
  ids.set(object, ids.size); // before its contents, as the decoder numbers them
  if (ArrayBuffer.isView(object) && !(object.buffer instanceof SharedArrayBuffer) && isDetached(object.buffer)) {
    return refuse(where, `${kindOf(object)} over a detached ArrayBuffer (its memory was transferred away) holds no bytes`);
  }
  // Before the SharedArrayBuffer checks, as it always was: a Buffer's bytes travel whatever memory holds them.
  if (Buffer.isBuffer(object)) return { B: toBase64(object, where) };
  if (object instanceof SharedArrayBuffer) return refuse(where, 'a SharedArrayBuffer is shared memory, which cannot cross machines');
  if (object instanceof ArrayBuffer) {
    if (isDetached(object)) return refuse(where, 'a detached ArrayBuffer (its memory was transferred away) holds no bytes');
    return { a: toBase64(Buffer.from(object), where) };
  }
  if (ArrayBuffer.isView(object)) {
    if (object.buffer instanceof SharedArrayBuffer) return refuse(where, 'its memory is a SharedArrayBuffer, which cannot cross machines');
    const name = object.constructor.name as TypedName;
    if (TYPED_ARRAYS[name] !== object.constructor) return refuse(where, `${kindOf(object)} is not a standard typed array`);
    return { t: [name, toBase64(Buffer.from(object.buffer, object.byteOffset, object.byteLength), where)] };
  }
  if (object instanceof Date) {
    const ms = object.getTime();
    return { d: Number.isNaN(ms) ? null : ms };
  }
  if (Array.isArray(object)) return encodeArray(object, where, ids, depth);
  if (object instanceof Map) {
    const entries: Encoded[] = [];
    let i = 0;
    for (const [k, v] of object) {
      entries.push([encodeAt(k, `${where} (a Map) key #${i}`, ids, depth + 1), encodeAt(v, `${where}.get(key #${i})`, ids, depth + 1)]);
      i++;
    }
    return { m: entries };
  }
  if (object instanceof Set) {
    const items: Encoded[] = [];
    let i = 0;
    for (const v of object) items.push(encodeAt(v, `${where} (a Set) item #${i++}`, ids, depth + 1));
    return { s: items };
  }
  const proto = Object.getPrototypeOf(object);
  if (proto !== Object.prototype && proto !== null) {
    return refuse(where, `${kindOf(object)} is not plain data (the codec carries plain objects, arrays, Buffers, typed arrays, Dates, Maps and Sets)`);
  }
  const out: Record<string, Encoded> = {};
  // defineProperty: an own key named __proto__ (JSON.parse makes them) must stay a key.
  for (const key of Object.keys(object)) {
    const encoded = encodeAt((object as Record<string, unknown>)[key], `${where}.${key}`, ids, depth + 1);
    Object.defineProperty(out, key, { value: encoded, writable: true, enumerable: true, configurable: true });
  }
  return { o: out };
}

/**
 * An array as a plain JSON array while it has no hole; with holes, as { h: [length, entries] }
 * listing the elements present. Its elements are walked while they are present, then (at the
 * first hole) through its own keys: the cost follows the elements, never the length.
 */
function encodeArray(array: unknown[], where: string, ids: Ids, depth: number): Encoded {
  const length = array.length;
  if (length > MAX_ARRAY_LENGTH) {
    throw new RangeError(`${where} cannot travel through the queue: an array of length ${length} is longer than the ${MAX_ARRAY_LENGTH} (2^28) elements the codec carries`);
  }
  const dense: Encoded[] = [];
  let i = 0;
  for (; i < length && Object.hasOwn(array, i); i++) dense.push(encodeAt(array[i], `${where}[${i}]`, ids, depth + 1));
  if (i === length) return dense;
  const entries: Encoded[] = dense.map((item, index) => [index, item]);
  for (const key of Object.keys(array)) {
    const index = Number(key);
    // Own keys list the indices first, ascending; the rest (a.x = 1) are not elements.
    if (!Number.isInteger(index) || index >= length || String(index) !== key) break;
    if (index < i) continue; // walked already
    entries.push([index, encodeAt(array[index], `${where}[${index}]`, ids, depth + 1)]);
  }
  return { h: [length, entries] };
}

/** The value `encoded` stands for. Throws a TypeError naming `where` when it is not a well-formed encoding. */
export function decode(encoded: unknown, where: string): unknown {
  return decodeAt(encoded, where, [], 0);
}

/** Each object made so far, by id: the encoder's numbering (see { r: id } above). */
type Made = unknown[];

/** `object`, numbered as the next one made. */
function made<T>(seen: Made, object: T): T {
  seen.push(object);
  return object;
}

function bad(where: string, why: string): never {
  throw new TypeError(`${where} is not a value spindle's queue codec wrote: ${why}`);
}

function base64(v: unknown, where: string): Buffer {
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) return bad(where, 'its bytes are not a base64 string');
  return Buffer.from(v, 'base64');
}

function decodeAt(e: unknown, where: string, seen: Made, depth: number): unknown {
  if (e === null || typeof e === 'string' || typeof e === 'boolean') return e;
  if (typeof e === 'number') return e;
  if (typeof e !== 'object') return bad(where, `a ${typeof e}`);
  if (depth >= MAX_DEPTH) return bad(where, `nested more than ${MAX_DEPTH} levels deep`);
  if (Array.isArray(e)) {
    const out = made(seen, [] as unknown[]);
    for (let i = 0; i < e.length; i++) out.push(decodeAt(e[i], `${where}[${i}]`, seen, depth + 1));
    return out;
  }
  const keys = Object.keys(e);
  if (keys.length !== 1) return bad(where, `an object with ${keys.length} keys where a tag object has exactly one`);
  const tag = keys[0]!;
  const v = (e as Record<string, unknown>)[tag];
  switch (tag) {
    case 'u':
      return undefined;
    case 'n':
      if (v === 'NaN') return NaN;
      if (v === '-0') return -0;
      if (v === 'Infinity') return Infinity;
      if (v === '-Infinity') return -Infinity;
      return bad(where, `unknown special number ${JSON.stringify(v)}`);
    case 'i':
      if (typeof v !== 'string' || !/^-?\d+$/.test(v)) return bad(where, 'a bigint whose digits are not a decimal integer');
      return BigInt(v);
    case 'r':
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= seen.length) {
        return bad(where, `a reference ${JSON.stringify(v)} to no object decoded before it (${seen.length} were)`);
      }
      return seen[v];
    case 'd':
      if (v === null) return made(seen, new Date(NaN));
      if (typeof v !== 'number') return bad(where, 'a Date whose time is not a number');
      return made(seen, new Date(v));
    case 'B':
      return made(seen, base64(v, where));
    case 'a': {
      const bytes = base64(v, where);
      return made(seen, bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    }
    case 'm': {
      if (!Array.isArray(v)) return bad(where, "a Map's entries are not an array");
      const map = made(seen, new Map());
      v.forEach((entry: unknown, i) => {
        if (!Array.isArray(entry) || entry.length !== 2) bad(`${where} (a Map) entry #${i}`, 'not a [key, value] pair');
        const key = decodeAt(entry[0], `${where} (a Map) key #${i}`, seen, depth + 1); // key first, as encoded
        map.set(key, decodeAt(entry[1], `${where} (a Map) value #${i}`, seen, depth + 1));
      });
      return map;
    }
    case 's': {
      if (!Array.isArray(v)) return bad(where, "a Set's items are not an array");
      const set = made(seen, new Set());
      v.forEach((item: unknown, i) => set.add(decodeAt(item, `${where} (a Set) item #${i}`, seen, depth + 1)));
      return set;
    }
    case 'o': {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return bad(where, "a plain object's properties are not an object");
      const out = made(seen, {} as Record<string, unknown>);
      // defineProperty, so that a key named __proto__ is a property and never a prototype.
      for (const key of Object.keys(v)) {
        Object.defineProperty(out, key, { value: decodeAt((v as Record<string, unknown>)[key], `${where}.${key}`, seen, depth + 1), writable: true, enumerable: true, configurable: true });
      }
      return out;
    }
    case 't':
      return made(seen, decodeTyped(v, where));
    case 'h':
      return decodeSparse(v, where, seen, depth);
  }
  return bad(where, `unknown tag '${tag}'`);
}

function decodeSparse(v: unknown, where: string, seen: Made, depth: number): unknown[] {
  if (!Array.isArray(v) || v.length !== 2 || !Array.isArray(v[1])) return bad(where, 'an array with holes that is not [length, entries]');
  const length: unknown = v[0];
  if (typeof length !== 'number' || !Number.isInteger(length) || length < 0 || length > MAX_ARRAY_LENGTH) {
    return bad(where, `an array length that is not an integer in [0, ${MAX_ARRAY_LENGTH}]`);
  }
  const out: unknown[] = made(seen, []);
  let last = -1;
  for (const entry of v[1] as unknown[]) {
    const index: unknown = Array.isArray(entry) && entry.length === 2 ? entry[0] : undefined;
    if (typeof index !== 'number' || !Number.isInteger(index) || index <= last || index >= length) {
      return bad(where, 'an array element that is not an [index, value] pair with an index above the one before it and below the length');
    }
    out[index] = decodeAt((entry as unknown[])[1], `${where}[${index}]`, seen, depth + 1);
    last = index;
  }
  out.length = length;
  return out;
}

function decodeTyped(v: unknown, where: string): unknown {
  if (!Array.isArray(v) || v.length !== 2) return bad(where, 'a typed array that is not [name, bytes]');
  const name: unknown = v[0];
  if (typeof name !== 'string' || !Object.hasOwn(TYPED_ARRAYS, name)) return bad(where, `unknown typed array ${JSON.stringify(name)}`);
  const bytes = base64(v[1], where);
  const Ctor = TYPED_ARRAYS[name as TypedName];
  const per = Ctor === DataView ? 1 : (Ctor as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
  if (bytes.byteLength % per !== 0) return bad(where, `${bytes.byteLength} bytes is not a whole number of ${name} elements`);
  const copy = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  return Ctor === DataView ? new DataView(copy as ArrayBuffer) : new (Ctor as unknown as new (b: ArrayBuffer) => unknown)(copy as ArrayBuffer);
}
