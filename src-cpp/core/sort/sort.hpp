// Sorting typed-array elements the way V8's TypedArray.prototype.sort() orders them, in place, on
// the core's thread pool; and the stable index permutation that sorts them (argsort).
//
// The algorithm is a radix sort on order-preserving keys (keys.hpp). A parallel pass spreads
// the elements into 512 or 2048 buckets by the 9 or 11 bits below the highest bit in which any
// two keys differ, over chunks of the array at once; then buckets are shared out over the
// threads, and each is sorted in the thread's cache (radix_sorter.inc's sort_region): by at
// most two least-significant-digit passes, or by such passes over its top bits followed by a
// sort of each run of keys tied on them, or, when large, first split by its top 12 bits; small
// regions by insertion sort. Small arrays skip the parallel pass.
//
// A sort is a fixed list of work units (kernel.hpp's contract), in phases: which bits the keys
// differ in, histograms of the 11 bits below the highest of them, the scatter into scratch,
// then groups of buckets (four chunks, and sixteen groups, a thread by default). A unit of a
// later phase waits for the units of the phase before it. That cannot deadlock: a Job hands
// out its units in index order, so every unit a waiting unit depends on has already been claimed
// by a thread that is running it (or has run it), whatever the number of threads, one included.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "../kernel.hpp"

namespace spindle::sort {

// The codes src-ts/kernels/sort.ts passes, in this order.
enum class ElementType : uint8_t {
  Int8, Uint8, Uint8Clamped, Int16, Uint16, Int32, Uint32, Float32, Float64, BigInt64, BigUint64,
};
constexpr int kElementTypes = 11;
size_t element_size(ElementType type);
const char* element_type_name(ElementType type);

// argsort's result: a Uint32Array, or a Float64Array of indices for arrays of 2^32 elements or more.
enum class IndexType : uint8_t { Uint32, Float64 };

// Below this many elements a sort runs as one unit on one thread: spreading it out costs more
// than it saves.
constexpr size_t kParallelMin = size_t(1) << 16;
// The code paths (radix.cpp says why there are two). Every path sorts identically.
enum class SortPath : uint8_t { Baseline, Avx2 };
// "baseline" or "avx2"; SPINDLE_SORT_PATH=baseline makes sorts take the baseline path.
const char* sort_path_name(SortPath path);
// Whether this build has the path and this CPU runs it (Baseline always).
bool sort_path_supported(SortPath path);
// The path sorts take unless a Request says otherwise: Avx2 where supported, Baseline where not
// or where SPINDLE_SORT_PATH is "baseline" (read at the first call; later changes are not seen).
SortPath sort_best_path();

// How the parallel pass spreads the keys: by 9 bits, or by 11; Auto picks one per sort.
enum class Spread : uint8_t { Auto, Narrow, Wide };

// A bucket of at most this many elements is finished by insertion sort rather than radix passes.
constexpr size_t kInsertionMax = 32;
// A pass over a large chunk or bucket checks for cancellation after every this many elements.
constexpr size_t kCancelStride = size_t(1) << 18;

struct Request {
  ElementType type = ElementType::Float64;
  void* data = nullptr;  // n elements; sorted in place (sort), or only read (argsort)
  size_t n = 0;
  bool argsort = false;
  IndexType index_type = IndexType::Uint32;
  void* indices = nullptr;  // argsort: n indices of index_type, written
  // Tests lower these to reach the parallel path and the chunking with small arrays.
  size_t parallel_min = kParallelMin;
  unsigned chunks = 0;  // parallel chunks; 0: one per hardware thread
  // Tests and benches pick a path; one this build or CPU lacks runs sort_best_path().
  SortPath path = sort_best_path();
  // Tests force the parallel pass's spread (9 or 11 bits, radix_sorter.inc's make_plan);
  // Auto lets the sort choose.
  Spread spread = Spread::Auto;
};

// Scratch a request needs, in bytes: n elements for sort (one array's size); two key arrays and
// one index array for argsort.
size_t scratch_bytes(const Request& request);

// One sort, as work units. Units may run on any threads, concurrently, each at most once, in
// claim order (see above). The result is complete once every unit has run without the context
// reporting cancellation. A cancelled or failed sort leaves the array's contents unspecified:
// elements may be partly reordered, or partly overwritten by others still in scratch.
class Sorter {
 public:
  static std::unique_ptr<Sorter> make(const Request& request);
  virtual ~Sorter() = default;
  virtual uint64_t units() const = 0;
  virtual void run(uint64_t unit, const CallContext& ctx) = 0;
};

// Runs every unit in order on this thread (tests, and callers without a pool).
void sort_now(const Request& request);

}  // namespace spindle::sort
