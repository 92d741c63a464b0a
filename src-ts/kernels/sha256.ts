// sha256(data, options?): the SHA-256 digest of bytes, or of a string's UTF-8 encoding, as
// lowercase hex (default), base64 or a Buffer.
//
// The C++ kernel (src-cpp/core/kernels/sha256.cpp) picks SHA-NI, AVX2 or portable code at run
// time (SPINDLE_SHA256_PATH forces one) and hashes a map chunk's small messages several at once
// per thread; it returns raw digests, which fromBytes() encodes. The JS twin is node:crypto.
import { createHash } from 'node:crypto';
import { isAnyArrayBuffer, isSharedArrayBuffer } from 'node:util/types';
import { checkArity, describe, isDetached, viewRange } from './args.js';
import { checkDigestOptions, digestFromBytes, encodeDigest, type Digest, type DigestOptions, type DigestResult } from './digest.js';
import { giveBackStaging, STAGE_MIN, takeStaging } from './staging.js';
import { defineKernel } from './types.js';

/** What sha256 hashes: a string (as UTF-8), any TypedArray or DataView (its bytes, offset included), or an ArrayBuffer / SharedArrayBuffer. */
export type Sha256Data = string | ArrayBufferView | ArrayBuffer | SharedArrayBuffer;

/** A map chunk is packed into one buffer (see packBatch) when none of its messages is longer. */
const PACK_MAX_MESSAGE = 1024;

/** The JS twin hashes in slices this long, checking for cancellation and reporting progress between them. */
const SLICE_BYTES = 1 << 20;

/**
 * The message's bytes as they are at the call, in memory the caller cannot take away.
 *
 * The rule (README, "What a call does with your buffer"): bytes in a SharedArrayBuffer are used
 * in place, since such a buffer can be neither detached nor shrunk and the call's reference
 * keeps it alive. Bytes in an ordinary ArrayBuffer are copied here, on the caller's thread,
 * because the caller may resize, transfer or detach that buffer the moment apply() returns,
 * and N-API cannot keep a detached backing store alive: a pool thread reading it then reads
 * freed memory. So a call never hashes anything but the bytes it was given, on both backends.
 * A string is encoded here for the same reason. A detached buffer, or a view over one, is a TypeError.
 * From STAGE_MIN bytes the copy goes into a SharedArrayBuffer from staging.ts, given back when
 * the call succeeds (release, from fromBytes or fromWorker): a kept one is already faulted in,
 * so the copy costs the calling thread a memcpy, not a page fault per 4 KiB, and the worker
 * backend shares it with its worker instead of cloning it.
 */
function messageBytes(data: unknown): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) {
    const { buffer, byteOffset, byteLength } = viewRange(data); // what the engine holds, whatever getters say
    if (isSharedArrayBuffer(buffer)) return new Uint8Array(buffer, byteOffset, byteLength);
    if (isDetached(buffer)) throw detachedError('a view over a detached ArrayBuffer');
    return copyOf(new Uint8Array(buffer, byteOffset, byteLength));
  }
  if (isSharedArrayBuffer(data)) return new Uint8Array(data);
  if (isAnyArrayBuffer(data)) {
    if (isDetached(data)) throw detachedError('a detached ArrayBuffer');
    return copyOf(new Uint8Array(data));
  }
  throw new TypeError(`sha256: data must be a string, Buffer, TypedArray, DataView, ArrayBuffer or SharedArrayBuffer, got ${describe(data)}`);
}

function copyOf(bytes: Uint8Array): Uint8Array {
  if (bytes.byteLength >= STAGE_MIN) {
    const { buffer } = takeStaging(bytes.byteLength);
    // A Buffer: the queue backend's codec sends a Buffer's bytes, and refuses other views of
    // shared memory (a caller's SharedArrayBuffer stays a Uint8Array, so it is still refused).
    const copy = Buffer.from(buffer, 0, bytes.byteLength);
    copy.set(bytes);
    staged.set(copy, buffer);
    return copy;
  }
  const copy = Buffer.allocUnsafeSlow(bytes.byteLength); // its own memory, never the shared pool slab
  copy.set(bytes);
  return copy;
}

/** Staged copies of calls in flight, by the view the call hashes. */
const staged = new WeakMap<Uint8Array, SharedArrayBuffer>();

/** A call has succeeded: its staged copy, if it had one, is no longer read by any thread. */
function release(args: readonly unknown[]): void {
  const bytes = args[0] as Uint8Array;
  if (bytes.byteLength < STAGE_MIN) return; // never staged: no lookup per small message of a map
  const buffer = staged.get(bytes);
  if (buffer === undefined) return;
  staged.delete(bytes);
  giveBackStaging(buffer);
}

/** `what`: the argument itself is a detached ArrayBuffer, or a view over one. */
function detachedError(what: string): TypeError {
  return new TypeError(`sha256: data is ${what} (it was transferred away); pass the bytes where they now live`);
}

export const sha256 = defineKernel<[data: Sha256Data, options?: DigestOptions], Digest, DigestResult>({
  name: 'sha256',
  // Normalized: [bytes: Uint8Array, encoding code]. Both backends receive exactly this.
  validate(args) {
    checkArity('sha256', args, 1, 2, 'data, options?');
    return [messageBytes(args[0]), checkDigestOptions('sha256', args[1])];
  },
  run(args, ctx) {
    const bytes = args[0] as Uint8Array;
    const hash = createHash('sha256');
    for (let at = 0; at < bytes.length; at += SLICE_BYTES) {
      if (ctx.cancelled()) break; // the result is discarded
      const end = Math.min(at + SLICE_BYTES, bytes.length);
      hash.update(bytes.subarray(at, end));
      ctx.progress(end - at);
    }
    return encodeDigest(hash.digest(), args[1] as number);
  },
  fromBytes(bytes, start, end, args) {
    release(args);
    return digestFromBytes(bytes, start, end, args);
  },
  fromWorker(value, args) {
    release(args);
    return value as Digest;
  },
  // Converting a view in the addon costs the JS thread about 0.4 us, several times what hashing
  // 64 bytes costs a pool thread; copying small messages into one buffer costs far less. The
  // C++ kernel sha256Packed hashes bytes[ends[i - 1], ends[i]) as message i, so the digests come
  // back exactly as the chunk's own would.
  packBatch(calls) {
    let total = 0;
    for (const args of calls) {
      const length = (args[0] as Uint8Array).byteLength;
      if (length > PACK_MAX_MESSAGE) return undefined;
      total += length;
    }
    const bytes = Buffer.allocUnsafe(total);
    const ends = new Float64Array(calls.length);
    let at = 0;
    for (let i = 0; i < calls.length; i++) {
      const message = calls[i]![0] as Uint8Array;
      bytes.set(message, at);
      at += message.byteLength;
      ends[i] = at;
    }
    return { kernel: 'sha256Packed', args: [bytes, ends] };
  },
});
