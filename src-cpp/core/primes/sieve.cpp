// The segmented mod-30 wheel sieve behind countPrimes. Reading order: the wheel and its tables,
// pre-sieving, crossing off, the segment loop, the sieving-prime table, the unit plan.
#include "sieve.hpp"

#include "cpu.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>

namespace spindle::primes {

namespace {

// ---------------------------------------------------------------------------------------------
// The mod-30 wheel.
//
// Byte i of the sieve stands for the 30 numbers [30i, 30i + 30). Apart from 2, 3 and 5 only the 8
// of them that are coprime to 30 can be prime, so the byte keeps one bit for each:
//     bit k of byte i  <->  the number 30i + kResidue[k].
// A set bit means "not known to be composite"; 2, 3 and 5 are counted on the side.
//
// A sieving prime p = 30a + kResidue[c] ("class" c) crosses off p*q for every multiplier q coprime
// to 30, written q = 30b + kResidue[j] ("phase" j). Then
//     p*q = 30 * (p*b + a*kResidue[j] + kResidue[c]*kResidue[j] / 30) + kResidue[c]*kResidue[j] % 30,
// so the bit that multiple clears depends on (c, j) only, and going from phase j to j+1 (phase 7
// wraps round to 0 with b+1) moves it kGap[j]*a + kCarry[c][j] bytes on. A whole turn of the
// wheel, all 8 phases, moves it exactly p bytes.
// ---------------------------------------------------------------------------------------------
constexpr std::array<uint32_t, 8> kResidue = {1, 7, 11, 13, 17, 19, 23, 29};

// The residue of the phase after j: 31 (that is, 1 in the next turn) after phase 7.
constexpr uint32_t next_residue(unsigned j) { return j == 7 ? 31 : kResidue[j + 1]; }

constexpr int residue_index(uint32_t r) {
  for (int k = 0; k < 8; ++k) {
    if (kResidue[k] == r) return k;
  }
  return -1;
}

template <class T, size_t N, class F>
constexpr std::array<T, N> table(F entry) {
  std::array<T, N> t{};
  for (size_t i = 0; i < N; ++i) t[i] = entry(i);
  return t;
}

constexpr auto kGap = table<uint32_t, 8>([](size_t j) { return next_residue(j) - kResidue[j]; });

// kCarry[c][j]: the bytes a phase-j -> j+1 step moves on beyond kGap[j]*a.
constexpr auto kCarry = table<std::array<uint32_t, 8>, 8>([](size_t c) {
  return table<uint32_t, 8>([c](size_t j) { return kResidue[c] * next_residue(j) / 30 - kResidue[c] * kResidue[j] / 30; });
});

// kClear[c][j]: AND-mask that clears the bit of a class-c prime's phase-j multiple.
constexpr auto kClear = table<std::array<uint8_t, 8>, 8>([](size_t c) {
  return table<uint8_t, 8>([c](size_t j) { return uint8_t(~(1u << residue_index(kResidue[c] * kResidue[j] % 30))); });
});

// kClassOf[p % 30] = c for every p coprime to 30.
constexpr auto kClassOf = table<uint8_t, 30>([](size_t r) { return uint8_t(std::max(residue_index(uint32_t(r)), 0)); });

// kToCoprime[q % 30]: how far q is below the next multiplier coprime to 30 (0 if q is one).
constexpr auto kToCoprime = table<uint8_t, 30>([](size_t r) {
  uint8_t d = 0;
  while (residue_index(uint32_t((r + d) % 30)) < 0) ++d;
  return d;
});

// kAtLeast[x]: the bits of a byte whose numbers are >= 30i + x; kBelow[x]: those < 30i + x.
constexpr auto kAtLeast = table<uint8_t, 31>([](size_t x) {
  uint8_t m = 0;
  for (int k = 0; k < 8; ++k) m |= uint8_t(kResidue[k] >= x ? 1u << k : 0u);
  return m;
});
constexpr auto kBelow = table<uint8_t, 31>([](size_t x) { return uint8_t(~kAtLeast[x]); });

// ---------------------------------------------------------------------------------------------
// Pre-sieving. Crossing off the smallest primes costs the most (a prime p clears 8/(30p) bits per
// number), so the primes 7..47 are not crossed off: their multiples are removed by ANDing
// precomputed patterns into the fresh segment. A group of primes with product P clears the same
// bits in byte i as in byte i + P (30 and P are coprime), so segment byte B takes the group's
// pattern byte B mod P. Groups are consecutive primes whose product stays under
// kMaxPatternPeriod, which keeps the patterns in L1/L2: {7,11,13,17}, {19,23,29}, {31,37,41},
// {43,47}, ANDed in one pass. Why stop at 47: each further pattern costs a load per sieve word,
// and in the JS twin that load costs about as much as the crossings it saves from 53 on
// (measured: pre-sieving up to 167 makes the JS twin 25% slower, and this C++ code 4% faster).
// ---------------------------------------------------------------------------------------------
constexpr std::array<uint32_t, 12> kPresievedPrimes = {7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47};
constexpr uint32_t kFirstSievingPrime = 53;
constexpr uint64_t kMaxPatternPeriod = 1 << 16;

// Segments are pre-sieved kPresieveChunk bytes at a time, so that the chunk stays in L1 while every
// pattern is ANDed in; each pattern carries kPresieveChunk extra bytes so no chunk read wraps.
constexpr size_t kPresieveChunk = 2016;

struct Pattern {
  uint64_t period;
  std::vector<uint8_t> bytes;  // period + kPresieveChunk bytes
};

// A group's bits repeat every P bytes, P the product of its primes. The pattern's period is the
// first multiple of P of at least kPresieveChunk bytes, so that advancing a phase by one chunk
// wraps it at most once.
Pattern make_pattern(const uint32_t* primes, size_t count) {
  uint64_t product = 1;
  for (size_t i = 0; i < count; ++i) product *= primes[i];
  Pattern pattern{(kPresieveChunk + product - 1) / product * product, {}};
  pattern.bytes.assign(pattern.period + kPresieveChunk, 0);
  for (uint64_t i = 0; i < pattern.bytes.size(); ++i) {
    for (int k = 0; k < 8; ++k) {
      const uint64_t n = 30 * i + kResidue[k];
      if (std::none_of(primes, primes + count, [n](uint32_t p) { return n % p == 0; })) pattern.bytes[i] |= uint8_t(1u << k);
    }
  }
  return pattern;
}

// Patterns are ANDed four at a time (four loads per store), so their number is padded to a
// multiple of four with the pattern of no primes, all ones.
const std::vector<Pattern>& presieve_patterns() {
  static const auto* patterns = [] {
    auto* made = new std::vector<Pattern>;
    for (size_t first = 0; first < kPresievedPrimes.size();) {
      size_t end = first + 1;
      uint64_t product = kPresievedPrimes[first];
      while (end < kPresievedPrimes.size() && product * kPresievedPrimes[end] <= kMaxPatternPeriod) product *= kPresievedPrimes[end++];
      made->push_back(make_pattern(&kPresievedPrimes[first], end - first));
      first = end;
    }
    while (made->size() % 4 != 0) made->push_back(make_pattern(nullptr, 0));
    return made;
  }();
  return *patterns;
}

// sieve[0, n) = the AND of the n bytes at each of the `count` sources.
void and_sources(uint8_t* __restrict sieve, const uint8_t* const* sources, size_t count, size_t n) {
  for (size_t g = 0; g < count; g += 4) {
    const uint8_t* __restrict a = sources[g];
    const uint8_t* __restrict b = sources[g + 1];
    const uint8_t* __restrict c = sources[g + 2];
    const uint8_t* __restrict d = sources[g + 3];
    if (g == 0) {
      for (size_t i = 0; i < n; ++i) sieve[i] = a[i] & b[i] & c[i] & d[i];
    } else {
      for (size_t i = 0; i < n; ++i) sieve[i] &= a[i] & b[i] & c[i] & d[i];
    }
  }
}

// Fills sieve[0, len) for the global bytes [first_byte, first_byte + len) with all multiples of
// the pre-sieved primes cleared.
void presieve(uint8_t* sieve, uint64_t first_byte, size_t len) {
  const auto& patterns = presieve_patterns();
  std::array<uint64_t, kPresievedPrimes.size() + 4> phase{};
  std::array<const uint8_t*, kPresievedPrimes.size() + 4> sources{};
  for (size_t g = 0; g < patterns.size(); ++g) phase[g] = first_byte % patterns[g].period;
  for (size_t done = 0; done < len; done += kPresieveChunk) {
    const size_t n = std::min(kPresieveChunk, len - done);
    for (size_t g = 0; g < patterns.size(); ++g) sources[g] = &patterns[g].bytes[phase[g]];
    and_sources(sieve + done, sources.data(), patterns.size(), n);
    for (size_t g = 0; g < patterns.size(); ++g) {
      phase[g] += n;
      if (phase[g] >= patterns[g].period) phase[g] -= patterns[g].period;
    }
  }
}

// The true prime bits of the first bytes, which pre-sieving gets wrong: it clears the pre-sieved
// primes themselves, and 1 is no prime. Sieving primes start at p^2, far above these bytes.
constexpr size_t kSmallBytes = kFirstSievingPrime / 30 + 1;
constexpr auto kSmallPrimeBits = table<uint8_t, kSmallBytes>([](size_t i) {
  uint8_t bits = 0;
  for (int k = 0; k < 8; ++k) {
    const uint64_t n = 30 * i + kResidue[k];
    bool prime = n > 1;
    for (uint64_t d = 2; d * d <= n; ++d) prime = prime && n % d != 0;
    bits |= uint8_t(prime ? 1u << k : 0u);
  }
  return bits;
});

void restore_small_primes(uint8_t* sieve, uint64_t first_byte, size_t len) {
  for (uint64_t b = first_byte; b < kSmallBytes && b < first_byte + len; ++b) sieve[b - first_byte] = kSmallPrimeBits[b];
}

// ---------------------------------------------------------------------------------------------
// Crossing off. A sieving prime's next multiple travels from segment to segment packed into 32
// bits: (byte offset from the start of the segment it falls in) << 3 | phase. The offset stays
// below kSegmentBytes + p/5 < 2^26.
//
// Primes are handled by how often they hit a segment (a turn of the wheel spans p bytes):
//  - small, p < kSmallLimit: many hits per cache line, so they sieve each kL1Chunk of the segment
//    while it sits in L1, right after pre-sieving it, with whole turns unrolled;
//  - medium, p < kTurnsLimit: several turns per segment, unrolled over the whole segment;
//  - large, p < kBucketedPrime: a few hits per segment, one multiple at a time;
//  - huge: most segments have no multiple of them at all, so instead of visiting every prime in
//    every segment, each waits in the bucket of the segment its next multiple falls in (Oliveira
//    e Silva's bucket sieve); a segment only sees the primes that hit it.
// ---------------------------------------------------------------------------------------------
constexpr size_t kL1Chunk = 32 * 1024;
// Sieving primes handled between two cancellation polls, wherever a loop over them could run
// long: activation (a 64-bit division each, ~20-50 ns: 0.1-0.2 ms) and stepwise crossing off (a
// few cache misses each); a quarter of it for medium primes, and a poll per bucket block (below).
// Measured near 2^53 (test_primes): at most ~0.2 ms of CPU between two polls.
constexpr size_t kPollEvery = 4096;
constexpr uint32_t kSmallLimit = 3000;
constexpr uint32_t kTurnsLimit = kSegmentBytes / 4;
constexpr uint32_t kBucketedPrime = 16 * kSegmentBytes;
static_assert(kSegmentBytes % kL1Chunk == 0 && kSegmentBytes % 8 == 0);

constexpr uint32_t pack(size_t byte, unsigned phase) { return uint32_t(byte << 3 | phase); }

template <unsigned C>
constexpr size_t step(unsigned phase, size_t a) { return kGap[phase] * a + kCarry[C][phase]; }

// Offset of the phase-j multiple from the phase-0 multiple of the same turn (see the wheel above:
// a*kResidue[j] + kResidue[C]*kResidue[j]/30, less a*1 + 0 for phase 0).
template <unsigned C>
constexpr size_t turn_offset(unsigned j, size_t a) { return a * (kResidue[j] - 1) + kResidue[C] * kResidue[j] / 30; }

// Crosses off a class-C prime p = 30a + kResidue[C] in sieve[0, size): single steps to the end of
// the current turn, then whole turns of 8 multiples at fixed offsets (the compiler turns the
// class's masks into immediates), then single steps into the last partial turn. This is
// primesieve's "EratSmall" loop, its 64 (class, phase) entry points folded into 8 classes.
template <unsigned C>
uint32_t cross_off_turns(uint8_t* sieve, size_t size, uint32_t a, uint32_t next) {
  size_t i = next >> 3;
  unsigned phase = next & 7;
  for (; phase != 0; phase = (phase + 1) & 7) {
    if (i >= size) return pack(i - size, phase);
    sieve[i] &= kClear[C][phase];
    i += step<C>(phase, a);
  }
  const size_t turn = 30 * size_t{a} + kResidue[C];
  const size_t o1 = turn_offset<C>(1, a), o2 = turn_offset<C>(2, a), o3 = turn_offset<C>(3, a),
               o4 = turn_offset<C>(4, a), o5 = turn_offset<C>(5, a), o6 = turn_offset<C>(6, a),
               o7 = turn_offset<C>(7, a);
  for (; i + o7 < size; i += turn) {
    sieve[i] &= kClear[C][0];
    sieve[i + o1] &= kClear[C][1];
    sieve[i + o2] &= kClear[C][2];
    sieve[i + o3] &= kClear[C][3];
    sieve[i + o4] &= kClear[C][4];
    sieve[i + o5] &= kClear[C][5];
    sieve[i + o6] &= kClear[C][6];
    sieve[i + o7] &= kClear[C][7];
  }
  // The phase-7 multiple lies beyond the segment, so this stops before phase wraps.
  for (; i < size; ++phase) {
    sieve[i] &= kClear[C][phase];
    i += step<C>(phase, a);
  }
  return pack(i - size, phase);
}

using CrossOffTurns = uint32_t (*)(uint8_t*, size_t, uint32_t, uint32_t);

template <unsigned... C>
constexpr std::array<CrossOffTurns, 8> turns_by_class(std::integer_sequence<unsigned, C...>) {
  return {cross_off_turns<C>...};
}
constexpr auto kCrossOffTurns = turns_by_class(std::make_integer_sequence<unsigned, 8>());

// Crosses off primes[begin, end) in sieve[0, size) with unrolled turns, updating their multiples.
void cross_off_in_turns(uint8_t* sieve, size_t size, const uint32_t* primes, uint32_t* multiples, size_t begin, size_t end) {
  for (size_t k = begin; k < end; ++k) {
    multiples[k] = kCrossOffTurns[kClassOf[primes[k] % 30]](sieve, size, primes[k] / 30, multiples[k]);
  }
}

// Crosses off the prime p one multiple at a time in sieve[0, size).
uint32_t cross_off_stepwise(uint8_t* sieve, size_t size, uint32_t p, uint32_t next) {
  const size_t a = p / 30;
  const unsigned c = kClassOf[p % 30];
  size_t i = next >> 3;
  unsigned phase = next & 7;
  while (i < size) {
    sieve[i] &= kClear[c][phase];
    i += kGap[phase] * a + kCarry[c][phase];
    phase = (phase + 1) & 7;
  }
  return pack(i - size, phase);
}

// The first multiple p*q >= max(p^2, 30*first_byte) with q coprime to 30, packed relative to
// first_byte.
uint32_t first_multiple(uint64_t p, uint64_t first_byte) {
  const uint64_t start = std::max(p * p, 30 * first_byte);
  uint64_t q = (start + p - 1) / p;
  q += kToCoprime[q % 30];
  return pack(p * q / 30 - first_byte, kClassOf[q % 30]);
}

// The largest sieving prime any range needs is at most isqrt(2^53 - 1) (the tests check the value).
constexpr uint64_t kLargestSievingLimit = 94906265;

// The buckets form a ring, one per upcoming segment; it must reach past the longest step of the
// largest sieving prime (a step moves at most 6a + 6 bytes, p = 30a + r).
constexpr uint64_t kLongestStep = 6 * (kLargestSievingLimit / 30) + 6;
constexpr size_t kBuckets = std::bit_ceil(kLongestStep / kSegmentBytes + 2);

struct BucketEntry {
  uint32_t prime;
  uint32_t next;  // packed, relative to the bucket's segment
};

// A bucket is a list of fixed-size blocks, not a vector: a vector that outgrows its capacity
// copies megabytes at once (and faults in fresh pages), tens of milliseconds near 2^53 with no
// cancellation check in between, and each of the kBuckets vectors would keep the largest
// capacity it ever had (the current segment's bucket holds ~575k entries near 2^53), several
// times the entries actually in flight. Blocks come from, and go back to, the Sieve's free list.
constexpr size_t kBlockEntries = 8192;  // 64 KiB of entries: ~0.3 ms of work, so a poll per block

struct BucketBlock {
  BucketBlock* next = nullptr;  // the rest of the bucket (filled earlier), or of the free list
  uint32_t size = 0;
  BucketEntry entries[kBlockEntries];
};

// ---------------------------------------------------------------------------------------------
// Counting set bits. Baseline x86-64 has no POPCNT instruction, so std::popcount becomes a
// bit-twiddling sequence; the same loop is compiled a second time for CPUs that have POPCNT.
// ---------------------------------------------------------------------------------------------
inline uint64_t count_bits(const uint64_t* words, size_t n) {
  uint64_t total = 0;
  for (size_t i = 0; i < n; ++i) total += uint64_t(std::popcount(words[i]));
  return total;
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("popcnt"))) uint64_t count_bits_popcnt(const uint64_t* words, size_t n) { return count_bits(words, n); }
const auto popcount = cpu_has_popcnt() ? count_bits_popcnt : count_bits;
#else
const auto popcount = count_bits;
#endif

uint64_t small_primes_in(uint64_t lo, uint64_t hi) {
  uint64_t n = 0;
  for (uint64_t p : {2, 3, 5}) n += (lo <= p && p < hi) ? 1 : 0;
  return n;
}

}  // namespace

