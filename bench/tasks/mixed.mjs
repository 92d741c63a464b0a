// Task for the latency scenario: most calls are tiny, a few hold their thread for a while. The
// slow ones busy-wait (CPU-bound, as a slow synchronous task does), so a tiny call queued behind
// one on the same thread waits for all of it. Every contender runs this same function.
export default function mixed(job) {
  if (job.slowMs > 0) {
    const until = performance.now() + job.slowMs;
    while (performance.now() < until);
  }
  return job.i;
}
