// Keeping an ordinary ArrayBuffer where it is while native threads work in its memory.
//
// worker_threads.markAsUntransferable makes postMessage and structuredClone copy a buffer
// instead of moving it, and from Node 24 on V8 itself refuses to detach it: transfer(),
// transferToFixedLength() and web streams throw ("not detachable"). Before Node 24 the mark
// stops only postMessage and structuredClone: Node 21-23's transfer() (Node 20's behind
// --harmony-rab-gsab-transfer) and the web streams of Node 20-23 (a byte stream's enqueue(), a
// BYOB read()) detach a marked buffer, which freed the memory a native sort was writing (the
// process died of SIGSEGV). N-API has no way to keep a buffer's memory alive, so on those
// runtimes this module wraps those methods, once, the first time a buffer is marked (the
// transfer methods of each realm whose buffer it marks): for a buffer spindle marked they throw
// the TypeError Node 24 throws, and for any other they are the original methods. What is not
// covered: code that took the original methods before the first mark, another realm's
// methods applied to a buffer of this one, and Node's own internal callers of those stream
// paths (README: "What a call does with your buffer").
import { markAsUntransferable } from 'node:worker_threads';

type TransferMethod = (this: ArrayBuffer, newLength?: number) => ArrayBuffer;
const METHODS = ['transfer', 'transferToFixedLength'] as const;

/**
 * Buffers marked here: the guards refuse them (on a runtime where the mark does not stop every
 * JS-reachable detach), and the worker backend names one found in a call's transfer list.
 */
const marked = new WeakSet<ArrayBuffer>();
/** ArrayBuffer prototypes (one per realm) whose transfer methods are wrapped. */
const guardedPrototypes = new WeakSet<object>();
/** Whether the web streams methods are wrapped (guardStreams); undefined until first tried. */
let streamsGuarded: boolean | undefined;

/** Whether this runtime's ArrayBuffer.prototype.transfer() refuses a buffer markAsUntransferable marked (Node 24 on). */
function transferHonoursMark(): boolean {
  const transfer = (ArrayBuffer.prototype as { transfer?: TransferMethod }).transfer;
  if (typeof transfer !== 'function') return false;
  const probe = new ArrayBuffer(8);
  markAsUntransferable(probe);
  try {
    transfer.call(probe);
    return false;
  } catch {
    return true;
  }
}


/**
 * The buffers of WebAssembly.Memory objects, recorded as their `buffer` getter hands them out:
 * on a runtime that honours the mark, marking one made its memory's next grow() abort the
 * process (V8 cannot detach it then), and JS cannot detach them anyway, so they are left
 * unmarked. Recorded from when this module loads (the getter is wrapped then, only on such
 * runtimes): a memory whose buffer was taken before, or in another realm, is not recognised.
 * (Asking V8 instead, by a transfer() too large to allocate, cost a full GC per call.)
 */
const wasmBuffers = new WeakSet<ArrayBuffer>();

/** Set when the `buffer` getter could not be wrapped: wasmBuffers then stays empty. */
let wasmUnwatched = false;
const WASM_PAGE = 65536;
/** transfer() as the runtime had it at load, before any guard wrapped it. */
const originalTransfer = (ArrayBuffer.prototype as { transfer?: TransferMethod }).transfer;

/**
 * Where the getter is not watched: whether V8 refuses to detach `buffer` (a WebAssembly.Memory's,
 * or one already marked), asked by a transfer() to a length no allocation can have, which throws
 * that TypeError first and a RangeError (after a GC, tens of ms) for an ordinary buffer, never
 * detaching it. Asked only of whole wasm pages: a memory's buffer is never anything else.
 */
function mayBeWasmBuffer(buffer: ArrayBuffer): boolean {
  if (!wasmUnwatched || buffer.byteLength === 0 || buffer.byteLength % WASM_PAGE !== 0 || originalTransfer === undefined) return false;
  try {
    Reflect.apply(originalTransfer, buffer, [Number.MAX_SAFE_INTEGER]);
  } catch (error) {
    return error instanceof TypeError;
  }
  return false;
}

function trackWasmBuffers(): void {
  const memory = (globalThis as { WebAssembly?: { Memory?: { prototype: object } } }).WebAssembly?.Memory;
  const descriptor = memory === undefined ? undefined : Object.getOwnPropertyDescriptor(memory.prototype, 'buffer');
  const original = descriptor?.get;
  if (memory === undefined || descriptor === undefined || original === undefined) return;
  const wrapped = Object.getOwnPropertyDescriptor(
    {
      get buffer(): ArrayBuffer {
        const buffer = Reflect.apply(original, this, []) as ArrayBuffer;
        wasmBuffers.add(buffer);
        return buffer;
      },
    },
    'buffer',
  )!.get!;
  // Under `node --frozen-intrinsics` (or a frozen WebAssembly.Memory.prototype) the getter cannot
  // be replaced (defineProperty threw, and with it the import of spindle): mayBeWasmBuffer() asks
  // V8 instead.
  if (descriptor.configurable !== true) {
    wasmUnwatched = true;
    return;
  }
  Object.defineProperty(memory.prototype, 'buffer', { ...descriptor, get: wrapped });
}

