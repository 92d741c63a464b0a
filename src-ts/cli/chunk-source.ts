// Bytes pulled a chunk at a time, from a file or from a stream such as standard input.
//
// Pulled, not pushed: nothing is read until the reader asks, so a reader that is busy (a
// window of checksum-list entries waiting on the pool) holds the input back instead of letting
// it pile up in memory, and a reader that stops early leaves the rest unread.

import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';

export interface ChunkSource {
  /** The next bytes, or null at end of input (or once cancelled). Read errors reject. */
  read(): Promise<Buffer | null>;
  /** Stops reading: a read waiting for input resolves to null, and later reads too. */
  cancel(): void;
}

/** Large enough that a checksum list is a handful of reads per thousand lines. */
const FILE_CHUNK = 1 << 16;

/** An open file, read from its current position to its end. Does not close it. */
export class FileChunks implements ChunkSource {
  private cancelled = false;

  constructor(private readonly handle: FileHandle) {}

  async read(): Promise<Buffer | null> {
    if (this.cancelled) return null;
    const buffer = Buffer.allocUnsafe(FILE_CHUNK);
    const { bytesRead } = await this.handle.read(buffer, 0, FILE_CHUNK, null);
    return bytesRead === 0 || this.cancelled ? null : buffer.subarray(0, bytesRead);
  }

  cancel(): void {
    this.cancelled = true;
  }
}

/**
 * A readable stream in paused mode: each read() takes what the stream has buffered, or waits
 * for more. The stream itself only reads ahead up to its high-water mark.
 */
export class StreamChunks implements ChunkSource {
  private cancelled = false;
  /** Ends the current wait for input, if one is in progress. */
  private wake: (() => void) | undefined = undefined;

  constructor(private readonly stream: Readable) {}

  async read(): Promise<Buffer | null> {
    const stream = this.stream;
    for (;;) {
      if (this.cancelled) return null;
      if (stream.errored) throw stream.errored;
      const chunk = stream.read() as Buffer | string | null;
      if (chunk !== null) return typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (stream.readableEnded || stream.destroyed) return null;
      await this.waitForInput();
    }
  }

  cancel(): void {
    this.cancelled = true;
    this.wake?.();
  }

  /** Until the stream has data, ends or fails. Listeners live only for the wait: the stream may be read by someone else later. */
  private waitForInput(): Promise<void> {
    const stream = this.stream;
    return new Promise<void>((resolve) => {
      const done = (): void => {
        stream.off('readable', done);
        stream.off('end', done);
        stream.off('error', done);
        stream.off('close', done);
        this.wake = undefined;
        resolve();
      };
      this.wake = done;
      stream.on('readable', done);
      stream.on('end', done);
      stream.on('error', done);
      stream.on('close', done);
    });
  }
}

/** A source whose first read fails with `error` (standard input that is a directory). */
export function failingSource(error: unknown): ChunkSource {
  return {
    read: () => Promise.reject(error),
    cancel: () => {},
  };
}
