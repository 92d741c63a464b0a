// The JS twin of countPrimes polls for cancellation at points bounded in time, as the C++ kernel
// does (issue #12 item 5): the worker backend's cancellation is cooperative first, and only a task
// that ignores it for cancelGrace ms loses its worker. Two stretches used to run unpolled for most
// of a second near 2^53: building the sieving-prime table (sqrt(2^53) ≈ 9.5e7 numbers) and
// activating all 5.4 million sieving primes for the first segment of a range far from 0.
// This file runs in its own process, so the table is built here, by the first call.
import { describe, expect, it } from 'vitest';
import { countPrimesRange } from '../src-ts/kernels/sieve.js';
import type { KernelContext } from '../src-ts/kernels/types.js';

/**
 * A context that cancels at poll `stopAt`, and records the longest stretch without a poll: from
 * the call to the first poll, between polls, and from the last poll to the return (end()).
 */
function probe(stopAt: number): KernelContext & { polls: number; longestGapMs: number; progressed: number; end(): void } {
  let last = performance.now();
  const lap = (): void => {
    const now = performance.now();
    ctx.longestGapMs = Math.max(ctx.longestGapMs, now - last);
    last = now;
  };
  const ctx = {
    polls: 0,
    longestGapMs: 0,
    cancelled(): boolean {
      lap();
      return ++ctx.polls >= stopAt;
    },
    progressed: 0,
    progress(units: number): void {
      ctx.progressed += units;
    },
    end: lap,
  };
  return ctx;
}

/** Generous for a loaded machine: the longest unpolled stretch measured here is about 0.1 s; it was 0.6-0.9 s. */
const LONGEST_GAP_MS = 300;

describe('countPrimes JS twin: cancellation polls', () => {
  it('come often while the sieving-prime table is built, and a cancelled build caches nothing', () => {
    // Cancelled part way into the table build: the call returns early.
    const cancelled = probe(3);
    countPrimesRange(2 ** 53 - 1e6, 2 ** 53, cancelled);
    cancelled.end();
    // Stops at once: the build and the call each see the cancellation once more on the way out.
    expect(cancelled.polls).toBeGreaterThanOrEqual(3);
    expect(cancelled.polls).toBeLessThanOrEqual(5);
    expect(cancelled.longestGapMs).toBeLessThan(LONGEST_GAP_MS);
    // The next call builds the whole table (nothing partial was kept) and gets the right count:
    // the same as two halves counted after it.
    const full = probe(Infinity);
    const whole = countPrimesRange(2 ** 53 - 1e6, 2 ** 53, full);
    full.end();
    expect(whole).toBe(countPrimesRange(2 ** 53 - 1e6, 2 ** 53 - 5e5) + countPrimesRange(2 ** 53 - 5e5, 2 ** 53));
    expect(full.polls).toBeGreaterThan(50);
    // Progress counts the call's numbers only, not those sieved to build the table.
    expect(full.progressed).toBe(1e6);
    expect(full.longestGapMs).toBeLessThan(LONGEST_GAP_MS);
  });

  it('come often while the first segment far from 0 activates every sieving prime', () => {
    const ctx = probe(Infinity);
    countPrimesRange(2 ** 40, 2 ** 40 + 1e6, ctx); // a table that reaches 2^20 only
    countPrimesRange(2 ** 53 - 2e7, 2 ** 53, ctx);
    ctx.end();
    expect(ctx.polls).toBeGreaterThan(50);
    expect(ctx.longestGapMs).toBeLessThan(LONGEST_GAP_MS);
  });
});