function notDetachableError(what: string): TypeError {
  return new TypeError(`${what}: this ArrayBuffer is not detachable (spindle's native threads may be using its memory)`);
}

/**
 * Replaces `proto[name]` (when it is a method) by one that throws notDetachableError(where)
 * when `refuses(this, args)` says so, and otherwise is the original: named and sized as it.
 * False when a method is there and cannot be replaced: `node --frozen-intrinsics` makes it a
 * non-configurable getter/setter pair (spreading that descriptor with a value threw, and the
 * buffer was left marked, so the next sort ran unguarded and a transfer() mid-sort moved the
 * memory native threads were writing).
 */
function guardMethod(proto: Record<string, unknown>, name: string, where: string, refuses: (self: unknown, args: unknown[]) => boolean): boolean {
  const original = proto[name];
  const descriptor = Object.getOwnPropertyDescriptor(proto, name);
  if (typeof original !== 'function' || descriptor === undefined) return true;
  if (descriptor.configurable !== true || !('value' in descriptor)) return false;
  // A method (no prototype, not a constructor).
  const wrapped = {
    [name](this: unknown, ...args: unknown[]): unknown {
      if (refuses(this, args)) throw notDetachableError(where);
      return Reflect.apply(original as (...a: unknown[]) => unknown, this, args);
    },
  }[name]!;
  Object.defineProperty(wrapped, 'length', { value: (original as () => unknown).length });
  Object.defineProperty(proto, name, { ...descriptor, value: wrapped });
  return true;
}

/** ArrayBuffer prototypes whose transfer methods could not be wrapped (see guardMethod). */
const unguardablePrototypes = new WeakSet<object>();

/**
 * Wraps `proto`'s transfer methods (a realm's ArrayBuffer.prototype), once: for a marked buffer
 * they throw. False when they cannot be wrapped (then or before).
 */
function guardTransfers(proto: Record<string, unknown>): boolean {
  if (guardedPrototypes.has(proto)) return true;
  if (unguardablePrototypes.has(proto)) return false;
  let all = true;
  for (const name of METHODS) all = guardMethod(proto, name, `ArrayBuffer.prototype.${name}`, (self) => marked.has(self as ArrayBuffer)) && all;
  (all ? guardedPrototypes : unguardablePrototypes).add(proto);
  return all;
}

/**
 * Wraps the web streams methods that detach a caller's buffer (a byte stream's enqueue(), a
 * BYOB read() and respondWithNewView()): before Node 24 they detach it by an internal path the
 * mark does not reach, and a native sort went on writing the freed memory (SIGSEGV on Node 20
 * and 22). For a view of a marked buffer they throw, as Node 24 does.
 */
function guardStreams(): boolean {
  if (streamsGuarded !== undefined) return streamsGuarded;
  let all = true;
  const viewOfMarked = (_self: unknown, args: unknown[]) => ArrayBuffer.isView(args[0]) && marked.has(args[0].buffer as ArrayBuffer);
  for (const [owner, name] of [
    ['ReadableByteStreamController', 'enqueue'],
    ['ReadableStreamBYOBReader', 'read'],
    ['ReadableStreamBYOBRequest', 'respondWithNewView'],
  ] as const) {
    const proto = ((globalThis as Record<string, unknown>)[owner] as { prototype?: Record<string, unknown> } | undefined)?.prototype;
    if (proto !== undefined) all = guardMethod(proto, name, `${owner}.prototype.${name}`, viewOfMarked) && all;
  }
  streamsGuarded = all;
  return all;
}

/**
 * Marks an ordinary ArrayBuffer so that nothing moves its memory away while native threads use
 * it: permanent, as markAsUntransferable is (postMessage and structuredClone copy it; transfer()
 * throws a TypeError). A WebAssembly.Memory's buffer is left unmarked where the mark is
 * honoured (see wasmBuffers). False, marking nothing, where the methods that would move it
 * cannot be guarded (`node --frozen-intrinsics` before Node 24): the caller must refuse the call.
 */
export function markUntransferable(buffer: ArrayBuffer): boolean {
  if (honoured) {
    if (wasmBuffers.has(buffer) || marked.has(buffer)) return true;
    // Marked, a memory's buffer made its next grow() abort the process (see wasmBuffers).
    if (mayBeWasmBuffer(buffer)) return true;
    markAsUntransferable(buffer);
    marked.add(buffer);
    return true;
  }
  // The guards first: a buffer marked before they failed was sorted unguarded by the next call.
  // A buffer made in another realm (vm) has that realm's prototype and methods.
  const own = Object.getPrototypeOf(buffer) as Record<string, unknown> | null;
  if (!guardTransfers(ArrayBuffer.prototype as unknown as Record<string, unknown>)) return false;
  if (own !== null && !guardTransfers(own)) return false;
  if (!guardStreams()) return false;
  markAsUntransferable(buffer);
  marked.add(buffer);
  return true;
}

/** Whether a sort or argsort marked `buffer` (markUntransferable). */
export function markedUntransferable(buffer: ArrayBuffer): boolean {
  return marked.has(buffer);
}

/**
 * transferHonoursMark(), probed when this module loads (one 8-byte buffer, a few µs): the
 * wasm buffers must be tracked from then on.
 */
const honoured = transferHonoursMark();
if (honoured) trackWasmBuffers();
