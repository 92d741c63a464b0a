// Files that are not regular files: FIFOs (and so `<(cmd)` and /dev/stdin on a pipe) and
// character devices such as /dev/null. The pool's sha256File refuses them (EINVAL from open) so
// that nothing can park a pool thread in open() or read() for good. coreutils hashes them, so
// the command reads them itself, here on the event loop, just as it reads standard input: a FIFO
// waits for its writer and /dev/zero never ends, exactly as with coreutils; the regular files
// go on hashing on the pool meanwhile. These files and standard input are read one after the
// other, in argument order (sha256sum.ts), so that a pipe named twice is read as coreutils reads it.

import { createHash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import type { SharedCounter } from '../shared/counter.js';

const CHUNK_BYTES = 256 * 1024;

/**
 * Whether `path` is, by stat() (which opens nothing), a FIFO or a character device: one to read
 * here rather than offer to the pool. A FIFO must be opened once only: the pool's open (with
 * O_NONBLOCK, to see what it is) would take the writer that was waiting for a reader, and once
 * that writer wrote and left, the second open here waited for another, for ever. Errors (a
 * missing file) say false: the pool reports them as coreutils words them.
 */
export async function isSpecialFile(path: Buffer): Promise<boolean> {
  try {
    const stats = await stat(path);
    return stats.isFIFO() || stats.isCharacterDevice();
  } catch {
    return false;
  }
}

/** Whether `error` is sha256File's refusal of a file that is not a regular file or block device. */
export function isRefusedSpecialFile(error: unknown): boolean {
  const e = error as { code?: unknown; syscall?: unknown } | null;
  return typeof e === 'object' && e !== null && e.code === 'EINVAL' && e.syscall === 'open';
}

/** The hex digest of everything read from `path` until end of file. Errors are fs's own. */
export async function hashSpecialFile(path: Buffer, progress: SharedCounter): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const hash = createHash('sha256');
    const buffer = Buffer.allocUnsafe(CHUNK_BYTES);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, CHUNK_BYTES, null);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      progress.add(bytesRead);
    }
    return hash.digest('hex');
  } finally {
    await handle.close();
  }
}
