// The staging buffers kernels copy large ordinary buffers into (src-ts/kernels/staging.ts):
// which buffer a call gets, and what is kept. The calls that use them are tested where they
// are used (test/sha256.test.ts, test/sort-parallel.test.ts).
import { expect, it } from 'vitest';
import { giveBackStaging, KEEP_COUNT, KEEP_TOTAL, keptStagingSizes, takeStaging } from '../src-ts/kernels/staging.js';

const MiB = 1 << 20;

it('a call gets the smallest kept buffer large enough, else a fresh one; each buffer goes to one call at a time', () => {
  const a = takeStaging(4 * MiB);
  const b = takeStaging(16 * MiB);
  expect([a.fresh, b.fresh]).toEqual([true, true]);
  expect([a.buffer.byteLength, b.buffer.byteLength]).toEqual([4 * MiB, 16 * MiB]);
  giveBackStaging(a.buffer);
  giveBackStaging(b.buffer);
  giveBackStaging(b.buffer); // twice: kept once
  expect(keptStagingSizes()).toEqual([16 * MiB, 4 * MiB]);
  const c = takeStaging(3 * MiB);
  expect(c).toEqual({ buffer: a.buffer, fresh: false });
  const d = takeStaging(3 * MiB); // the 4 MiB one is taken: the 16 MiB one
  expect(d).toEqual({ buffer: b.buffer, fresh: false });
  const e = takeStaging(3 * MiB); // none left
  expect(e.fresh).toBe(true);
  expect(e.buffer).not.toBe(a.buffer);
  expect(e.buffer).not.toBe(b.buffer);
  expect(keptStagingSizes()).toEqual([]);
  for (const x of [c, d, e]) giveBackStaging(x.buffer);
  expect(keptStagingSizes()).toEqual([16 * MiB, 4 * MiB, 3 * MiB]);
  for (let i = 0; i < 3; i++) takeStaging(1);
  expect(keptStagingSizes()).toEqual([]);
});

it(`keeps at most ${KEEP_COUNT} buffers and ${KEEP_TOTAL / MiB} MiB in all, dropping the smallest first; a larger one is never kept`, () => {
  const sizes = [1, 2, 3, 4, 5].map((m) => m * MiB);
  for (const size of sizes) giveBackStaging(takeStaging(size).buffer);
  expect(keptStagingSizes()).toEqual([5, 4, 3, 2].map((m) => m * MiB).slice(0, KEEP_COUNT));
  giveBackStaging(takeStaging(KEEP_TOTAL + 1).buffer); // fresh (nothing kept is that large), then too large to keep
  expect(keptStagingSizes()).toEqual([5, 4, 3, 2].map((m) => m * MiB));
  const big = takeStaging(KEEP_TOTAL - 6 * MiB);
  expect(big.fresh).toBe(true);
  giveBackStaging(big.buffer); // 250 + 5 fits in 256 MiB; 4 more does not
  expect(keptStagingSizes()).toEqual([KEEP_TOTAL - 6 * MiB, 5 * MiB]);
  while (keptStagingSizes().length > 0) takeStaging(1);
});
