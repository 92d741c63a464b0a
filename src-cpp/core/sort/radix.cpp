// The radix sort behind sort.hpp. See there for the plan; this file keeps its invariants:
//
// - Elements travel between two "sets" of arrays. Sort: set 0 is the scratch, set 1 the caller's
//   array itself, both holding keys while the sort runs. Argsort: set 0 is (keys K0, the output
//   index array), set 1 is (keys K1, scratch indices); the caller's array is only read.
// - The scatter leaves every bucket as a contiguous range of set 0, in bucket order; after it,
//   each bucket is sorted and finished (keys turned back into values in the caller's array, or
//   indices into the output) by exactly one unit, so units never write the same memory.
// - Every unit of the first three phases arrives at its phase's counter exactly once, however it
//   ends (work done, skipped after a cancellation or failure, or thrown), so waiting never hangs.
#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstring>
#include <thread>
#include <vector>

#include "keys.hpp"
#include "scratch.hpp"
#include "sort.hpp"

namespace spindle::sort {

namespace {

constexpr unsigned kMaxChunks = 64;
constexpr unsigned kGroupsPerChunk = 4;
// The parallel pass spreads by 11 bits (2048 buckets: about 5000 elements each for 10^7 evenly
// spread keys, small enough for a thread's cache); the passes inside a bucket as sort_region says.
constexpr unsigned kTopBits = 11;
constexpr unsigned kTopRadix = 1u << kTopBits;

using TopHistogram = std::array<size_t, kTopRadix>;

size_t align_up(size_t bytes) { return (bytes + 63) & ~size_t(63); }

// Keys: one of keys.hpp's maps. Idx: uint32_t, or uint64_t for Float64Array output (converted to
// doubles as each bucket is finished); unused by sort.
template <class Keys, class Idx>
class RadixSorter final : public Sorter {
  using K = typename Keys::Key;
  static constexpr int kDigits = sizeof(K);

  struct Set {
    K* keys;
    Idx* idx;  // argsort only
  };

 public:
  explicit RadixSorter(const Request& r)
      : raw_(static_cast<K*>(r.data)), n_(r.n), argsort_(r.argsort),
        f64_out_(r.index_type == IndexType::Float64), out_(static_cast<Idx*>(r.indices)), request_(r) {
    if (n_ >= std::max<size_t>(r.parallel_min, 2)) {
      unsigned c = r.chunks != 0 ? r.chunks : std::max(1u, std::thread::hardware_concurrency());
      chunks_ = static_cast<unsigned>(std::min<size_t>({c, kMaxChunks, n_}));
      groups_ = std::min(kTopRadix, kGroupsPerChunk * chunks_);
      mins_.resize(chunks_);
      maxs_.resize(chunks_);
      hist_.resize(chunks_);
    }
  }

  uint64_t units() const override { return chunks_ == 0 ? 1 : 3 * uint64_t(chunks_) + groups_; }

  void run(uint64_t unit, const CallContext& ctx) override {
    if (chunks_ == 0) return run_alone(ctx);
    const unsigned phase = static_cast<unsigned>(std::min<uint64_t>(unit / chunks_, 3));
    const unsigned index = static_cast<unsigned>(unit - uint64_t(phase) * chunks_);
    if (phase == 3) {
      await(2);
      if (!stopped(ctx)) finish_group(index, ctx);
      return;
    }
    try {
      if (phase > 0) await(phase - 1);
      if (!stopped(ctx)) {
        if (phase == 0) min_max(index, ctx);
        else if (phase == 1) histogram(index, ctx);
        else scatter(index, ctx);
      }
    } catch (...) {
      failed_.store(true, std::memory_order_relaxed);
      arrive(phase);
      throw;
    }
    arrive(phase);
  }

 private:
  // ---- one unit: the whole sort on this thread ----------------------------------------------

  void run_alone(const CallContext& ctx) {
    if (n_ == 0) return;
    take_scratch();
    if (argsort_) {
      for (size_t i = 0; i < n_; ++i) {
        sets_[0].keys[i] = Keys::key(raw_[i]);
        sets_[0].idx[i] = Idx(i);
      }
      sort_region(0, 0, n_, 8 * kDigits, ctx);
    } else {
      for (size_t i = 0; i < n_; ++i) raw_[i] = Keys::key(raw_[i]);
      sort_region(1, 0, n_, 8 * kDigits, ctx);
    }
    if (!ctx.cancelled()) ctx.add_progress(static_cast<int64_t>(n_));
  }

