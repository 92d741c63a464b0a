// The lines of a checksum list as coreutils' getline() loop sees them, read as they arrive:
// split on '\n' (which is dropped), a last line without one still a line, nothing after a
// final '\n'. Only the line being assembled and the current chunk are held, so a list of any
// length is read in bounded memory.

import type { ChunkSource } from './chunk-source.js';

/**
 * The longest line held. getline() has no limit, but a file name is at most 4096 bytes
 * (8192 escaped), so a longer line is garbage in practice (a binary file or disk image given
 * to -c, a line of NULs from /dev/zero): it is skipped without being held, and reported as
 * improperly formatted, which is what coreutils makes of such lines. Only a crafted line
 * (megabytes of blanks before a valid entry, or a name cut short by a NUL) reads differently.
 */
export const MAX_LINE = 1 << 20;

/** What a line too long to hold reads as: its first byte '#' makes it a comment, which coreutils skips at any length. */
const COMMENT = Buffer.from('#');
const tooLong = (first: number | undefined): Buffer | null => (first === 0x23 ? COMMENT : null);

/**
 * Yields each line of `source`, without its '\n', or null for a line longer than `maxLine`
 * (skipped up to its '\n'; a long comment yields "#"). A line that fits in one chunk is a view
 * of that chunk (no copy); a line spanning chunks is joined once, when its end arrives.
 */
export async function* readLines(source: ChunkSource, maxLine = MAX_LINE): AsyncGenerator<Buffer | null, void, undefined> {
  /** The start of the current line, from earlier chunks. */
  let pieces: Buffer[] = [];
  let pending = 0;
  /** The current line is too long: its bytes are dropped until its end. */
  let skipping = false;
  /** The first byte of the line being skipped. */
  let skippedFirst: number | undefined;
  for (let chunk = await source.read(); chunk !== null; chunk = await source.read()) {
    let start = 0;
    for (let end = chunk.indexOf(0x0a); end >= 0; end = chunk.indexOf(0x0a, start)) {
      const tail = chunk.subarray(start, end);
      if (skipping) yield tooLong(skippedFirst);
      else if (pending + tail.length > maxLine) yield tooLong((pieces[0] ?? tail)[0]);
      else yield pieces.length === 0 ? tail : Buffer.concat([...pieces, tail]);
      pieces = [];
      pending = 0;
      skipping = false;
      start = end + 1;
    }
    if (start < chunk.length && !skipping) {
      pending += chunk.length - start;
      pieces.push(chunk.subarray(start));
      if (pending > maxLine) {
        skipping = true;
        skippedFirst = pieces[0]![0];
        pieces = [];
      }
    }
  }
  if (skipping) yield tooLong(skippedFirst);
  else if (pending > 0) yield Buffer.concat(pieces);
}