uint64_t isqrt(uint64_t n) {
  auto r = static_cast<uint64_t>(std::sqrt(static_cast<double>(n)));
  while (r > 0 && r > n / r) --r;    // r*r > n, without overflow
  while (r + 1 <= n / (r + 1)) ++r;  // (r+1)^2 <= n
  return r;
}

uint32_t first_sieving_prime() { return kFirstSievingPrime; }

// ---------------------------------------------------------------------------------------------
// The segment loop.
// ---------------------------------------------------------------------------------------------
class Sieve::Segments {
 public:
  // Sieves [lo, hi) segment by segment and hands each finished segment, bits outside [lo, hi)
  // cleared, to on_segment(words, word_count, first_byte).
  template <class OnSegment>
  void run(uint64_t lo, uint64_t hi, const SievingPrimes& table, const CallContext& ctx, OnSegment&& on_segment) {
    if (lo >= hi) return;
    if (hi > kMaxBound) throw std::out_of_range("primes::Sieve: hi must be <= 2^53");
    if (table.limit() < isqrt(hi - 1)) throw std::logic_error("primes::Sieve: the sieving primes do not reach sqrt(hi)");
    start(table);
    const uint64_t first_byte = lo / 30;
    const uint64_t end_byte = (hi + 29) / 30;
    for (uint64_t seg = first_byte; seg < end_byte; seg += kSegmentBytes, ++segment_index_) {
      // Returning mid-segment is safe: start() resets every buffer for the next run.
      if (ctx.cancelled()) return;
      const size_t len = size_t(std::min<uint64_t>(kSegmentBytes, end_byte - seg));
      if (!activate_primes(seg, len, ctx) || !sieve_segment(seg, len, ctx)) return;
      uint8_t* sieve = bytes();
      if (seg == first_byte) sieve[0] &= kAtLeast[lo - 30 * first_byte];
      if (seg + len == end_byte) sieve[len - 1] &= kBelow[hi - 30 * (end_byte - 1)];
      const size_t words = (len + 7) / 8;
      std::memset(sieve + len, 0, words * 8 - len);
      on_segment(words_.data(), words, seg);
      ctx.add_progress(int64_t(std::min(hi, 30 * (seg + len)) - std::max(lo, 30 * seg)));
    }
  }

