// piscina task for the event-loop scenario: a plain odd-only segmented sieve counting primes in
// [lo, hi). It is a load generator for worker threads, not an oracle (the oracles are the pi(10^k)
// tables and primesieve); the harness still checks its counts so that a broken load generator
// cannot pass silently.

const SEGMENT = 1 << 18; // odd numbers per segment: a 256 KiB Uint8Array, fits in L2
const segment = new Uint8Array(SEGMENT);
let basePrimes = new Uint32Array(0);
let baseLimit = 0;

/** Odd primes <= limit by a plain sieve of Eratosthenes; cached across tasks in this worker. */
function oddPrimesUpTo(limit) {
  if (limit <= baseLimit) return basePrimes;
  const s = new Uint8Array(limit + 1);
  const out = [];
  for (let i = 3; i <= limit; i += 2) {
    if (s[i]) continue;
    out.push(i);
    for (let j = i * i; j <= limit; j += 2 * i) s[j] = 1;
  }
  basePrimes = Uint32Array.from(out);
  baseLimit = limit;
  return basePrimes;
}

export function countPrimes(lo, hi) {
  if (hi <= lo || hi <= 2) return 0;
  let count = lo <= 2 ? 1 : 0;
  let root = Math.floor(Math.sqrt(hi - 1));
  while (root * root > hi - 1) root--;
  while ((root + 1) * (root + 1) <= hi - 1) root++;
  const primes = oddPrimesUpTo(Math.max(root, 3));
  let start = Math.max(lo, 3);
  if (start % 2 === 0) start++;
  for (let segLo = start; segLo < hi; segLo += 2 * SEGMENT) {
    const len = Math.min(SEGMENT, Math.ceil((hi - segLo) / 2)); // segLo + 2j < hi
    const segHi = segLo + 2 * len;
    segment.fill(0, 0, len);
    for (let k = 0; k < primes.length; k++) {
      const p = primes[k];
      const pp = p * p;
      if (pp >= segHi) break;
      let m = pp >= segLo ? pp : Math.ceil(segLo / p) * p;
      if (m % 2 === 0) m += p; // only odd multiples live in the segment
      for (let j = (m - segLo) / 2; j < len; j += p) segment[j] = 1;
    }
    for (let j = 0; j < len; j++) count += 1 - segment[j];
  }
  return count;
}

export default function primes({ lo, hi }) {
  return countPrimes(lo, hi);
}
