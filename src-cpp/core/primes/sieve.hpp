// Counting primes in [lo, hi) for 0 <= lo <= hi <= 2^53 with a segmented sieve of Eratosthenes
// on a mod-30 wheel. This is the algorithm only: no threads, no N-API. The countPrimes kernel
// (kernels/count_primes.cpp) splits a call into a UnitPlan's units, runs each with a per-thread
// Sieve, and shares one SievingPrimes table between them. src-ts/kernels/sieve.ts is the JS twin:
// same wheel, same pre-sieve, same segments, same counts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "../kernel.hpp"

namespace spindle::primes {

// The largest hi the sieve accepts: every number below it is exact in a double.
inline constexpr uint64_t kMaxBound = uint64_t{1} << 53;

// The segment is the unit of cache-resident work: kSegmentBytes sieve bytes, 30 numbers each,
// sized for a 1 MiB L2 (measured on pi(1e10): 256 KiB to 1 MiB within noise, 64 KiB 15% slower;
// around 1e12 and 1e15, where most sieving primes hit a segment only a few times, 512 KiB is
// 15% faster than 256 KiB).
//
// Cancellation: count() polls ctx.cancelled() often enough that no stretch between two polls
// costs more than about a millisecond anywhere in [0, 2^53], not once per segment: near 2^53 a
// segment's first turn activates millions of sieving primes and its bucket holds millions of
// entries, tens to hundreds of milliseconds of work. So the segment loop also polls every
// few thousand primes activated or crossed off and every block of a bucket (sieve.cpp). A poll
// is one relaxed load.
inline constexpr size_t kSegmentBytes = 512 * 1024;
inline constexpr uint64_t kSegmentSpan = 30 * uint64_t{kSegmentBytes};

// floor(sqrt(n)), exact for every uint64_t.
uint64_t isqrt(uint64_t n);

// The primes the sieve crosses off with: every prime p with first_sieving_prime() <= p <= limit(),
// ascending. Smaller primes are pre-sieved and never listed. Immutable once built, so any number
// of threads may read one at once.
class SievingPrimes {
 public:
  SievingPrimes(uint64_t limit, std::vector<uint32_t> primes) : limit_(limit), primes_(std::move(primes)) {}
  uint64_t limit() const { return limit_; }
  const std::vector<uint32_t>& primes() const { return primes_; }

 private:
  uint64_t limit_;
  std::vector<uint32_t> primes_;
};

// The smallest prime that is crossed off rather than pre-sieved.
uint32_t first_sieving_prime();

// The process-wide table of sieving primes, covering at least `limit` (a range [lo, hi) needs
// isqrt(hi - 1), at most 94906265). Built on first use and grown geometrically when a call needs
// more; a grown table is published as a new object, so holders of an older one keep a valid,
// smaller table. Thread-safe: readers only copy a shared_ptr under a short lock; one builder at
// a time, and readers whose limit the published table covers never wait for it. The cache is
// never freed: pool threads may still be using it at process exit.
// With `ctx`, building (up to ~100 ms near 2^53) and waiting for another thread's build stop
// when ctx->cancelled(): the result is then null and nothing is published.
std::shared_ptr<const SievingPrimes> sieving_primes(uint64_t limit, const CallContext* ctx = nullptr);

// One thread's reusable scratch: the segment buffer and each sieving prime's next multiple.
// Keep one per thread (thread_local) and reuse it for every unit: after the first calls it
// allocates nothing. Not thread-safe itself.
class Sieve {
 public:
  Sieve();
  ~Sieve();
  Sieve(const Sieve&) = delete;
  Sieve& operator=(const Sieve&) = delete;

  // The number of primes p with lo <= p < hi. `primes` must cover isqrt(hi - 1). Polls
  // ctx.cancelled() between segments and returns early (with a partial count) once it is true;
  // reports the numbers each segment covered through ctx.add_progress, hi - lo in all when it
  // runs to the end.
  uint64_t count(uint64_t lo, uint64_t hi, const SievingPrimes& primes, const CallContext& ctx);

  // Appends every prime p with max(lo, first_sieving_prime()) <= p < hi, ascending, for hi <= 2^32.
  // `primes` must cover isqrt(hi - 1). This is how SievingPrimes tables are built. Returns false
  // (with `out` incomplete) when it stopped because ctx.cancelled().
  bool append_sieving_primes(uint64_t lo, uint64_t hi, const SievingPrimes& primes, std::vector<uint32_t>& out,
                             const CallContext& ctx);

 private:
  class Segments;  // the segment loop and its buffers (sieve.cpp)
  std::unique_ptr<Segments> segments_;
};

// How a call's range [lo, hi) is cut into work units: unit i is [unit_lo(i), unit_hi(i)), the
// part of [origin + i*width, origin + (i+1)*width) inside [lo, hi). A range no wider than `width`
// is a single unit; otherwise the inner boundaries are multiples of `width`, itself a multiple
// of kSegmentSpan, so no unit starts mid-segment. A range is cut into about 64 units (enough for
// 16+ threads to balance), or more where that would make them wider than 2^27 numbers (about
// 15 ms of sieving around 1e10); but no unit is narrower than 8 sqrt(hi) or one segment, so that
// a unit's setup (finding each sieving prime's first multiple in it) stays small next to its
// sieving.
struct UnitPlan {
  uint64_t lo = 0;
  uint64_t hi = 0;
  uint64_t origin = 0;
  uint64_t width = kSegmentSpan;
  uint64_t units = 1;

  static UnitPlan split(uint64_t lo, uint64_t hi);
  uint64_t unit_lo(uint64_t unit) const;
  uint64_t unit_hi(uint64_t unit) const;
};

}  // namespace spindle::primes
