// sha256File(path, options?): the SHA-256 digest of a file's contents, in the encodings of
// sha256. The C++ kernel (src-cpp/core/kernels/sha256_file.cpp) opens and reads the file on its
// pool thread; the JS twin reads it with node:fs inside the worker. Either way the main thread
// only sends a path and receives a digest, and a failure is the error fs.readFile would give:
// ENOENT, EACCES, EISDIR ... with errno, code, syscall and path.
import { createHash } from 'node:crypto';
import { closeSync, constants as fsConstants, fstatSync, openSync, readSync } from 'node:fs';
import { constants } from 'node:os';
import { sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isSharedArrayBuffer, isUint8Array } from 'node:util/types';
import { systemError } from '../system-error.js';
import { checkArity, describe, isDetached, viewRange } from './args.js';
import { checkDigestOptions, digestFromBytes, encodeDigest, type Digest, type DigestOptions, type DigestResult } from './digest.js';
import { defineKernel } from './types.js';

/** A file: a path string, its bytes (a Buffer or Uint8Array, for names that are not UTF-8), or a file: URL. */
export type Sha256FilePath = string | Uint8Array | URL;

/** Bytes per read in the JS twin; the C++ kernel reads 256 KiB at a time. */
const READ_BYTES = 1 << 20;
let readBuffer: Buffer | undefined;

/**
 * Opened non-blocking, as the C++ kernel does: open() of a FIFO nobody writes to blocks until a
 * writer comes, and a worker blocked in a system call can be neither cancelled nor terminated
 * (process.exit() itself would wait for it). Node has no fcntl() to clear the flag afterwards,
 * but only regular files and block devices are read, and for those it changes nothing.
 * O_NOCTTY: a terminal device must never become the process's controlling terminal.
 */
const OPEN_FLAGS = fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0) | (fsConstants.O_NOCTTY ?? 0);

/**
 * The path's bytes, made absolute against the current directory at the call: the file opened is
 * the one meant when the call was made, even if the process changes directory before a pool
 * thread gets to it. No other normalization ('..', symlinks, a trailing '/') is done: the
 * system resolves the path exactly as it would for open().
 */
function pathBytes(path: unknown): Uint8Array {
  let bytes: Uint8Array;
  if (typeof path === 'string') bytes = Buffer.from(path, 'utf8');
  else if (isUint8Array(path)) bytes = copyOfPath(path);
  else if (path instanceof URL) {
    if (path.protocol !== 'file:') throw new TypeError(`sha256File: path must be a file: URL, got ${path.protocol} URL ${path.href}`);
    bytes = Buffer.from(fileURLToPath(path), 'utf8');
  } else {
    throw new TypeError(`sha256File: path must be a string, Buffer, Uint8Array or file: URL, got ${describe(path)}`);
  }
  if (bytes.includes(0)) {
    throw new TypeError(`sha256File: path must not contain null bytes, got ${JSON.stringify(Buffer.from(bytes).toString('utf8'))}`);
  }
  const absolute = bytes.length === 0 || bytes[0] === sep.charCodeAt(0);
  const cwd = process.cwd();
  return absolute ? bytes : Buffer.concat([Buffer.from(cwd.endsWith(sep) ? cwd : cwd + sep, 'utf8'), bytes]);
}

/**
 * The caller's path bytes, copied at the call: the worker backend sends its arguments when the
 * task is dispatched, so bytes the caller changes after the call (in an ordinary or a shared
 * buffer alike) would otherwise change the file hashed, after the null-byte check.
 */
function copyOfPath(path: Uint8Array): Uint8Array {
  const { buffer, byteOffset, byteLength } = viewRange(path); // what the engine holds, whatever getters say
  if (!isSharedArrayBuffer(buffer) && isDetached(buffer)) {
    throw new TypeError('sha256File: path is a view over a detached ArrayBuffer (it was transferred away); pass the bytes where they now live');
  }
  const copy = Buffer.allocUnsafeSlow(byteLength); // its own memory, never the shared pool slab
  copy.set(new Uint8Array(buffer, byteOffset, byteLength));
  return copy;
}

export const sha256File = defineKernel<[path: Sha256FilePath, options?: DigestOptions], Digest, DigestResult>({
  name: 'sha256File',
  // Normalized: [absolute path bytes: Uint8Array, encoding code].
  validate(args) {
    checkArity('sha256File', args, 1, 2, 'path, options?');
    return [pathBytes(args[0]), checkDigestOptions('sha256File', args[1])];
  },
  run(args, ctx) {
    const bytes = args[0] as Uint8Array; // a structured clone of the Buffer validate() made: a plain Uint8Array
    const path = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let fd: number;
    try {
      fd = openSync(path, OPEN_FLAGS);
    } catch (error) {
      // Rebuilt rather than rethrown: Node 18's synchronous fs errors order their keys errno,
      // syscall, code, path, and the native kernel's (and fs.promises') are errno, code, syscall, path.
      const { errno } = error as { errno?: number };
      throw errno === undefined ? error : systemError(errno, 'open', path.toString('utf8'));
    }
    try {
      // As the C++ kernel: a directory fails as reading one does on Linux, but with the path; a
      // FIFO, socket or character device (which could block or never end) fails with EINVAL.
      const stats = fstatSync(fd);
      if (stats.isDirectory()) throw systemError(-constants.errno.EISDIR, 'read', path.toString('utf8'));
      if (!stats.isFile() && !stats.isBlockDevice()) throw systemError(-constants.errno.EINVAL, 'open', path.toString('utf8'));
      readBuffer ??= Buffer.allocUnsafe(READ_BYTES);
      const hash = createHash('sha256');
      for (;;) {
        if (ctx.cancelled()) break; // the result is discarded
        let n: number;
        try {
          n = readSync(fd, readBuffer, 0, READ_BYTES, null);
        } catch (error) {
          const { errno } = error as { errno?: number };
          throw errno === undefined ? error : systemError(errno, 'read', path.toString('utf8'));
        }
        if (n === 0) break;
        hash.update(readBuffer.subarray(0, n));
        ctx.progress(n);
      }
      return encodeDigest(hash.digest(), args[1] as number);
    } finally {
      closeSync(fd);
    }
  },
  fromBytes: digestFromBytes,
});