  // ---- the parallel phases --------------------------------------------------------------------

  size_t chunk_begin(unsigned c) const { return static_cast<size_t>((unsigned __int128)n_ * c / chunks_); }

  // Phase 0: the smallest and largest key of a chunk. Unit 0 also takes the scratch, so that
  // the allocation happens on a pool thread, never on the submitting one.
  void min_max(unsigned c, const CallContext& ctx) {
    if (c == 0) take_scratch();
    K lo = ~K(0), hi = 0;
    for_strides(c, ctx, [&](size_t begin, size_t end) {
      for (size_t i = begin; i < end; ++i) {
        const K k = Keys::key(raw_[i]);
        lo = std::min(lo, k);
        hi = std::max(hi, k);
      }
    });
    mins_[c] = lo;
    maxs_[c] = hi;
  }

  // Where the parallel pass's 11 bits start: just below the highest bit in which the smallest
  // and largest keys differ (every key agrees above it); -1 when every key is the same. Each later
  // unit works it out again from phase 0's results rather than have one unit publish it.
  int top_shift() const {
    const K lo = *std::min_element(mins_.begin(), mins_.end());
    const K hi = *std::max_element(maxs_.begin(), maxs_.end());
    if (lo == hi) return -1;
    const int top = std::bit_width(uint64_t(lo ^ hi));
    return top > int(kTopBits) ? top - int(kTopBits) : 0;
  }

  // Phase 1: the chunk's histogram of the top bits.
  void histogram(unsigned c, const CallContext& ctx) {
    TopHistogram& h = hist_[c];
    h.fill(0);
    const int shift = top_shift();
    if (shift < 0) return;
    for_strides(c, ctx, [&](size_t begin, size_t end) {
      for (size_t i = begin; i < end; ++i) ++h[(Keys::key(raw_[i]) >> shift) & (kTopRadix - 1)];
    });
  }

  // Where bucket b starts in set 0: the sizes of the buckets before it.
  TopHistogram bucket_starts() const {
    TopHistogram starts{};
    size_t at = 0;
    for (unsigned b = 0; b < kTopRadix; ++b) {
      starts[b] = at;
      for (unsigned c = 0; c < chunks_; ++c) at += hist_[c][b];
    }
    return starts;
  }

  // Phase 2: moves the chunk's elements, as keys, to their bucket in set 0; within a bucket, in
  // chunk order and then array order, which keeps argsort stable.
  void scatter(unsigned c, const CallContext& ctx) {
    const int shift = top_shift();
    if (shift < 0) return;
    TopHistogram next = bucket_starts();
    for (unsigned b = 0; b < kTopRadix; ++b) {
      for (unsigned e = 0; e < c; ++e) next[b] += hist_[e][b];
    }
    const Set to = sets_[0];
    for_strides(c, ctx, [&](size_t begin, size_t end) {
      for (size_t i = begin; i < end; ++i) {
        const K k = Keys::key(raw_[i]);
        const size_t at = next[(k >> shift) & (kTopRadix - 1)]++;
        to.keys[at] = k;
        if (argsort_) to.idx[at] = Idx(i);
      }
    });
  }

  // Runs body(begin, end) over chunk c in strides of kCancelStride elements, stopping early
  // once the sort is cancelled (its result is then discarded anyway).
  template <class Body>
  void for_strides(unsigned c, const CallContext& ctx, Body&& body) {
    const size_t end = chunk_begin(c + 1);
    for (size_t begin = chunk_begin(c); begin < end; begin += kCancelStride) {
      if (ctx.cancelled()) return;
      body(begin, std::min(end, begin + kCancelStride));
    }
  }

