// sha256(data, options?): the SHA-256 digest of bytes, or of a string's UTF-8 encoding, as
// lowercase hex (default), base64 or a Buffer.
//
// The C++ kernel (src-cpp/core/kernels/sha256.cpp) picks SHA-NI, AVX2 or portable code at run
// time (SPINDLE_SHA256_PATH forces one) and hashes a map chunk's small messages several at once
// per thread; it returns raw digests, which fromBytes() encodes. The JS twin is node:crypto.
import { createHash } from 'node:crypto';
import { isAnyArrayBuffer, isUint8Array } from 'node:util/types';
import { checkArity, describe } from './args.js';
import { checkDigestOptions, digestFromBytes, encodeDigest, type Digest, type DigestOptions } from './digest.js';
import { defineKernel } from './types.js';

/** What sha256 hashes: a string (as UTF-8), any TypedArray or DataView (its bytes, offset included), or an ArrayBuffer / SharedArrayBuffer. */
export type Sha256Data = string | ArrayBufferView | ArrayBuffer | SharedArrayBuffer;

/** The JS twin hashes in slices this long, checking for cancellation and reporting progress between them. */
const SLICE_BYTES = 1 << 20;

/**
 * The message's bytes, without a copy except for a string (encoded here, on the caller's
 * thread, so both backends hash the same bytes). A view over a SharedArrayBuffer stays one.
 */
function messageBytes(data: unknown): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (isUint8Array(data)) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (isAnyArrayBuffer(data)) return new Uint8Array(data);
  throw new TypeError(`sha256: data must be a string, Buffer, TypedArray, DataView, ArrayBuffer or SharedArrayBuffer, got ${describe(data)}`);
}

export const sha256 = defineKernel<[data: Sha256Data, options?: DigestOptions], Digest>({
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
  fromBytes: digestFromBytes,
});