 private:
  uint8_t* bytes() { return reinterpret_cast<uint8_t*>(words_.data()); }

  void start(const SievingPrimes& table) {
    words_.resize(kSegmentBytes / 8);
    // A cancelled run may have left entries behind.
    for (BucketBlock*& bucket : buckets_) {
      while (bucket != nullptr) bucket = give_back(bucket);
    }
    multiples_.clear();
    const auto& primes = table.primes();
    primes_ = primes.data();
    prime_count_ = primes.size();
    small_end_ = size_t(std::lower_bound(primes.begin(), primes.end(), kSmallLimit) - primes.begin());
    turns_end_ = size_t(std::lower_bound(primes.begin(), primes.end(), kTurnsLimit) - primes.begin());
    stepwise_end_ = size_t(std::lower_bound(primes.begin(), primes.end(), kBucketedPrime) - primes.begin());
    activated_ = 0;
    segment_index_ = 0;
  }

  // Primes join once their square falls inside the segment, so the active ones are a prefix.
  // In a unit's first segment near 2^53 that is every one of the ~5.5 million sieving primes.
  // False when cancelled.
  bool activate_primes(uint64_t seg, size_t len, const CallContext& ctx) {
    const uint64_t seg_end = 30 * (seg + len);
    for (; activated_ < prime_count_ && uint64_t{primes_[activated_]} * primes_[activated_] < seg_end; ++activated_) {
      if (activated_ % kPollEvery == 0 && ctx.cancelled()) return false;
      const uint32_t next = first_multiple(primes_[activated_], seg);
      if (activated_ < stepwise_end_) {
        multiples_.push_back(next);
      } else {
        to_bucket(segment_index_, BucketEntry{primes_[activated_], next});
      }
    }
    return true;
  }