  // Phase 3: sorts and finishes a group of consecutive buckets. Bucket b belongs to group
  // floor(start(b) * groups / n), so groups are runs of buckets holding about n / groups
  // elements each (a bucket larger than that makes the groups after it empty).
  void finish_group(unsigned g, const CallContext& ctx) {
    const int shift = top_shift();
    if (shift < 0) {
      // Every key is equal: the array is sorted as it is; argsort is the identity.
      const size_t lo = static_cast<size_t>((unsigned __int128)n_ * g / groups_);
      const size_t hi = static_cast<size_t>((unsigned __int128)n_ * (g + 1) / groups_);
      if (argsort_) {
        for (size_t i = lo; i < hi; ++i) out_[i] = Idx(i);
        finish_region(0, lo, hi);
      }
      ctx.add_progress(static_cast<int64_t>(hi - lo));
      return;
    }
    const TopHistogram starts = bucket_starts();
    for (unsigned b = 0; b < kTopRadix; ++b) {
      const size_t lo = starts[b];
      const size_t hi = b + 1 < kTopRadix ? starts[b + 1] : n_;
      if (lo == hi || static_cast<unsigned>((unsigned __int128)lo * groups_ / n_) != g) continue;
      if (ctx.cancelled()) return;
      sort_region(0, lo, hi, unsigned(shift), ctx);
      ctx.add_progress(static_cast<int64_t>(hi - lo));
    }
  }

  // ---- sorting one region ------------------------------------------------------------------

  // Sorts [lo, hi) of set `from`, whose keys all agree on the bits from `bits` up, and finishes
  // it (finish_region): least-significant-digit passes through the other set, skipping the
  // digits that are the same throughout the region (one read counts every digit); small regions
  // by insertion sort. After the parallel pass a region is one bucket, a few thousand elements
  // for evenly spread keys, so its passes run in the thread's cache. Digits are 8 bits, or 10-11
  // where that saves a pass in a region large enough to fill that many counters (21 bits left of
  // an Int32 take two passes, not three); 9-bit digits measured slower than one more byte pass.
  // Stable.
  void sort_region(int from, size_t lo, size_t hi, unsigned bits, const CallContext& ctx) {
    const size_t m = hi - lo;
    if (m <= kInsertionMax || bits == 0) {
      if (m > 1 && bits > 0) insertion_sort(sets_[from], lo, hi);
      finish_region(from, lo, hi);
      return;
    }
    if (ctx.cancelled()) return;
    unsigned passes = (bits + 7) / 8;
    unsigned width = (bits + passes - 1) / passes;
    const unsigned wide_passes = (bits + kTopBits - 1) / kTopBits;
    if (m >= kWideDigitsFrom && wide_passes < passes && (bits + wide_passes - 1) / wide_passes >= 10) {
      passes = wide_passes;
      width = (bits + passes - 1) / passes;
    }
    std::vector<size_t>& counts = counts_buffer(passes << width);
    count_digits(sets_[from].keys, lo, hi, passes, width, counts.data());
    const K first = sets_[from].keys[lo];
    const K mask = K((1u << width) - 1);
    for (unsigned d = 0; d < passes; ++d) {
      const size_t* count = counts.data() + (size_t(d) << width);
      const unsigned shift = d * width;
      if (count[(first >> shift) & mask] == m) continue;  // one value of this digit throughout
      if (ctx.cancelled()) return;
      scatter_pass(sets_[from], sets_[from ^ 1], lo, hi, shift, mask, count, ctx);
      from ^= 1;
    }
    finish_region(from, lo, hi);
  }

  // A region needs at least this many elements for digits wider than 8 bits to pay.
  static constexpr size_t kWideDigitsFrom = 4096;

  // This thread's counters, zeroed, at least `size` of them: reused from region to region.
  static std::vector<size_t>& counts_buffer(size_t size) {
    thread_local std::vector<size_t> counts;
    if (counts.size() < size) counts.resize(size);
    std::fill(counts.begin(), counts.begin() + static_cast<std::ptrdiff_t>(size), 0);
    return counts;
  }

