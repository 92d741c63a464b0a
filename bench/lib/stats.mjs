// Small, dependency-free statistics for benchmark samples.
// Medians and ranges rather than means: on a shared 2-vCPU VM the noise is one-sided (steal,
// wake-up latency), so a mean is dragged by outliers while the median and the min show the
// typical and the achievable cost.

/** Sorted copy as a Float64Array (numeric sort, no string comparison surprises). */
export function sorted(xs) {
  const a = Float64Array.from(xs);
  a.sort();
  return a;
}

/** Nearest-rank quantile, q in [0, 1]. Nearest-rank never invents a value that was not observed. */
export function quantile(xs, q) {
  const a = xs instanceof Float64Array && isSortedAsc(xs) ? xs : sorted(xs);
  if (a.length === 0) return NaN;
  const rank = Math.min(a.length, Math.max(1, Math.ceil(q * a.length)));
  return a[rank - 1];
}

/** Median: the mean of the two middle values for even counts (the usual definition). */
export function median(xs) {
  const a = sorted(xs);
  const n = a.length;
  if (n === 0) return NaN;
  return n % 2 ? a[(n - 1) >> 1] : (a[n / 2 - 1] + a[n / 2]) / 2;
}

/** { n, median, min, max, mean, p99 } of a sample. */
export function summarize(xs) {
  const a = sorted(xs);
  const n = a.length;
  if (n === 0) return { n: 0, median: NaN, min: NaN, max: NaN, mean: NaN, p99: NaN };
  let sum = 0;
  for (let i = 0; i < n; i++) sum += a[i];
  return {
    n,
    median: n % 2 ? a[(n - 1) >> 1] : (a[n / 2 - 1] + a[n / 2]) / 2,
    min: a[0],
    max: a[n - 1],
    mean: sum / n,
    p99: quantile(a, 0.99),
  };
}

/** Element-wise ratio of two paired samples (rep i of a over rep i of b), then summarized. */
export function pairedRatio(a, b) {
  const n = Math.min(a.length, b.length);
  const r = [];
  for (let i = 0; i < n; i++) r.push(a[i] / b[i]);
  return summarize(r);
}

function isSortedAsc(a) {
  for (let i = 1; i < a.length; i++) if (a[i - 1] > a[i]) return false;
  return true;
}