  // Files a huge prime under the segment its next multiple falls in, counting from `segment`.
  void to_bucket(uint64_t segment, BucketEntry entry) {
    const uint32_t byte = entry.next >> 3;
    entry.next = pack(byte % kSegmentBytes, entry.next & 7);
    BucketBlock*& bucket = buckets_[(segment + byte / kSegmentBytes) % kBuckets];
    if (bucket == nullptr || bucket->size == kBlockEntries) {
      BucketBlock* block = take_block();
      block->next = bucket;
      bucket = block;
    }
    bucket->entries[bucket->size++] = entry;
  }

  // An empty block: a free one, or a new one (kept by all_blocks_ for the Sieve's life).
  BucketBlock* take_block() {
    BucketBlock* block = free_blocks_;
    if (block != nullptr) {
      free_blocks_ = block->next;
    } else {
      all_blocks_.push_back(std::make_unique<BucketBlock>());
      block = all_blocks_.back().get();
    }
    block->size = 0;
    return block;
  }

  // Puts `block` on the free list; returns the block that followed it.
  BucketBlock* give_back(BucketBlock* block) {
    BucketBlock* next = block->next;
    block->next = free_blocks_;
    free_blocks_ = block;
    return next;
  }

  // False when cancelled (the segment is then left half sieved).
  bool sieve_segment(uint64_t seg, size_t len, const CallContext& ctx) {
    uint8_t* sieve = bytes();
    uint32_t* multiples = multiples_.data();
    const size_t active = activated_;
    for (size_t chunk = 0; chunk < len; chunk += kL1Chunk) {
      if (ctx.cancelled()) return false;
      const size_t n = std::min(kL1Chunk, len - chunk);
      presieve(sieve + chunk, seg + chunk, n);
      cross_off_in_turns(sieve + chunk, n, primes_, multiples, 0, std::min(active, small_end_));
    }
    restore_small_primes(sieve, seg, len);
    // Medium primes make ~1.6 million scattered stores per segment: a few ms on a slow core.
    for (size_t k = small_end_; k < std::min(active, turns_end_); k += kPollEvery / 4) {
      if (ctx.cancelled()) return false;
      cross_off_in_turns(sieve, len, primes_, multiples, k, std::min({active, turns_end_, k + kPollEvery / 4}));
    }
    for (size_t k = turns_end_; k < std::min(active, stepwise_end_); ++k) {
      if (k % kPollEvery == 0 && ctx.cancelled()) return false;
      multiples[k] = cross_off_stepwise(sieve, len, primes_[k], multiples[k]);
    }
    // Entries move on to later buckets, never to this one (the ring reaches past the longest
    // step), so the list is detached and its blocks freed as they are emptied.
    BucketBlock*& bucket = buckets_[segment_index_ % kBuckets];
    while (bucket != nullptr) {
      if (ctx.cancelled()) return false;  // start() frees what is left
      BucketBlock* block = bucket;
      bucket = block->next;
      block->next = nullptr;
      for (uint32_t k = 0; k < block->size; ++k) {
        const BucketEntry& entry = block->entries[k];
        to_bucket(segment_index_ + 1, BucketEntry{entry.prime, cross_off_stepwise(sieve, len, entry.prime, entry.next)});
      }
      give_back(block);
    }
    return true;
  }

