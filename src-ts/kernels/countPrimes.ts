// countPrimes(lo, hi): the number of primes p with lo <= p < hi, for integers 0 <= lo <= hi <= 2^53.
// The C++ kernel (src-cpp/core/kernels/count_primes.cpp) and this JS twin run the same
// segmented, wheel-based sieve and return identical counts.
import { checkArity, checkInteger } from './args.js';
import { countPrimesRange } from './sieve.js';
import { defineKernel } from './types.js';

export const MAX_PRIME_BOUND = 2 ** 53;

/** Numbers per part, at least, when a call is shared out: ~10 ms of JS sieving. */
const MIN_PART = 2 ** 24;

export const countPrimes = defineKernel<[lo: number, hi: number], number>({
  name: 'countPrimes',
  validate(args) {
    checkArity('countPrimes', args, 2, 2, 'lo, hi');
    const lo = checkInteger('countPrimes', 'lo', args[0], 0, MAX_PRIME_BOUND);
    const hi = checkInteger('countPrimes', 'hi', args[1], 0, MAX_PRIME_BOUND);
    if (lo > hi) throw new RangeError(`countPrimes: lo must be <= hi, got lo = ${lo} > hi = ${hi}`);
    return [lo, hi];
  },
  run(args, ctx) {
    return countPrimesRange(args[0] as number, args[1] as number, ctx);
  },
  // Counts over adjacent ranges add up, so [lo, hi) splits into consecutive pieces.
  split(args, parts) {
    const [lo, hi] = args as [number, number];
    const n = Math.min(parts, Math.floor((hi - lo) / MIN_PART));
    if (n < 2) return [args as unknown[]];
    const step = Math.floor((hi - lo) / n);
    return Array.from({ length: n }, (_, i) => [lo + i * step, i === n - 1 ? hi : lo + (i + 1) * step]);
  },
  combine(results) {
    let total = 0;
    for (const count of results) total += count as number;
    return total;
  },
});