  // counts[(d << width) + v]: how many keys in [lo, hi) have v as digit d, for d < digits.
  static void count_digits(const K* keys, size_t lo, size_t hi, unsigned digits, unsigned width, size_t* counts) {
    switch (digits) {
      case 1: return count_digits_n<1>(keys, lo, hi, width, counts);
      case 2: return count_digits_n<2>(keys, lo, hi, width, counts);
      case 3: return count_digits_n<3>(keys, lo, hi, width, counts);
      case 4: return count_digits_n<4>(keys, lo, hi, width, counts);
      case 5: return count_digits_n<5>(keys, lo, hi, width, counts);
      case 6: return count_digits_n<6>(keys, lo, hi, width, counts);
      case 7: return count_digits_n<7>(keys, lo, hi, width, counts);
      default: return count_digits_n<8>(keys, lo, hi, width, counts);
    }
  }

  template <unsigned D>
  static void count_digits_n(const K* keys, size_t lo, size_t hi, unsigned width, size_t* counts) {
    const K mask = K((1u << width) - 1);
    for (size_t i = lo; i < hi; ++i) {
      const K k = keys[i];
      for (unsigned d = 0; d < D; ++d) ++counts[(size_t(d) << width) + ((k >> (d * width)) & mask)];
    }
  }

  // Moves [lo, hi) from src to dst by the digit (key >> shift) & mask, whose counts are `count`.
  void scatter_pass(Set src, Set dst, size_t lo, size_t hi, unsigned shift, K mask, const size_t* count, const CallContext& ctx) {
    thread_local std::vector<size_t> next_buffer;
    next_buffer.resize(size_t(mask) + 1);
    size_t* next = next_buffer.data();
    size_t at = lo;
    for (size_t b = 0; b <= size_t(mask); ++b) {
      next[b] = at;
      at += count[b];
    }
    for (size_t begin = lo; begin < hi; begin += kCancelStride) {
      if (begin != lo && ctx.cancelled()) return;
      const size_t end = std::min(hi, begin + kCancelStride);
      if (argsort_) {
        for (size_t i = begin; i < end; ++i) {
          const K k = src.keys[i];
          const size_t to = next[(k >> shift) & mask]++;
          dst.keys[to] = k;
          dst.idx[to] = src.idx[i];
        }
      } else {
        for (size_t i = begin; i < end; ++i) {
          const K k = src.keys[i];
          dst.keys[next[(k >> shift) & mask]++] = k;
        }
      }
    }
  }

  // Stable: an element moves only past strictly greater keys.
  void insertion_sort(Set s, size_t lo, size_t hi) {
    for (size_t i = lo + 1; i < hi; ++i) {
      const K k = s.keys[i];
      size_t j = i;
      if (argsort_) {
        const Idx x = s.idx[i];
        for (; j > lo && s.keys[j - 1] > k; --j) {
          s.keys[j] = s.keys[j - 1];
          s.idx[j] = s.idx[j - 1];
        }
        s.idx[j] = x;
      } else {
        for (; j > lo && s.keys[j - 1] > k; --j) s.keys[j] = s.keys[j - 1];
      }
      s.keys[j] = k;
    }
  }

  // Turns [lo, hi) of set `at`, sorted, into the result: values in the caller's array (sort), or
  // indices in the output (argsort), as doubles when the output is a Float64Array.
  void finish_region(int at, size_t lo, size_t hi) {
    if (!argsort_) {
      const K* keys = sets_[at].keys;
      for (size_t i = lo; i < hi; ++i) raw_[i] = Keys::value(keys[i]);
      return;
    }
    if (at == 1) std::memcpy(out_ + lo, sets_[1].idx + lo, (hi - lo) * sizeof(Idx));
    if constexpr (sizeof(Idx) == 8) {
      if (f64_out_) {
        for (size_t i = lo; i < hi; ++i) out_[i] = std::bit_cast<Idx>(static_cast<double>(out_[i]));
      }
    }
  }

  // ---- scratch and phases -------------------------------------------------------------------

  void take_scratch() {
    scratch_ = Scratch::take(scratch_bytes(request_));
    uint8_t* p = scratch_.data();
    if (argsort_) {
      // The caller's fresh output: 10^4 faults for 10^7 indices took as long as the rest of
      // the argsort on a 2-vCPU VM (argsort/sort 2.2-4.6x, 1.8-2.3x with the advice).
      advise_huge_pages(out_, n_ * sizeof(Idx));
      const size_t key_bytes = align_up(n_ * sizeof(K));
      sets_[0] = {reinterpret_cast<K*>(p), out_};
      sets_[1] = {reinterpret_cast<K*>(p + key_bytes), reinterpret_cast<Idx*>(p + 2 * key_bytes)};
    } else {
      sets_[0] = {reinterpret_cast<K*>(p), nullptr};
      sets_[1] = {raw_, nullptr};
    }
  }

