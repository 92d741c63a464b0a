// The JS twin of the prime-counting sieve (src-ts/kernels/sieve.ts): known values of pi, every
// small range against a trivial oracle, random ranges against an independent reference sieve,
// values near 2^53 from primesieve (whose intervals are inclusive: `primesieve A B -c1` counts
// [A, B]), progress and cancellation. The C++ kernel is compared with this twin through the
// addon in test/differential.test.ts.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { backendInfo } from '../src-ts/backends/select.js';
import { countPrimesRange } from '../src-ts/kernels/sieve.ts';
import type { KernelContext } from '../src-ts/kernels/types.ts';

const TOP = 2 ** 53;

/** A seeded generator of integers in [0, n) for n <= 2^53 (splitmix32 pairs). */
function randomInts(seed: number): (n: number) => number {
  let state = seed >>> 0;
  const next32 = (): number => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  return (n) => Math.floor(((next32() >>> 6) * 2 ** 27 + (next32() >>> 5)) / 2 ** 53 * n);
}

/** An independent reference: a plain sieve of [lo, hi), one flag per number, for hi < 2^40. */
function referenceCount(lo: number, hi: number): number {
  const composite = new Uint8Array(hi - lo);
  for (let p = 2; p * p < hi; p++) {
    for (let m = Math.max(p * p, Math.ceil(lo / p) * p); m < hi; m += p) composite[m - lo] = 1;
  }
  let n = 0;
  for (let x = Math.max(lo, 2); x < hi; x++) n += composite[x - lo] === 0 ? 1 : 0;
  return n;
}

