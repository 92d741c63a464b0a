// A latency histogram of fixed size, for stats().runTime and waitTime: every value recorded
// costs a few arithmetic operations and no allocation, however many tasks a pool runs.
//
// Buckets are log-linear over whole nanoseconds, in the manner of HDR histograms: values below
// 32 ns have a bucket each; above, each power of two is cut into 16 equal buckets, so a bucket
// is at most 1/16 of its lower bound wide. A percentile is reported as its bucket's midpoint,
// within 1/32 (3.2%) of a recorded value, clamped to the exact min and max. Values from 2^50
// ns (13 days) up share the last bucket. count, sum, min and max are exact.

/** What stats() reports for one histogram; every time in milliseconds, all 0 when count is 0. */
export interface TimeSummary {
  count: number;
  mean: number;
  min: number;
  max: number;
  p50: number;
  p90: number;
  p99: number;
}

const LINEAR = 32;
const SUB_BITS = 4;
const SUB = 1 << SUB_BITS;
const MAX_EXPONENT = 49;
const BUCKETS = LINEAR + (MAX_EXPONENT - 4) * SUB;
const TWO_31 = 2 ** 31;
const TWO_32 = 2 ** 32;

/**
 * The bucket of a whole number of nanoseconds, ns >= 0. Values below 2^31 ns (2.1 s), nearly
 * all of them, take the 32-bit integer path: the floating-point one (Math.pow, divisions)
 * measured 15 times slower, which showed in a burst's cost per task.
 */
function bucketOf(ns: number): number {
  if (ns < TWO_31) {
    const v = ns | 0;
    if (v < LINEAR) return v;
    const exponent = 31 - Math.clz32(v);
    return LINEAR + (exponent - 5) * SUB + ((v >>> (exponent - SUB_BITS)) - SUB);
  }
  return bucketOfLarge(ns);
}

function bucketOfLarge(ns: number): number {
  const high = Math.floor(ns / TWO_32);
  const exponent = high === 0 ? 31 - Math.clz32(ns) : 63 - Math.clz32(high);
  if (exponent > MAX_EXPONENT) return BUCKETS - 1;
  const sub = Math.floor(ns / 2 ** (exponent - SUB_BITS)) - SUB;
  return LINEAR + (exponent - 5) * SUB + sub;
}

/** The midpoint of a bucket, in nanoseconds. */
function midpointOf(bucket: number): number {
  if (bucket < LINEAR) return bucket;
  const exponent = 5 + Math.floor((bucket - LINEAR) / SUB);
  const sub = (bucket - LINEAR) % SUB;
  const width = 2 ** (exponent - SUB_BITS);
  return (SUB + sub) * width + width / 2;
}

export class Histogram {
  /** Counts per bucket. Float64 rather than Uint32: a long-lived pool passes 2^32 tasks. */
  private readonly counts = new Float64Array(BUCKETS);
  private count = 0;
  private sumNs = 0;
  private minNs = Infinity;
  private maxNs = 0;

  /** Records one duration in milliseconds; negative ones (clock skew between threads) count as 0. */
  record(ms: number): void {
    const ns = ms > 0 ? Math.round(ms * 1e6) : 0;
    this.counts[bucketOf(ns)]!++;
    this.count++;
    this.sumNs += ns;
    if (ns < this.minNs) this.minNs = ns;
    if (ns > this.maxNs) this.maxNs = ns;
  }

  /** The sum of every duration recorded, in milliseconds. */
  get sum(): number {
    return this.sumNs / 1e6;
  }

  summary(): TimeSummary {
    if (this.count === 0) return { count: 0, mean: 0, min: 0, max: 0, p50: 0, p90: 0, p99: 0 };
    return {
      count: this.count,
      mean: this.sumNs / this.count / 1e6,
      min: this.minNs / 1e6,
      max: this.maxNs / 1e6,
      p50: this.percentile(0.5),
      p90: this.percentile(0.9),
      p99: this.percentile(0.99),
    };
  }

  /** The value below which a share `p` of the recorded values lie (nearest rank), in milliseconds. */
  percentile(p: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(p * this.count));
    let seen = 0;
    for (let bucket = 0; bucket < BUCKETS; bucket++) {
      seen += this.counts[bucket]!;
      if (seen < rank) continue;
      // The last bucket has no upper bound: its values are best told by the largest of them.
      if (bucket === BUCKETS - 1) return this.maxNs / 1e6;
      return Math.min(Math.max(midpointOf(bucket), this.minNs), this.maxNs) / 1e6;
    }
    return this.maxNs / 1e6;
  }
}
