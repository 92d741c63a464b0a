// What the digest kernels (sha256, sha256File) share: the `{ encoding }` option and turning a
// 32-byte digest into the caller's result. Validation turns the option into a small integer,
// because it travels to C++ with the other arguments (the addon takes numbers, not strings);
// C++ ignores it and returns raw bytes, which fromBytes() encodes on the pool's thread.

import { describe, isArray } from './args.js';
import { findUnknownOption, OptionNames, unknownOptionError } from '../internal/option-names.js';
import type { ResultFn } from './types.js';

export type DigestEncoding = 'hex' | 'base64' | 'buffer';

export interface DigestOptions {
  /** 'hex' (default): 64 lowercase hex digits; 'base64': 44 characters; 'buffer': a 32-byte Buffer. */
  encoding?: DigestEncoding | undefined;
}

/** A digest as the encoding asks: a string for 'hex' and 'base64', a Buffer for 'buffer'. */
export type Digest = string | Buffer;

/**
 * The digest one call's arguments `A` (`[data, options?]`) ask for: a Buffer for
 * `{ encoding: 'buffer' }`, a string for 'hex', 'base64' or no encoding, and Digest where the
 * type leaves the encoding open (an options object typed DigestOptions).
 */
export type DigestFor<A> = A extends readonly [unknown] ? string : A extends readonly [unknown, infer O] ? DigestOf<O> : Digest;
type DigestOf<O> = O extends { readonly encoding: 'buffer' }
  ? Buffer
  : O extends { readonly encoding?: 'hex' | 'base64' | undefined } | undefined
    ? string
    : Digest;

/** The digest kernels' ResultFn (see kernels/types.ts). */
export interface DigestResult extends ResultFn {
  readonly result: DigestFor<this['args']>;
}

/** The codes validate() puts in the argument tuple; src-cpp/core/kernels/sha256.cpp knows the range. */
const ENCODINGS: readonly DigestEncoding[] = ['hex', 'base64', 'buffer'];
const HEX = 0;
const BASE64 = 1;

/** Checks `options` (undefined or `{ encoding? }`) and returns its encoding code. */
const DIGEST_OPTIONS = new OptionNames(['encoding']);

export function checkDigestOptions(kernel: string, options: unknown): number {
  if (options === undefined) return HEX;
  if (typeof options !== 'object' || options === null || isArray(options)) {
    throw new TypeError(`${kernel}: options must be an object like { encoding: 'hex' }, got ${describe(options)}`);
  }
  const unknown = findUnknownOption(options, DIGEST_OPTIONS);
  if (unknown !== undefined) throw unknownOptionError(kernel, unknown, DIGEST_OPTIONS);
  const encoding = (options as DigestOptions).encoding;
  if (encoding === undefined) return HEX;
  if (typeof encoding !== 'string') throw new TypeError(`${kernel}: options.encoding must be a string, got ${describe(encoding)}`);
  const code = ENCODINGS.indexOf(encoding as DigestEncoding);
  if (code < 0) throw new RangeError(`${kernel}: options.encoding must be 'hex', 'base64' or 'buffer', got ${JSON.stringify(encoding)}`);
  return code;
}

/** A whole digest in the encoding with this code. The Buffer is `digest` itself. */
export function encodeDigest(digest: Buffer, encoding: number): Digest {
  if (encoding === HEX) return digest.toString('hex');
  if (encoding === BASE64) return digest.toString('base64');
  return digest;
}

/**
 * The descriptors' fromBytes(): bytes[start, end) in the encoding of `args[1]`. A 'buffer'
 * result is a view into the buffer the addon filled for this result (or this map chunk's
 * results), not a copy; views never overlap.
 */
export function digestFromBytes(bytes: Buffer, start: number, end: number, args: readonly unknown[]): Digest {
  const encoding = args[1] as number;
  if (encoding === HEX) return bytes.toString('hex', start, end);
  if (encoding === BASE64) return bytes.toString('base64', start, end);
  return start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end);
}
