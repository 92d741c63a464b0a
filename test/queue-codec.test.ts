// The queue codec alone: exact round trips through JSON (as BullMQ stores them), refusals that
// name where the bad value sits, and decoding of payloads no spindle client wrote.

import { constants } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { decode, encode, MAX_ARRAY_LENGTH } from '../src-ts/backends/queue/codec.js';
import { SharedCounter } from '../src-ts/shared/counter.js';
import { Lock } from '../src-ts/shared/lock.js';
import { SharedValue } from '../src-ts/shared/value.js';

/** Through JSON text, as a job's data and return value travel. */
const roundTrip = (value: unknown): unknown => decode(JSON.parse(JSON.stringify(encode(value, 'value'))), 'value');

describe('queue codec', () => {
  it('keeps what structured clone keeps for plain data', () => {
    const cases: unknown[] = [
      0, -0, NaN, Infinity, -Infinity, 1.5, Number.MAX_VALUE, Number.MIN_VALUE, 2 ** 53,
      10n, -(2n ** 200n), '', 'héllo \u0000 \ud83d\ude00', true, false, null, undefined,
      [], [1, [2, [3]]], [undefined, null], {}, { a: { b: [1, { c: -0 }] } }, { t: 1, o: 2, u: 3 },
      new Date(0), new Date(8.64e15), new Map<unknown, unknown>([[1, 'a'], [{ k: 1 }, new Set([1n])]]), new Set(['x', 1, undefined]),
      Buffer.from([0, 1, 255]), new Uint8Array([1, 2, 3]), new Float64Array([-0, NaN, 1e308]), new BigInt64Array([-1n, 2n ** 62n]),
      new Int16Array(new ArrayBuffer(8), 2, 2), new Uint8ClampedArray([300]), new ArrayBuffer(5), new DataView(new Uint8Array([9, 8]).buffer),
    ];
    for (const value of cases) expect(roundTrip(value)).toStrictEqual(value);
  });

  it('keeps -0 and NaN apart from 0 and null, Buffer apart from Uint8Array, and an invalid Date', () => {
    expect(Object.is(roundTrip(-0), -0)).toBe(true);
    expect(Object.is(roundTrip(0), 0)).toBe(true);
    expect(Buffer.isBuffer(roundTrip(Buffer.from('x')))).toBe(true);
    expect(Buffer.isBuffer(roundTrip(new Uint8Array(1)))).toBe(false);
    expect(Number.isNaN((roundTrip(new Date(NaN)) as Date).getTime())).toBe(true);
    const view = roundTrip(new Int16Array(new ArrayBuffer(8), 2, 2)) as Int16Array;
    expect([view.byteOffset, view.length, view.buffer.byteLength]).toEqual([0, 2, 4]);
    const proto = roundTrip(JSON.parse('{"__proto__": {"polluted": 1}}')) as Record<string, unknown>;
    expect(Object.getPrototypeOf(proto)).toBe(Object.prototype);
    expect(proto.__proto__).toEqual({ polluted: 1 });
    expect(({} as Record<string, unknown>).polluted).toBe(undefined);
  });

  it('refuses the rest with a TypeError naming where it sits', () => {
    const refusals: [unknown, RegExp][] = [
      [() => 1, /^value cannot travel through the queue: a function/],
      [{ a: [1, Symbol('s')] }, /^value\.a\[1\] cannot travel through the queue: a symbol/],
      [new (class Point {})(), /^value cannot travel through the queue: an object \(Point\) is not plain data/],
      [new Error('x'), /an object \(Error\) is not plain data/],
      [new SharedArrayBuffer(4), /a SharedArrayBuffer is shared memory/],
      [new Int32Array(new SharedArrayBuffer(4)), /its memory is a SharedArrayBuffer/],
      [new Map([[1, () => 1]]), /^value\.get\(key #0\) cannot travel/],
      [new SharedCounter(), /a SharedCounter is memory shared between threads .* `progress` option .* Redis counter/],
      [{ v: new SharedValue('f64') }, /^value\.v cannot travel through the queue: a SharedValue is memory shared/],
      [[new Lock()], /^value\[0\] cannot travel through the queue: a Lock is memory shared/],
      // Named by kind, not by class name: an anonymous subclass and a null prototype named nothing.
      [new (class extends SharedCounter {})(), /^value cannot travel through the queue: a SharedCounter is memory shared/],
      [Object.setPrototypeOf(new SharedCounter(), null), /^value cannot travel through the queue: a SharedCounter is memory shared/],
    ];
    for (const [value, message] of refusals) {
      expect(() => encode(value, 'value')).toThrow(TypeError);
      expect(() => encode(value, 'value')).toThrow(message);
    }
    let deep: unknown = 1;
    for (let i = 0; i < 300; i++) deep = [deep];
    expect(() => encode(deep, 'value')).toThrow(/nested more than 200 levels deep/);
  });

  it('arrays with holes keep their holes, at the cost of the elements present; absurd lengths are a RangeError', () => {
    // The encoder walked every index (a length of 2^32 - 1 ran it out of memory; 1e7 took 3 s)
    // and holes came back as undefined.
    const holes = [1, , 3, , ,]; // eslint-disable-line no-sparse-arrays
    const back = roundTrip(holes) as unknown[];
    expect(back).toStrictEqual(holes);
    expect([back.length, 1 in back, 3 in back, 4 in back]).toEqual([5, false, false, false]);
    const sparse: unknown[] = [];
    sparse[5] = 'five';
    sparse[2 ** 20] = { x: [undefined, , 2] }; // eslint-disable-line no-sparse-arrays
    sparse.length = 10_000_000;
    const started = performance.now();
    const sparseBack = roundTrip(sparse) as unknown[];
    expect(performance.now() - started).toBeLessThan(1000);
    expect(sparseBack.length).toBe(10_000_000);
    expect(Object.keys(sparseBack)).toEqual(['5', String(2 ** 20)]);
    expect(sparseBack[2 ** 20]).toStrictEqual(sparse[2 ** 20]);
    expect(roundTrip([undefined, undefined])).toStrictEqual([undefined, undefined]); // present undefined is not a hole
    const huge: unknown[] = [];
    huge.length = 2 ** 32 - 1;
    const t = performance.now();
    expect(() => encode(huge, 'apply: args[0]')).toThrow(RangeError);
    expect(() => encode({ a: huge }, 'apply: args[0]')).toThrow(`apply: args[0].a cannot travel through the queue: an array of length ${2 ** 32 - 1} is longer than the ${MAX_ARRAY_LENGTH} (2^28) elements the codec carries`);
    expect(performance.now() - t).toBeLessThan(1000);
    // What no spindle client wrote, in the sparse form.
    for (const [garbage, message] of [
      [{ h: [2 ** 40, []] }, /array length that is not an integer/],
      [{ h: [3, [[1, 'a'], [1, 'b']]] }, /an index above the one before it/],
      [{ h: [3, [[3, 'a']]] }, /below the length/],
      [{ h: [3, 'x'] }, /not \[length, entries\]/],
    ] as [unknown, RegExp][]) {
      expect(() => decode(garbage, 'x')).toThrow(message);
    }
  });

  it('bytes too many for one base64 string are a RangeError naming where they sit', () => {
    // It was Buffer's plain Error (ERR_STRING_TOO_LONG), naming no argument.
    const big = Buffer.allocUnsafeSlow(3 * 2 ** 27); // 402653184 bytes: 2^29 base64 characters
    const too = `is too large to travel through the queue: its ${big.byteLength} bytes would be ${2 ** 29} characters of base64, more than the ${constants.MAX_STRING_LENGTH} a string holds`;
    expect(() => encode(big, 'apply: args[0]')).toThrow(RangeError);
    expect(() => encode([1, big], 'apply: args[0]')).toThrow(`apply: args[0][1] ${too}`);
    expect(() => encode({ b: big.buffer }, 'the result')).toThrow(`the result.b ${too}`);
    expect(() => encode(new Uint16Array(big.buffer), 'map: args[1]')).toThrow(`map: args[1] ${too}`);
  });

  it('a detached ArrayBuffer, or a view over one, is a TypeError naming where it sits', () => {
    // It was the engine's "Cannot perform Construct on a detached ArrayBuffer", naming nothing.
    const buffer = new ArrayBuffer(8);
    structuredClone(buffer, { transfer: [buffer] });
    const view = new Float64Array(new ArrayBuffer(16));
    structuredClone(view.buffer, { transfer: [view.buffer] });
    expect(() => encode({ b: buffer }, 'value')).toThrow(/^value\.b cannot travel through the queue: a detached ArrayBuffer/);
    expect(() => encode([view], 'value')).toThrow(/^value\[0\] cannot travel through the queue: an object \(Float64Array\) over a detached ArrayBuffer/);
  });

  it('a typed array or DataView travels as its bytes alone: byteOffset 0, over a buffer of exactly its length', () => {
    // Unlike structured clone, which keeps the offset and sends the whole underlying buffer (for
    // a small view of a large buffer, all of it); README says which. DataViews as typed arrays.
    const big = new ArrayBuffer(1 << 20);
    new Uint8Array(big).set([1, 2, 3, 4], 100);
    const dataView = roundTrip(new DataView(big, 101, 2)) as DataView;
    expect(dataView).toBeInstanceOf(DataView);
    expect([dataView.byteOffset, dataView.byteLength, dataView.buffer.byteLength, dataView.getUint8(0), dataView.getUint8(1)]).toEqual([0, 2, 2, 2, 3]);
    const typed = roundTrip(new Uint16Array(big, 100, 2)) as Uint16Array;
    expect([typed.byteOffset, typed.length, typed.buffer.byteLength, ...new Uint8Array(typed.buffer)]).toEqual([0, 2, 4, 1, 2, 3, 4]);
    // Views of one buffer arrive over buffers of their own.
    const [a, b] = roundTrip([new Uint8Array(big, 0, 4), new DataView(big, 0, 4)]) as [Uint8Array, DataView];
    expect(a.buffer).not.toBe(b.buffer);
  });

  it('shared references and cycles arrive as they were, at the cost of the distinct objects', () => {
    // Every reference was expanded into a copy of its own: `a = [a, a]` n times over took 2^n
    // time and memory (n = 22: 20 s; n = 40: out of memory), where structured clone takes ~0 ms.
    let dag: unknown[] = [1];
    for (let i = 0; i < 16; i++) dag = [dag, dag];
    expect(JSON.stringify(encode(dag, 'value')).length).toBeLessThan(1000); // first, small: it was 2^16 copies
    for (let i = 16; i < 40; i++) dag = [dag, dag];
    const started = performance.now();
    const text = JSON.stringify(encode(dag, 'value'));
    let back = decode(JSON.parse(text), 'value') as unknown[];
    expect(performance.now() - started).toBeLessThan(1000);
    expect(text.length).toBeLessThan(2000);
    for (let i = 0; i < 40; i++) {
      expect(back[0]).toBe(back[1]);
      back = back[0] as unknown[];
    }
    expect(back).toEqual([1]);
    // Every kind of object keeps its identity, wherever it sits; cycles stay cycles.
    const buffer = Buffer.from('b');
    const date = new Date(5);
    const typed = new Float32Array([1]);
    const holes: unknown[] = [];
    holes[3] = holes;
    const cyclic: Record<string, unknown> = { buffer, date, typed, holes };
    cyclic.self = cyclic;
    const map = new Map<unknown, unknown>([[cyclic, cyclic], ['d', date]]);
    const set = new Set<unknown>([map, typed]);
    cyclic.set = set;
    const got = roundTrip([cyclic, map, set, buffer, [date, typed, holes]]) as unknown[];
    const c = got[0] as Record<string, unknown>;
    expect(c.self).toBe(c);
    expect([got[1], got[2], got[3]]).toEqual([expect.any(Map), expect.any(Set), buffer]);
    const m = got[1] as Map<unknown, unknown>;
    expect([...m.keys()][0]).toBe(c);
    expect(m.get(c)).toBe(c);
    expect(m.get('d')).toBe(c.date);
    expect(c.set).toBe(got[2]);
    expect([...(got[2] as Set<unknown>)]).toEqual([m, c.typed]);
    expect([...(got[2] as Set<unknown>)][1]).toBe(c.typed);
    expect(got[3]).toBe(c.buffer);
    expect((got[4] as unknown[])[0]).toBe(c.date);
    expect((got[4] as unknown[])[1]).toBe(c.typed);
    expect((got[4] as unknown[])[2]).toBe(c.holes);
    expect((c.holes as unknown[])[3]).toBe(c.holes);
    expect([(c.holes as unknown[]).length, 0 in (c.holes as unknown[])]).toEqual([4, false]);
    expect(Buffer.isBuffer(c.buffer)).toBe(true);
    expect((c.date as Date).getTime()).toBe(5);
    // A reference to nothing decoded before it, in a job from elsewhere, is a TypeError.
    for (const garbage of [{ r: 0 }, [{ r: 1 }], [1, { r: 0.5 }], [{ r: '0' }], { o: { a: { r: -1 } } }]) {
      expect(() => decode(garbage, 'x')).toThrow(TypeError);
      expect(() => decode(garbage, 'x')).toThrow(/^x.* is not a value spindle's queue codec wrote: a reference .* to no object decoded before it/);
    }
    expect(decode([{ r: 0 }], 'x')).toEqual([expect.anything()]);
  });

  it('decoding what no spindle client wrote is a TypeError saying what is wrong', () => {
    const garbage: [unknown, RegExp][] = [
      [{}, /an object with 0 keys/],
      [{ a: 1, b: 2 }, /an object with 2 keys/],
      [{ zz: 1 }, /unknown tag 'zz'/],
      [{ n: 'nope' }, /unknown special number "nope"/],
      [{ i: '1.5' }, /bigint whose digits/],
      [{ d: 'yesterday' }, /a Date whose time is not a number/],
      [{ B: '***' }, /not a base64 string/],
      [{ t: ['Float64Array', 'AAAA'] }, /3 bytes is not a whole number of Float64Array elements/],
      [{ t: ['Evil', ''] }, /unknown typed array "Evil"/],
      [{ m: [[1]] }, /entry #0 .*not a \[key, value\] pair/],
      [{ o: [1] }, /properties are not an object/],
    ];
    for (const [value, message] of garbage) {
      expect(() => decode(value, 'x')).toThrow(TypeError);
      expect(() => decode(value, 'x')).toThrow(message);
    }
    let deep: unknown = 1;
    for (let i = 0; i < 300; i++) deep = [deep];
    expect(() => decode(deep, 'x')).toThrow(/nested more than 200 levels deep/);
  });
});