describe('countPrimesRange', () => {
  it('gives pi(10^k) for k = 1..9, pi(2^31) and pi(2^32)', () => {
    const pi = [4, 25, 168, 1229, 9592, 78498, 664579, 5761455, 50847534];
    pi.forEach((expected, k) => expect(countPrimesRange(0, 10 ** (k + 1))).toBe(expected));
    expect(countPrimesRange(0, 2 ** 31)).toBe(105097565);
    expect(countPrimesRange(0, 2 ** 32)).toBe(203280221);
  });

  it('counts windows far from 0', () => {
    expect(countPrimesRange(1e12, 1e12 + 1e8)).toBe(3618282);
    expect(countPrimesRange(1e12, 1e12 + 1e9)).toBe(36190991);
    expect(countPrimesRange(1e14, 1e14 + 1e8)).toBe(3102679);
    expect(countPrimesRange(1e15, 1e15 + 1e9)).toBe(28946421);
  });

  it('matches primesieve spot values, near 2^32 and near 2^53', () => {
    expect(countPrimesRange(1_000_000, 2_000_000)).toBe(70435);
    expect(countPrimesRange(4_294_000_000, 2 ** 32)).toBe(43362);
    expect(countPrimesRange(2 ** 32, 2 ** 32 + 1e6)).toBe(45038);
    expect(countPrimesRange(123_456_789_012, 123_457_789_012)).toBe(39118);
    expect(countPrimesRange(3e15, 3e15 + 1e6)).toBe(28129);
    expect(countPrimesRange(TOP - 1e6, TOP)).toBe(27396);
    expect(countPrimesRange(TOP - 1000, TOP)).toBe(25);
    expect(countPrimesRange(TOP - 992, TOP - 111)).toBe(24);
    expect(countPrimesRange(TOP - 111, TOP - 110)).toBe(1); // the largest prime below 2^53
    expect(countPrimesRange(TOP - 110, TOP)).toBe(0);
    expect(countPrimesRange(TOP, TOP)).toBe(0);
  });

  it('agrees with a trivial oracle on every range within [0, 2000]', () => {
    const n = 2000;
    const below = new Int32Array(n + 1); // below[x] = pi(x - 1)
    for (let x = 1; x <= n; x++) {
      let prime = x - 1 >= 2;
      for (let d = 2; d * d <= x - 1; d++) prime &&= (x - 1) % d !== 0;
      below[x] = below[x - 1]! + (prime ? 1 : 0);
    }
    const wrong: string[] = [];
    for (let lo = 0; lo <= n; lo++) {
      for (let hi = lo; hi <= n; hi++) {
        if (countPrimesRange(lo, hi) !== below[hi]! - below[lo]!) wrong.push(`[${lo}, ${hi})`);
      }
    }
    expect(wrong).toEqual([]);
    const tiny: [number, number, number][] = [
      [0, 0, 0], [0, 1, 0], [0, 2, 0], [0, 3, 1], [2, 3, 1], [3, 3, 0], [4, 5, 0], [5, 6, 1],
      [7, 8, 1], [11, 12, 1], [25, 26, 0], [29, 31, 1], [49, 50, 0], [53, 54, 1],
    ];
    for (const [lo, hi, expected] of tiny) expect(countPrimesRange(lo, hi), `[${lo}, ${hi})`).toBe(expected);
  });

  it('agrees with a reference sieve on random ranges', () => {
    const random = randomInts(20261124);
    const magnitudes = [
      { base: 0, spread: 100_000, maxWidth: 5_000, ranges: 1500 },
      { base: 0, spread: 50_000_000, maxWidth: 1_000_000, ranges: 40 },
      { base: 2 ** 32 - 5_000_000, spread: 10_000_000, maxWidth: 1_000_000, ranges: 20 },
      { base: 1e11, spread: 1e12, maxWidth: 100_000, ranges: 10 },
    ];
    const wrong: string[] = [];
    for (const { base, spread, maxWidth, ranges } of magnitudes) {
      for (let i = 0; i < ranges; i++) {
        const lo = base + random(spread);
        const hi = lo + random(maxWidth + 1);
        if (countPrimesRange(lo, hi) !== referenceCount(lo, hi)) wrong.push(`[${lo}, ${hi})`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('reports progress adding up to hi - lo, once per segment', () => {
    for (const [lo, hi] of [[0, 0], [0, 1], [5, 6], [17, 1_000_003], [999_999_999, 1_234_567_891], [TOP - 1e6, TOP]] as const) {
      const reports: number[] = [];
      countPrimesRange(lo, hi, { cancelled: () => false, progress: (n) => reports.push(n) });
      expect(reports.reduce((a, b) => a + b, 0)).toBe(hi - lo);
      expect(reports.every((n) => n > 0 && Number.isInteger(n))).toBe(true);
    }
  });

  it('stops soon after the context turns cancelled', () => {
    let done = 0;
    let polls = 0;
    const ctx: KernelContext = {
      cancelled: () => (polls++, done >= 2e7),
      progress: (n) => (done += n),
    };
    const started = performance.now();
    countPrimesRange(0, 1e12, ctx);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(done).toBeLessThan(1e8);
    expect(polls).toBeGreaterThan(1);
  });

  it('gives the same count after a cancelled run', () => {
    countPrimesRange(0, 1e10, { cancelled: () => true, progress: () => {} });
    expect(countPrimesRange(0, 1e6)).toBe(78498);
    expect(countPrimesRange(1e12, 1e12 + 1e8)).toBe(3618282);
  });

  it('rejects what is not an integer range within [0, 2^53]', () => {
    for (const [lo, hi] of [[-1, 5], [5, 4], [0, TOP + 2], [0.5, 3], [0, NaN], [0, Infinity]]) {
      expect(() => countPrimesRange(lo!, hi!)).toThrow(RangeError);
    }
  });
});

describe('progress in a fresh process (native)', () => {
  // The first countPrimes of a process also builds the table of sieving primes, by sieving
  // itself; that sieving is not the caller's range and must not count in its progress (it once
  // added 65688 to [0, 4e9)). So does a later call that needs the table to grow.
  it.runIf(backendInfo().native)("reports exactly hi - lo on a process's first call and on one that grows the table", () => {
    const dist = new URL('../dist/index.js', import.meta.url).href;
    const script = `
      import { Pool, kernels, SharedCounter } from ${JSON.stringify(dist)};
      const pool = new Pool({ backend: 'native', size: 2 });
      const off = [];
      for (const [lo, hi] of [[0, 4e9], [0, 4e9], [1.6e11, 1.6e11 + 1e8]]) {
        const progress = new SharedCounter();
        await pool.apply(kernels.countPrimes, [lo, hi], { progress });
        off.push(progress.value - (hi - lo));
      }
      await pool.terminate();
      console.log(JSON.stringify(off));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(JSON.parse(out)).toEqual([0, 0, 0]);
  });
});
