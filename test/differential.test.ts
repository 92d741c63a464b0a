// The C++ kernel and its JS twin must agree exactly. Exact oracles first (π(10^k) up to
// 10^10), then thousands of random ranges at every magnitude, each counted by both.
import { describe, expect, it } from 'vitest';
import { Pool, kernels } from '../src-ts/index.ts';
import { noContext } from '../src-ts/kernels/types.ts';

const PI_POWERS_OF_TEN = [4, 25, 168, 1229, 9592, 78498, 664579, 5761455, 50847534, 455052511];

// A small deterministic PRNG (mulberry32), so a failure names a reproducible range.
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomRanges(count: number, maxHi: number, maxWidth: number, seed: number): [number, number][] {
  const random = prng(seed);
  const ranges: [number, number][] = [];
  for (let i = 0; i < count; i++) {
    // Log-uniform magnitudes, so small and large ranges both get their share.
    const lo = Math.floor(Math.exp(random() * Math.log(maxHi)));
    const width = Math.floor(random() * random() * maxWidth);
    ranges.push([lo, Math.min(lo + width, 2 ** 53)]);
  }
  return ranges;
}

describe('countPrimes: native kernel against exact oracles and its JS twin', () => {
  it('π(10^k) for k = 1..10 on the native pool', async () => {
    await using pool = new Pool({ backend: 'native', size: 2 });
    const counts = await pool.starmap(kernels.countPrimes, PI_POWERS_OF_TEN.map((_, k) => [0, 10 ** (k + 1)] as [number, number]), { chunkSize: 1 });
    expect(counts).toEqual(PI_POWERS_OF_TEN);
  });

  it('known windows: around 2^31, 2^32, 10^12 and just below 2^53', async () => {
    await using pool = new Pool({ backend: 'native', size: 2 });
    expect(await pool.apply(kernels.countPrimes, [0, 2 ** 31])).toBe(105097565);
    expect(await pool.apply(kernels.countPrimes, [0, 2 ** 32])).toBe(203280221);
    expect(await pool.apply(kernels.countPrimes, [1e12, 1e12 + 1e8])).toBe(3618282);
    const nearTop: [number, number] = [2 ** 53 - 1e6, 2 ** 53];
    expect(await pool.apply(kernels.countPrimes, nearTop)).toBe(kernels.countPrimes.run(nearTop, noContext));
  });

  it('agrees with the JS twin on thousands of random ranges', async () => {
    await using pool = new Pool({ backend: 'native', size: 2 });
    const ranges = [
      ...randomRanges(3000, 1e7, 1e5, 1),
      ...randomRanges(1500, 1e12, 1e5, 2),
      ...randomRanges(300, 2 ** 40, 1e6, 3),
      ...randomRanges(40, 2 ** 53, 3e4, 4),
    ];
    const native = await pool.starmap(kernels.countPrimes, ranges, { chunkSize: 50 });
    const mismatches = ranges.filter((range, i) => native[i] !== kernels.countPrimes.run(range, noContext));
    expect(mismatches).toEqual([]);
  });
});