  bool stopped(const CallContext& ctx) const { return ctx.cancelled() || failed_.load(std::memory_order_relaxed); }

  void arrive(unsigned phase) {
    if (done_[phase].fetch_add(1, std::memory_order_acq_rel) + 1 == chunks_) done_[phase].notify_all();
  }

  void await(unsigned phase) {
    for (uint32_t seen = done_[phase].load(std::memory_order_acquire); seen < chunks_;
         seen = done_[phase].load(std::memory_order_acquire)) {
      done_[phase].wait(seen, std::memory_order_acquire);
    }
  }

  K* const raw_;
  const size_t n_;
  const bool argsort_;
  const bool f64_out_;
  Idx* const out_;
  const Request request_;
  unsigned chunks_ = 0;  // 0: one unit does everything
  unsigned groups_ = 0;
  Scratch scratch_;
  Set sets_[2] = {};
  std::vector<K> mins_, maxs_;  // per chunk, phase 0
  std::vector<TopHistogram> hist_;  // per chunk, phase 1
  std::atomic<uint32_t> done_[3] = {};  // units of phases 0-2 that have arrived
  std::atomic<bool> failed_{false};     // a unit threw: later phases do nothing
};

template <class Keys>
std::unique_ptr<Sorter> make_for(const Request& r) {
  if (r.argsort && r.index_type == IndexType::Float64) return std::make_unique<RadixSorter<Keys, uint64_t>>(r);
  return std::make_unique<RadixSorter<Keys, uint32_t>>(r);
}

}  // namespace

size_t element_size(ElementType type) {
  switch (type) {
    case ElementType::Int8: case ElementType::Uint8: case ElementType::Uint8Clamped: return 1;
    case ElementType::Int16: case ElementType::Uint16: return 2;
    case ElementType::Int32: case ElementType::Uint32: case ElementType::Float32: return 4;
    default: return 8;
  }
}

const char* element_type_name(ElementType type) {
  static const char* const names[kElementTypes] = {"Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array",
                                                    "Uint16Array", "Int32Array", "Uint32Array", "Float32Array",
                                                    "Float64Array", "BigInt64Array", "BigUint64Array"};
  return names[static_cast<int>(type)];
}

size_t scratch_bytes(const Request& r) {
  const size_t keys = align_up(r.n * element_size(r.type));
  if (!r.argsort) return keys;
  return 2 * keys + align_up(r.n * (r.index_type == IndexType::Float64 ? 8 : 4));
}

std::unique_ptr<Sorter> Sorter::make(const Request& r) {
  switch (r.type) {
    case ElementType::Int8: return make_for<SignedKeys<uint8_t>>(r);
    case ElementType::Uint8:
    case ElementType::Uint8Clamped: return make_for<UnsignedKeys<uint8_t>>(r);
    case ElementType::Int16: return make_for<SignedKeys<uint16_t>>(r);
    case ElementType::Uint16: return make_for<UnsignedKeys<uint16_t>>(r);
    case ElementType::Int32: return make_for<SignedKeys<uint32_t>>(r);
    case ElementType::Uint32: return make_for<UnsignedKeys<uint32_t>>(r);
    case ElementType::Float32: return make_for<FloatKeys<uint32_t>>(r);
    case ElementType::Float64: return make_for<FloatKeys<uint64_t>>(r);
    case ElementType::BigInt64: return make_for<SignedKeys<uint64_t>>(r);
    case ElementType::BigUint64: return make_for<UnsignedKeys<uint64_t>>(r);
  }
  return nullptr;
}

void sort_now(const Request& request) {
  auto sorter = Sorter::make(request);
  const CallContext ctx(nullptr, nullptr);
  for (uint64_t u = 0; u < sorter->units(); ++u) sorter->run(u, ctx);
}

}  // namespace spindle::sort