  std::vector<uint64_t> words_;     // the segment: kSegmentBytes, as words for popcount
  std::vector<uint32_t> multiples_;  // next multiple of each active prime below kBucketedPrime
  // Huge primes, by segment_index_ % kBuckets: each bucket's newest block, linked to older ones.
  std::array<BucketBlock*, kBuckets> buckets_{};
  BucketBlock* free_blocks_ = nullptr;  // emptied blocks, linked through next
  std::vector<std::unique_ptr<BucketBlock>> all_blocks_;  // owns every block, listed or free
  const uint32_t* primes_ = nullptr;
  size_t prime_count_ = 0;
  size_t small_end_ = 0, turns_end_ = 0, stepwise_end_ = 0;  // primes_ index where each kind ends
  size_t activated_ = 0;
  uint64_t segment_index_ = 0;  // segments since the start of this run
};

Sieve::Sieve() : segments_(std::make_unique<Segments>()) {}
Sieve::~Sieve() = default;

uint64_t Sieve::count(uint64_t lo, uint64_t hi, const SievingPrimes& primes, const CallContext& ctx) {
  uint64_t total = small_primes_in(lo, hi);
  segments_->run(lo, hi, primes, ctx, [&](const uint64_t* words, size_t n, uint64_t) { total += popcount(words, n); });
  return total;
}

