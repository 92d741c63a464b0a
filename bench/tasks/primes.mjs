// Task for the peer pools (piscina, tinypool, workerpool) in the scaling and event-loop scenarios:
// the number of primes in [lo, hi), counted by spindle's own JS twin of countPrimes. The peers and
// spindle's worker backend thus run the very same sieve code, so the comparison measures the pools
// (dispatch, splitting, balance), not two sieves. The harness checks every count against pi(x).
//
// dist/index.js loads the native addon lazily (on the first native pool or backendInfo() call), so
// importing it here only defines the kernels; a peer's worker never loads the addon.

import { kernels } from '../../dist/index.js';

/** The JS twin's context for a direct call: never cancelled, progress ignored. */
const ctx = { cancelled: () => false, progress() {} };

export default function primes({ lo, hi }) {
  return kernels.countPrimes.run([lo, hi], ctx);
}
