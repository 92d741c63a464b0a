// The radix sort behind sort.hpp: the code paths it is compiled for, and the choice between them.
//
// radix_sorter.inc holds the sorter. It is included once for any CPU of the architecture
// (SortPath::Baseline) and, where GCC builds for x86-64, once more under a target pragma for
// AVX2 and BMI2 (SortPath::Avx2), which CPUs from 2013-2015 on have. BMI2 shifts by a count in
// any register (shrx), which every pass's digit `(key >> shift) & mask` wants, and AVX2 gives
// the float keys' 64-bit signed compares (keys.hpp) vectors twice as wide, where baseline
// x86-64 has no such compare at all: 4% less time for 1e7 random Int32 keys and 12% for
// Float64 on one thread here (bench/cpp/sort_bench, 2026-12-07).
// A pragma rather than compiling a file with -mavx2: inline library code (std::vector, std::fill)
// instantiated under such flags is shared with the rest of the binary by the linker, which may
// then hand AVX2 instructions to callers on CPUs without them. Under the pragma only the
// definitions that follow take the target; library templates defined before it keep the
// baseline, and the sorter's own definitions have internal linkage.
#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "../cpu.hpp"
#include "keys.hpp"
#include "scratch.hpp"
#include "sort.hpp"

namespace spindle::sort {

namespace {

constexpr unsigned kMaxChunks = 64;
constexpr unsigned kGroupsPerChunk = 4;
// The parallel pass counts the 11 bits below the highest bit in which keys differ (2048 buckets)
// and spreads the keys by all of them, or by only the top 9 of them (512 buckets: see
// RadixSorter::make_plan for which); the passes inside a bucket as sort_region says.
constexpr unsigned kTopBits = 11;
constexpr unsigned kTopRadix = 1u << kTopBits;
constexpr unsigned kNarrowBits = 9;

using TopHistogram = std::array<size_t, kTopRadix>;

size_t align_up(size_t bytes) { return (bytes + 63) & ~size_t(63); }

namespace baseline {
#include "radix_sorter.inc"
}  // namespace baseline

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SPINDLE_SORT_AVX2 1
#pragma GCC push_options
#pragma GCC target("avx2,bmi,bmi2")
namespace avx2 {
#include "radix_sorter.inc"
}  // namespace avx2
#pragma GCC pop_options
#else
#define SPINDLE_SORT_AVX2 0
#endif

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

const char* sort_path_name(SortPath path) { return path == SortPath::Avx2 ? "avx2" : "baseline"; }

bool sort_path_supported(SortPath path) {
  // The avx2 build uses BMI1 too, which every CPU with BMI2 has.
  return path == SortPath::Baseline || (SPINDLE_SORT_AVX2 && cpu_has_avx2() && cpu_has_bmi2());
}

SortPath sort_best_path() {
  static const SortPath path = [] {
    const char* requested = std::getenv("SPINDLE_SORT_PATH");
    if (requested != nullptr && path_name_matches(requested, "baseline")) return SortPath::Baseline;
    return sort_path_supported(SortPath::Avx2) ? SortPath::Avx2 : SortPath::Baseline;
  }();
  return path;
}

namespace {

template <class Keys>
std::unique_ptr<Sorter> make_on_path(const Request& r) {
#if SPINDLE_SORT_AVX2
  if (r.path == SortPath::Avx2 && sort_path_supported(SortPath::Avx2)) return avx2::make_for<Keys>(r);
#endif
  return baseline::make_for<Keys>(r);
}

}  // namespace

std::unique_ptr<Sorter> Sorter::make(const Request& r) {
  switch (r.type) {
    case ElementType::Int8: return make_on_path<SignedKeys<uint8_t>>(r);
    case ElementType::Uint8:
    case ElementType::Uint8Clamped: return make_on_path<UnsignedKeys<uint8_t>>(r);
    case ElementType::Int16: return make_on_path<SignedKeys<uint16_t>>(r);
    case ElementType::Uint16: return make_on_path<UnsignedKeys<uint16_t>>(r);
    case ElementType::Int32: return make_on_path<SignedKeys<uint32_t>>(r);
    case ElementType::Uint32: return make_on_path<UnsignedKeys<uint32_t>>(r);
    case ElementType::Float32: return make_on_path<FloatKeys<uint32_t>>(r);
    case ElementType::Float64: return make_on_path<FloatKeys<uint64_t>>(r);
    case ElementType::BigInt64: return make_on_path<SignedKeys<uint64_t>>(r);
    case ElementType::BigUint64: return make_on_path<UnsignedKeys<uint64_t>>(r);
  }
  return nullptr;
}

void sort_now(const Request& request) {
  auto sorter = Sorter::make(request);
  const CallContext ctx(nullptr, nullptr);
  for (uint64_t u = 0; u < sorter->units(); ++u) sorter->run(u, ctx);
}

}  // namespace spindle::sort