bool Sieve::append_sieving_primes(uint64_t lo, uint64_t hi, const SievingPrimes& primes, std::vector<uint32_t>& out,
                                  const CallContext& ctx) {
  if (hi > (uint64_t{1} << 32)) throw std::out_of_range("primes::Sieve::append_sieving_primes: hi must be <= 2^32");
  segments_->run(std::max<uint64_t>(lo, kFirstSievingPrime), hi, primes, ctx, [&](const uint64_t* words, size_t n, uint64_t first_byte) {
    for (size_t w = 0; w < n; ++w) {
      for (uint64_t bits = words[w]; bits != 0; bits &= bits - 1) {
        const unsigned bit = unsigned(std::countr_zero(bits));
        out.push_back(uint32_t(30 * (first_byte + 8 * w + bit / 8) + kResidue[bit % 8]));
      }
    }
  });
  return !ctx.cancelled();
}

// ---------------------------------------------------------------------------------------------
// The sieving-prime table.
// ---------------------------------------------------------------------------------------------
namespace {

// Lists the sieving primes up to `limit` with the sieve itself, fed by the (recursively built)
// table up to sqrt(limit). Below kFirstSievingPrime^2 the pre-sieve alone is exact, so the
// recursion ends at an empty table. Null when ctx.cancelled() stopped it.
std::shared_ptr<const SievingPrimes> build_sieving_primes(uint64_t limit, const CallContext& ctx) {
  std::shared_ptr<const SievingPrimes> smaller =
      limit < uint64_t{kFirstSievingPrime} * kFirstSievingPrime
          ? std::make_shared<const SievingPrimes>(limit, std::vector<uint32_t>{})
          : build_sieving_primes(isqrt(limit), ctx);
  if (smaller == nullptr) return nullptr;
  std::vector<uint32_t> primes;
  primes.reserve(size_t(1.1 * double(limit) / std::max(1.0, std::log(double(limit)))) + 16);
  if (!Sieve().append_sieving_primes(0, limit + 1, *smaller, primes, ctx)) return nullptr;
  return std::make_shared<const SievingPrimes>(limit, std::move(primes));
}

}  // namespace

