// Shared memory that kernels copy callers' large ordinary buffers into, kept for the next call.
//
// Why: a call cannot read a caller's ordinary ArrayBuffer from another thread (the caller may
// transfer or shrink it the moment the call returns; sha256.ts and sort.ts say more), and the
// worker backend's other way in, structured clone, cost the calling thread about 300 ms for
// 80 MB on the development VM. So the calling thread copies the bytes into a SharedArrayBuffer.
// A fresh one costs a page fault per 4 KiB on its first touch (there, about 23 ms per 8 MB;
// 57 ms for 64 MiB on a quieter day), which a copy into it pays on the calling thread; a kept
// one costs only the copy (about 7 ms for 80 MB).
//
// Invariants: a buffer taken belongs to one call until that call gives it back, and a call
// gives it back only once no thread will read or write it again: when it has succeeded. A
// cancelled or failed call's buffer is left to the garbage collector, since a pool thread may
// still be reading it. Kept buffers hold the bytes of the calls that used them until a later
// call overwrites them (nothing outside this module can reach them).
//
// Kept: at most KEEP_COUNT buffers and KEEP_TOTAL bytes in all; when a buffer given back goes
// past either, the smallest kept ones are dropped first (a large buffer costs the most to
// fault in again, and takeStaging hands a large one to a small call as readily).

/** From this many bytes, an ordinary buffer is copied into staging rather than cloned or copied into fresh memory. */
export const STAGE_MIN = 1 << 20;
/** The most bytes kept, in all. */
export const KEEP_TOTAL = 256 * 1024 * 1024;
/** The most buffers kept: enough for as many large calls at once as a small pool runs. */
export const KEEP_COUNT = 4;

/** Free buffers, largest first. */
const kept: SharedArrayBuffer[] = [];

/** A buffer of at least `bytes`: the smallest kept one that is large enough, else a fresh one (whose pages no thread has touched). */
export function takeStaging(bytes: number): { buffer: SharedArrayBuffer; fresh: boolean } {
  for (let i = kept.length - 1; i >= 0; i--) {
    if (kept[i]!.byteLength >= bytes) return { buffer: kept.splice(i, 1)[0]!, fresh: false };
  }
  return { buffer: new SharedArrayBuffer(bytes), fresh: true };
}

/** Gives back a buffer takeStaging() returned, once the call that took it has succeeded. */
export function giveBackStaging(buffer: SharedArrayBuffer): void {
  if (buffer.byteLength > KEEP_TOTAL || kept.includes(buffer)) return;
  kept.push(buffer);
  kept.sort((a, b) => b.byteLength - a.byteLength);
  let total = 0;
  for (const b of kept) total += b.byteLength;
  while (kept.length > KEEP_COUNT || total > KEEP_TOTAL) total -= kept.pop()!.byteLength;
}

/** @internal For tests: the sizes of the buffers kept, largest first. */
export function keptStagingSizes(): number[] {
  return kept.map((b) => b.byteLength);
}
