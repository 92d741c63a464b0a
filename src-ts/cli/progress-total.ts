// What a progress bar counts up to: the total size of the files a run will hash, found in the
// background while hashing has already started.

import { constants } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { ChecksumLineParser } from './checksum-lines.js';
import { FileChunks } from './chunk-source.js';
import { readLines } from './line-reader.js';

const isStdin = (name: Buffer): boolean => name.length === 1 && name[0] === 0x2d;

/**
 * The total size of the regular files among `names`, stat'ed a few dozen at a time. Stops
 * early once `wanted()` turns false (the bar it was for is gone).
 */
export async function totalSize(names: Iterable<Buffer> | AsyncIterable<Buffer>, wanted: () => boolean = () => true): Promise<number> {
  const iterator = Symbol.asyncIterator in names ? names[Symbol.asyncIterator]() : names[Symbol.iterator]();
  let total = 0;
  const worker = async (): Promise<void> => {
    for (let next = await iterator.next(); next.done !== true && wanted(); next = await iterator.next()) {
      if (isStdin(next.value)) continue;
      try {
        const s = await stat(next.value);
        if (s.isFile()) total += s.size;
      } catch {
        // reported when the file itself is hashed
      }
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  await iterator.return?.(); // a list left part-read closes its file
  return total;
}

/**
 * The names a checksum list file names, read on a pass of its own so that the total is known
 * while the check itself streams the list. Only a regular file can be read twice; for anything
 * else (a pipe, a terminal) nothing is yielded. Read errors end the list quietly: the check
 * reports them.
 *
 * The file is stat'ed before it is opened, and anything but a regular file is never opened
 * here: a second open of a named FIFO whose writer had already written and gone waited for
 * another writer, for ever, on a libuv thread, so the run printed its results and never exited.
 * O_NONBLOCK keeps one that became a FIFO after the stat from waiting either.
 */
export async function* listedNames(file: string): AsyncGenerator<Buffer, void, undefined> {
  let handle;
  try {
    if (!(await stat(file)).isFile()) return;
    handle = await open(file, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
    if (!(await handle.stat()).isFile()) return;
    const parser = new ChecksumLineParser();
    for await (const line of readLines(new FileChunks(handle))) {
      if (line === null) continue;
      const parsed = parser.parse(line, false);
      if (parsed.kind === 'entry') yield parsed.name;
    }
  } catch {
    return;
  } finally {
    await handle?.close().catch(() => {});
  }
}