std::shared_ptr<const SievingPrimes> sieving_primes(uint64_t limit, const CallContext* ctx) {
  // Leaked on purpose: pool threads may still read the table while the process exits.
  static auto* publish_mutex = new std::mutex;
  static auto* build_mutex = new std::mutex;
  static auto* current = new std::shared_ptr<const SievingPrimes>();
  const auto published = [&] {
    std::lock_guard<std::mutex> lock(*publish_mutex);
    return *current;
  };
  if (auto table = published(); table && table->limit() >= limit) return table;

  // Another thread's build can take ~100 ms: wait for it in short naps, so that a cancelled
  // caller leaves at once (that build goes on for whoever needs the table next). Not a
  // timed_mutex: ThreadSanitizer does not follow pthread_mutex_clocklock.
  // The caller's cancellation, not its progress: the table's own sieving is not the range the
  // caller's progress counts (with it, a process's first countPrimes over [0, 4e9) reported
  // 4e9 + 65688, the numbers sieved for the table).
  const CallContext context = ctx != nullptr ? ctx->without_progress() : CallContext(nullptr, nullptr);
  std::unique_lock<std::mutex> building(*build_mutex, std::defer_lock);
  while (!building.try_lock()) {
    if (context.cancelled()) return nullptr;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  const auto previous = published();
  if (previous && previous->limit() >= limit) return previous;  // another thread built it meanwhile
  // Grow geometrically, so that a run of calls with rising hi rebuilds only a few times.
  const uint64_t grown = std::min(kLargestSievingLimit, std::max<uint64_t>(previous ? 2 * previous->limit() : 0, 1 << 16));
  auto table = build_sieving_primes(std::max(limit, grown), context);
  if (table == nullptr) return nullptr;  // cancelled: the next caller builds it
  std::lock_guard<std::mutex> lock(*publish_mutex);
  *current = table;
  return table;
}

// ---------------------------------------------------------------------------------------------
// The unit plan.
// ---------------------------------------------------------------------------------------------
namespace {
constexpr uint64_t kMinUnits = 64;
constexpr uint64_t kMaxUnitWidth = uint64_t{1} << 27;  // ~15 ms of sieving around 1e10
constexpr uint64_t kSqrtsPerUnit = 8;                    // unit width >= 8 sqrt(hi)

uint64_t round_up(uint64_t x, uint64_t multiple) { return (x + multiple - 1) / multiple * multiple; }
}  // namespace

UnitPlan UnitPlan::split(uint64_t lo, uint64_t hi) {
  UnitPlan plan;
  plan.lo = lo;
  plan.hi = hi;
  const uint64_t span = hi - lo;
  const uint64_t width = std::max(kSqrtsPerUnit * isqrt(hi), std::min(kMaxUnitWidth, span / kMinUnits));
  plan.width = round_up(std::max<uint64_t>(width, 1), kSegmentSpan);
  if (span <= plan.width) {
    plan.origin = lo;
    plan.units = 1;
  } else {
    plan.origin = lo - lo % plan.width;
    plan.units = (hi - plan.origin + plan.width - 1) / plan.width;
  }
  return plan;
}

uint64_t UnitPlan::unit_lo(uint64_t unit) const { return std::max(lo, origin + unit * width); }
uint64_t UnitPlan::unit_hi(uint64_t unit) const { return std::min(hi, origin + (unit + 1) * width); }

}  // namespace spindle::primes
