// Standard input, which may be named several times ("-" twice, or "-" in a checksum file that
// was itself read from a file): the first reader gets everything up to end of file, later ones
// get nothing, exactly as with coreutils. Readers take turns, one after the other.

import { createHash } from 'node:crypto';
import { fstatSync } from 'node:fs';
import { constants } from 'node:os';
import type { Readable } from 'node:stream';
import type { SharedCounter } from '../shared/counter.js';
import { systemError } from '../system-error.js';
import { failingSource, StreamChunks, type ChunkSource } from './chunk-source.js';

export class StdinReader {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly stream: NodeJS.ReadableStream,
    /** The file descriptor behind the stream (0 for process.stdin), to tell a directory; undefined for other streams. */
    private readonly fd: number | undefined,
  ) {}

  /**
   * Runs `use` on what is left of standard input once every earlier reader is done. The
   * source is pulled chunk by chunk, so a checksum list on stdin is checked as it arrives.
   */
  take<T>(use: (source: ChunkSource) => Promise<T>): Promise<T> {
    const turn = this.queue.then(() => use(this.source()));
    this.queue = turn.catch(() => {});
    return turn;
  }

  /** The hex digest of everything left, hashed chunk by chunk as it arrives. */
  hash(progress: SharedCounter): Promise<string> {
    return this.take(async (source) => {
      const hash = createHash('sha256');
      for (let chunk = await source.read(); chunk !== null; chunk = await source.read()) {
        hash.update(chunk);
        progress.add(chunk.length);
      }
      return hash.digest('hex');
    });
  }

  private source(): ChunkSource {
    // Node reads a directory on stdin as empty; coreutils' read() fails with EISDIR.
    if (this.fd !== undefined && isDirectory(this.fd)) return failingSource(systemError(-constants.errno.EISDIR, 'read', '-'));
    return new StreamChunks(this.stream as Readable);
  }
}

function isDirectory(fd: number): boolean {
  try {
    return fstatSync(fd).isDirectory();
  } catch {
    return false;
  }
}
