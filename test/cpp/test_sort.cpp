// The typed-array sort (core/sort/, kernels/sort.cpp) against an independent oracle:
// std::stable_sort with V8's comparison (NaN last and all NaNs equal, -0 before +0), for every
// element type, the distributions that break radix sorts (constant bytes, few values, sorted and
// reversed runs, NaN payloads of both signs, subnormals), lengths around every threshold, the
// parallel phases with any number of chunks, run inline and as Jobs on a pool of threads (TSan
// watches those), argsort's stability and both index types, cancellation, progress, scratch
// reuse and the kernels' argument checks. The type matrix runs on every code path this build
// and CPU have (baseline, and avx2 where GCC built it for x86-64), so each compilation is checked.
#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "check.hpp"
#include "cpu.hpp"
#include "job.hpp"
#include "kernel.hpp"
#include "sort/scratch.hpp"
#include "sort/sort.hpp"
#include "thread_pool.hpp"

using namespace spindle;
using namespace std::chrono_literals;
using sort::ElementType;

namespace {

// V8's order for one element type: TypedArray.prototype.sort() without a comparator.
template <class V>
bool v8_less(V a, V b) {
  if constexpr (std::is_floating_point_v<V>) {
    if (std::isnan(a)) return false;
    if (std::isnan(b)) return true;
    if (a == 0 && b == 0) return std::signbit(a) && !std::signbit(b);
    return a < b;
  } else {
    return a < b;
  }
}

// Object.is: bit-equal, or both NaN.
template <class V>
bool same_value(V a, V b) {
  if constexpr (std::is_floating_point_v<V>) {
    if (std::isnan(a) && std::isnan(b)) return true;
  }
  return std::memcmp(&a, &b, sizeof(V)) == 0;
}

template <class V>
V from_bits(uint64_t bits) {
  V v;
  if constexpr (sizeof(V) == 8) {
    std::memcpy(&v, &bits, 8);
  } else if constexpr (sizeof(V) == 4) {
    const uint32_t b = uint32_t(bits);
    std::memcpy(&v, &b, 4);
  } else if constexpr (sizeof(V) == 2) {
    const uint16_t b = uint16_t(bits);
    std::memcpy(&v, &b, 2);
  } else {
    const uint8_t b = uint8_t(bits);
    std::memcpy(&v, &b, 1);
  }
  return v;
}

// Values that stress the key transform: for floats every special class; for integers the ends.
template <class V>
std::vector<V> specials() {
  if constexpr (std::is_same_v<V, double>) {
    return {0.0, -0.0, 1.0, -1.0, std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
            std::numeric_limits<double>::denorm_min(), -std::numeric_limits<double>::denorm_min(),
            std::numeric_limits<double>::min(), std::numeric_limits<double>::max(), -std::numeric_limits<double>::max(),
            from_bits<double>(0x7ff8000000000000ull), from_bits<double>(0xfff8000000000000ull),
            from_bits<double>(0x7ff0000000000001ull), from_bits<double>(0xfff00000deadbeefull),
            from_bits<double>(0x7fffffffffffffffull), from_bits<double>(0x000fffffffffffffull)};
  } else if constexpr (std::is_same_v<V, float>) {
    return {0.0f, -0.0f, 1.0f, -1.0f, std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
            std::numeric_limits<float>::denorm_min(), -std::numeric_limits<float>::denorm_min(),
            std::numeric_limits<float>::max(), -std::numeric_limits<float>::max(),
            from_bits<float>(0x7fc00000u), from_bits<float>(0xffc00000u), from_bits<float>(0x7f800001u),
            from_bits<float>(0xff80beefu), from_bits<float>(0x007fffffu)};
  } else {
    return {V(0), V(1), std::numeric_limits<V>::min(), std::numeric_limits<V>::max(), V(std::numeric_limits<V>::min() + 1),
            V(std::numeric_limits<V>::max() - 1)};
  }
}

enum class Shape { Random, Sorted, Reversed, AllEqual, FewDistinct, Specials, NarrowFloat };
const Shape kShapes[] = {Shape::Random, Shape::Sorted, Shape::Reversed, Shape::AllEqual, Shape::FewDistinct, Shape::Specials, Shape::NarrowFloat};

template <class V>
std::vector<V> make_input(size_t n, Shape shape, std::mt19937_64& rng) {
  std::vector<V> v(n);
  const auto sp = specials<V>();
  for (size_t i = 0; i < n; ++i) {
    switch (shape) {
      case Shape::Random: case Shape::Sorted: case Shape::Reversed: v[i] = from_bits<V>(rng()); break;
      case Shape::AllEqual: v[i] = sp[2]; break;
      case Shape::FewDistinct: v[i] = sp[rng() % 3]; break;
      case Shape::Specials: v[i] = rng() % 4 == 0 ? from_bits<V>(rng()) : sp[rng() % sp.size()]; break;
      case Shape::NarrowFloat:  // values in [0, 1), as Math.random() gives: the top bytes barely vary
        if constexpr (std::is_floating_point_v<V>) v[i] = V(double(rng() >> 11) / 9007199254740992.0);
        else v[i] = V(rng() % 5);
        break;
    }
  }
  if (shape == Shape::Sorted) std::stable_sort(v.begin(), v.end(), v8_less<V>);
  if (shape == Shape::Reversed) {
    std::stable_sort(v.begin(), v.end(), v8_less<V>);
    std::reverse(v.begin(), v.end());
  }
  return v;
}

template <class V>
std::vector<uint32_t> stable_order(const std::vector<V>& v) {
  std::vector<uint32_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0u);
  std::stable_sort(idx.begin(), idx.end(), [&](uint32_t a, uint32_t b) { return v8_less(v[a], v[b]); });
  return idx;
}

template <class V>
bool sorted_like_v8(const std::vector<V>& input, const std::vector<V>& got) {
  std::vector<V> want = input;
  std::stable_sort(want.begin(), want.end(), v8_less<V>);
  if (want.size() != got.size()) return false;
  for (size_t i = 0; i < want.size(); ++i) {
    if (!same_value(want[i], got[i])) return false;
  }
  return true;
}

// The code path request_for() asks for; the type matrix sets it in turn to each supported one.
sort::SortPath tested_path = sort::sort_best_path();
// The parallel pass's spread request_for() asks for: tests set each in turn where it matters.
sort::Spread tested_spread = sort::Spread::Auto;

sort::Request request_for(ElementType type, void* data, size_t n, size_t parallel_min, unsigned chunks) {
  sort::Request r;
  r.path = tested_path;
  r.type = type;
  r.data = data;
  r.n = n;
  r.parallel_min = parallel_min;
  r.chunks = chunks;
  r.spread = tested_spread;
  return r;
}

// Sorts and argsorts `input` of type V as `type`, with the given thresholds, inline; checks both.
template <class V>
bool check_one(ElementType type, const std::vector<V>& input, size_t parallel_min, unsigned chunks, sort::IndexType index_type = sort::IndexType::Uint32) {
  bool ok = true;
  std::vector<V> data = input;
  sort::sort_now(request_for(type, data.data(), data.size(), parallel_min, chunks));
  ok = ok && sorted_like_v8(input, data);

  std::vector<V> untouched = input;
  sort::Request r = request_for(type, untouched.data(), untouched.size(), parallel_min, chunks);
  r.argsort = true;
  r.index_type = index_type;
  const std::vector<uint32_t> want = stable_order(input);
  if (index_type == sort::IndexType::Uint32) {
    std::vector<uint32_t> idx(input.size(), 0xdeadbeef);
    r.indices = idx.data();
    sort::sort_now(r);
    ok = ok && idx == want;
  } else {
    std::vector<double> idx(input.size(), -1.0);
    r.indices = idx.data();
    sort::sort_now(r);
    for (size_t i = 0; i < idx.size(); ++i) ok = ok && idx[i] == double(want[i]);
  }
  ok = ok && (input.empty() || std::memcmp(untouched.data(), input.data(), input.size() * sizeof(V)) == 0);  // argsort only reads
  return ok;
}

template <class V>
void check_type(ElementType type, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const size_t ins = sort::kInsertionMax;
  // Lengths around the insertion-sort bound, with the parallel path off (one unit)...
  for (size_t n : {size_t(0), size_t(1), size_t(2), size_t(3), ins - 1, ins, ins + 1, size_t(100), size_t(1000)}) {
    for (Shape shape : kShapes) {
      const auto input = make_input<V>(n, shape, rng);
      if (!check_one(type, input, SIZE_MAX, 0)) {
        CHECK(false);
        std::printf("  %s n=%zu shape=%d sequential\n", sort::element_type_name(type), n, int(shape));
      }
    }
  }
  // ...and with it forced on, over 1 to 7 chunks (buckets then hold 0, a few, or many
  // elements), spreading by 9 bits and by 11 (with keys this few the sort would mostly take 9).
  for (size_t n : {size_t(2), size_t(5), size_t(64), size_t(700), size_t(5000)}) {
    for (unsigned chunks : {1u, 2u, 3u, 7u}) {
      for (Shape shape : kShapes) {
        const auto input = make_input<V>(n, shape, rng);
        for (sort::Spread spread : {sort::Spread::Narrow, sort::Spread::Wide}) {
          tested_spread = spread;
          if (!check_one(type, input, 2, chunks)) {
            CHECK(false);
            std::printf("  %s n=%zu chunks=%u shape=%d spread=%d parallel\n", sort::element_type_name(type), n, chunks, int(shape), int(spread));
          }
        }
        tested_spread = sort::Spread::Auto;
      }
    }
  }
  // At the real threshold, both sides of it.
  for (size_t n : {sort::kParallelMin - 1, sort::kParallelMin, sort::kParallelMin + 1}) {
    const auto input = make_input<V>(n, Shape::Random, rng);
    CHECK(check_one(type, input, sort::kParallelMin, 0));
  }
}

}  // namespace

TEST_CASE("sort: every element type, shape and length matches V8's order; argsort is the stable order, on every code path") {
  int paths = 0;
  for (sort::SortPath path : {sort::SortPath::Baseline, sort::SortPath::Avx2}) {
    if (!sort::sort_path_supported(path)) continue;
    ++paths;
    tested_path = path;
    check_type<int8_t>(ElementType::Int8, 1);
    check_type<uint8_t>(ElementType::Uint8, 2);
    check_type<uint8_t>(ElementType::Uint8Clamped, 3);
    check_type<int16_t>(ElementType::Int16, 4);
    check_type<uint16_t>(ElementType::Uint16, 5);
    check_type<int32_t>(ElementType::Int32, 6);
    check_type<uint32_t>(ElementType::Uint32, 7);
    check_type<float>(ElementType::Float32, 8);
    check_type<double>(ElementType::Float64, 9);
    check_type<int64_t>(ElementType::BigInt64, 10);
    check_type<uint64_t>(ElementType::BigUint64, 11);
  }
  tested_path = sort::sort_best_path();
  CHECK(paths >= 1);
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
  // A GCC x86-64 build has the avx2 path, and takes it by default wherever the CPU runs it.
  const bool cpu_runs_avx2 = cpu_has_avx2() && cpu_has_bmi2();
  CHECK(sort::sort_path_supported(sort::SortPath::Avx2) == cpu_runs_avx2);
  if (std::getenv("SPINDLE_SORT_PATH") == nullptr) CHECK(sort::sort_best_path() == (cpu_runs_avx2 ? sort::SortPath::Avx2 : sort::SortPath::Baseline));
#else
  CHECK(!sort::sort_path_supported(sort::SortPath::Avx2));
#endif
  CHECK(std::string(sort::sort_path_name(sort::SortPath::Avx2)) == "avx2");
  CHECK(std::string(sort::sort_path_name(sort::SortPath::Baseline)) == "baseline");
}

TEST_CASE("sort: NaNs of every payload and sign come last, -0 before +0") {
  std::vector<double> v = {from_bits<double>(0xfff8000000000000ull), 0.0, from_bits<double>(0x7ff0000000000001ull), -0.0,
                           -std::numeric_limits<double>::infinity(), from_bits<double>(0xffffffffffffffffull), 1.0};
  sort::sort_now(request_for(ElementType::Float64, v.data(), v.size(), SIZE_MAX, 0));
  CHECK(v[0] == -std::numeric_limits<double>::infinity());
  CHECK(v[1] == 0 && std::signbit(v[1]));
  CHECK(v[2] == 0 && !std::signbit(v[2]));
  CHECK(v[3] == 1.0);
  CHECK(std::isnan(v[4]) && std::isnan(v[5]) && std::isnan(v[6]));
}

TEST_CASE("argsort: Float64Array indices give the same stable order") {
  std::mt19937_64 rng(20);
  for (size_t n : {size_t(0), size_t(10), size_t(3000)}) {
    for (Shape shape : {Shape::FewDistinct, Shape::Specials}) {
      const auto input = make_input<double>(n, shape, rng);
      CHECK(check_one(ElementType::Float64, input, SIZE_MAX, 0, sort::IndexType::Float64));
      CHECK(check_one(ElementType::Float64, input, 2, 3, sort::IndexType::Float64));
    }
    const auto bytes = make_input<uint8_t>(n, Shape::FewDistinct, rng);
    CHECK(check_one(ElementType::Uint8, bytes, 2, 2, sort::IndexType::Float64));
  }
}

TEST_CASE("argsort: the indices array may start anywhere in a cache line") {
  // The 11-bit scatter writes whole cache lines where it can: an output that does not start on a
  // line boundary shifts which elements share a line with the neighbouring buckets and chunks.
  // (The 9-bit one, which stores each element, runs too.)
  std::mt19937_64 rng(21);
  for (size_t offset = 0; offset < 16; ++offset) {
    for (sort::Spread spread : {sort::Spread::Wide, sort::Spread::Narrow}) {
      tested_spread = spread;
      const auto input = make_input<int32_t>(3000 + offset * 7, Shape::Random, rng);
      std::vector<uint32_t> storage(input.size() + 16, 0xdeadbeef);
      sort::Request r = request_for(ElementType::Int32, const_cast<int32_t*>(input.data()), input.size(), 2, 3);
      r.argsort = true;
      r.indices = storage.data() + offset;
      sort::sort_now(r);
      CHECK(std::equal(storage.begin() + std::ptrdiff_t(offset), storage.begin() + std::ptrdiff_t(offset + input.size()), stable_order(input).begin()));
      CHECK(std::all_of(storage.begin(), storage.begin() + std::ptrdiff_t(offset), [](uint32_t x) { return x == 0xdeadbeef; }));
      CHECK(std::all_of(storage.end() - std::ptrdiff_t(16 - offset), storage.end(), [](uint32_t x) { return x == 0xdeadbeef; }));
    }
  }
  tested_spread = sort::Spread::Auto;
}

TEST_CASE("sort: keys that tie on their top bits, and buckets too large for the cache, sort like V8") {
  // A region of up to 2^17 elements is sorted by its top bits only, then each run of keys tied
  // on them is sorted by the bits below (fix_up: insertion sort, or the region sort again for a
  // long run); a larger region is first split by its top 12 bits (msd_split). Keys whose top
  // bits take a few values and whose low bits vary make long tied runs at every level; half the
  // keys in [1, 2) and half spread over every exponent make a bucket too large to sort whole.
  // Regions of 16384 keys or more that differ in 23 or 24 bits take two 12-bit digits.
  std::mt19937_64 rng(22);
  std::vector<uint64_t> tied(100000);
  for (auto& k : tied) k = (rng() % 16) << 60 | (rng() % 8) << 30 | (rng() & 0xffff);
  std::vector<int32_t> tied32(20000);
  for (auto& k : tied32) k = int32_t(uint32_t(rng() % 4) << 28 | uint32_t(rng() & 0x3ff));
  // Keys differing in 24 bits, 40 000 of them: one region sorted by two 12-bit digits.
  std::vector<int32_t> bits24(40000);
  for (auto& k : bits24) k = int32_t(rng() & 0xffffff);
  std::vector<double> lopsided(300000);
  for (size_t i = 0; i < lopsided.size(); ++i) {
    const double unit = 1.0 + double(rng() >> 11) / 9007199254740992.0;  // [1, 2)
    lopsided[i] = i % 2 == 0 ? unit : std::ldexp(unit, int(rng() % 1000) - 500) * (rng() % 2 == 0 ? 1 : -1);
  }
  for (sort::SortPath path : {sort::SortPath::Baseline, sort::SortPath::Avx2}) {
    if (!sort::sort_path_supported(path)) continue;
    tested_path = path;
    for (auto [parallel_min, chunks] : {std::pair<size_t, unsigned>{SIZE_MAX, 0}, {2, 3}}) {
      for (sort::Spread spread : {sort::Spread::Auto, sort::Spread::Narrow, sort::Spread::Wide}) {
        if (parallel_min == SIZE_MAX && spread != sort::Spread::Auto) continue;  // one unit: no spread
        tested_spread = spread;
        CHECK(check_one(ElementType::BigUint64, tied, parallel_min, chunks));
        CHECK(check_one(ElementType::Int32, tied32, parallel_min, chunks));
        CHECK(check_one(ElementType::Int32, bits24, parallel_min, chunks));
        CHECK(check_one(ElementType::Float64, lopsided, parallel_min, chunks));
      }
    }
  }
  tested_path = sort::sort_best_path();
  tested_spread = sort::Spread::Auto;
}

namespace {

// An array with guard elements either side, which no sort may write.
template <class V>
struct Guarded {
  static constexpr size_t kPad = 64;
  std::vector<V> storage;
  explicit Guarded(const std::vector<V>& input) : storage(input.size() + 2 * kPad) {
    std::fill(storage.begin(), storage.end(), from_bits<V>(0x5a5a5a5a5a5a5a5aull));
    std::copy(input.begin(), input.end(), storage.begin() + kPad);
  }
  V* data() { return storage.data() + kPad; }
  bool guards_intact() const {
    const V guard = from_bits<V>(0x5a5a5a5a5a5a5a5aull);
    for (size_t i = 0; i < kPad; ++i) {
      if (!same_value(storage[i], guard) || !same_value(storage[storage.size() - 1 - i], guard)) return false;
    }
    return true;
  }
};

// Runs the sort or argsort of `a` unit by unit, calling between(k) before unit k.
template <class Between>
void run_units(const sort::Request& r, Between between) {
  auto sorter = sort::Sorter::make(r);
  const CallContext ctx(nullptr, nullptr);
  for (uint64_t u = 0; u < sorter->units(); ++u) {
    between(u);
    sorter->run(u, ctx);
  }
}

}  // namespace

namespace {

// Sorts (or argsorts) `input` unit by unit, overwriting every element with `now` between the
// histogram and the scatter; checks that nothing outside the array was written and that
// argsort's indices are in range.
template <class V>
void check_changed_between_phases(ElementType type, const std::vector<V>& input, V now, unsigned chunks, bool argsort) {
  Guarded<V> a(input);
  std::vector<uint32_t> idx(argsort ? input.size() : 0, 0);
  sort::Request r = request_for(type, a.data(), input.size(), 2, chunks);
  r.argsort = argsort;
  r.indices = argsort ? idx.data() : nullptr;
  run_units(r, [&](uint64_t u) {
    if (u == 2 * chunks) std::fill(a.data(), a.data() + input.size(), now);
  });
  CHECK(a.guards_intact());
  CHECK(std::all_of(idx.begin(), idx.end(), [&](uint32_t i) { return i < input.size(); }));
}

}  // namespace

TEST_CASE("sort: an array the caller changes between the phases is never written outside") {
  // The native backend sorts the caller's array in place while JS runs on, so the keys the
  // scatter reads may not be those the histogram counted. Here every element becomes the
  // largest value after the histogram: all of them head for the last bucket, far more than it
  // has room for. Every scatter: random Int32s fill every bucket (by 11 bits written a cache
  // line at a time, by 9 element by element), a few distinct doubles a few buckets (element by
  // element). (ASan watches the scratch; the guards watch the array.)
  std::mt19937_64 rng(22);
  for (unsigned chunks : {1u, 3u}) {
    for (bool argsort : {false, true}) {
      for (sort::Spread spread : {sort::Spread::Narrow, sort::Spread::Wide}) {
        tested_spread = spread;
        check_changed_between_phases(ElementType::Int32, make_input<int32_t>(20000, Shape::Random, rng), std::numeric_limits<int32_t>::max(), chunks, argsort);
        check_changed_between_phases(ElementType::Float64, make_input<double>(20000, Shape::FewDistinct, rng), std::numeric_limits<double>::infinity(), chunks, argsort);
      }
    }
  }
  tested_spread = sort::Spread::Auto;
}

#if !defined(__SANITIZE_THREAD__)
TEST_CASE("sort: an array another thread keeps overwriting is never written outside") {
  // The same, at any moment: the in-bucket passes that read the array back and the one-unit
  // sort of a small array, which sorts in the array itself; one unit over more than 2^17
  // elements also splits the array itself first (msd_split reading it). (Not under TSan: the
  // race is the point, and it is the caller's.)
  std::mt19937_64 rng(23);
  for (size_t parallel_min : {size_t(2), SIZE_MAX}) {
    for (int round = 0; round < 6; ++round) {
      const auto input = make_input<double>(check::kFull ? 400'000 : 150'000, Shape::NarrowFloat, rng);
      Guarded<double> a(input);
      sort::drop_kept_scratch();  // a scratch buffer of this sort's size: ASan sees a write past it
      std::atomic<bool> stop{false};
      std::thread writer([&] {
        for (unsigned k = 0; !stop.load(std::memory_order_relaxed); ++k) {
          // Bit patterns at both ends of every digit (the sort holds keys in the array): as the
          // mix changes between a pass's count and its moves, the last digit gains elements.
          const double v = (k & 1) != 0 ? 0.0 : from_bits<double>(~uint64_t(0));
          for (size_t i = 0; i < input.size(); i += 1 + (k % 7)) reinterpret_cast<volatile double*>(a.data())[i] = v;
        }
      });
      sort::Request r = request_for(ElementType::Float64, a.data(), input.size(), parallel_min, 2);
      r.spread = round % 2 == 0 ? sort::Spread::Narrow : sort::Spread::Wide;
      std::vector<std::thread> threads;
      auto sorter = sort::Sorter::make(r);
      std::atomic<uint64_t> next{0};
      const CallContext ctx(nullptr, nullptr);
      auto work = [&] {
        for (uint64_t u; (u = next.fetch_add(1)) < sorter->units();) sorter->run(u, ctx);
      };
      threads.emplace_back(work);
      work();
      threads[0].join();
      stop = true;
      writer.join();
      CHECK(a.guards_intact());
    }
  }
}
#endif

namespace {

class Sink final : public CompletionSink {
 public:
  void job_done(Job& job) override {
    std::lock_guard<std::mutex> lock(mutex_);
    statuses_.push_back(job.status());
    done_.notify_all();
  }
  bool wait_for(size_t n) {
    std::unique_lock<std::mutex> lock(mutex_);
    return done_.wait_for(lock, 60s, [&] { return statuses_.size() >= n; });
  }
  std::vector<Job::Status> statuses() {
    std::lock_guard<std::mutex> lock(mutex_);
    return statuses_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_;
  std::vector<Job::Status> statuses_;
};

const KernelInfo& kernel_named(const char* name) {
  for (const auto& k : kernel_registry()) {
    if (std::string(k.name) == name) return k;
  }
  throw std::logic_error("no such kernel");
}

std::unique_ptr<Call> sort_call(std::vector<double>& v) {
  Arg args[2] = {Arg::of_view(v.data(), v.size() * 8), Arg::of_number(double(ElementType::Float64))};
  return kernel_named("sort").make(args, 2);
}

}  // namespace

TEST_CASE("sort: the kernel, as Jobs on several threads, sorts big arrays and counts progress") {
  std::mt19937_64 rng(30);
  const size_t n = check::kFull ? 3'000'000 : 300'000;
  ThreadPool pool;
  pool.reserve(4);
  Sink sink;
  std::vector<std::vector<double>> inputs, arrays;
  std::vector<int64_t> progress(6, 0);
  for (int j = 0; j < 6; ++j) {
    inputs.push_back(make_input<double>(n, j % 2 == 0 ? Shape::NarrowFloat : Shape::Specials, rng));
    arrays.push_back(inputs.back());
  }
  for (int j = 0; j < 6; ++j) {
    Job* job = new Job(sort_call(arrays[j]), &progress[j], &sink, uint64_t(j + 1));
    pool.submit(job, unsigned(1 + j % 4));  // 1 to 4 threads at once
    job->release();
  }
  CHECK(sink.wait_for(6));
  pool.shutdown();
  for (auto s : sink.statuses()) CHECK(s == Job::Status::Ok);
  for (int j = 0; j < 6; ++j) {
    CHECK(sorted_like_v8(inputs[j], arrays[j]));
    CHECK(progress[j] == int64_t(n));
  }
}

TEST_CASE("sort: a cancelled sort completes promptly as Cancelled, at any point") {
  std::mt19937_64 rng(40);
  const size_t n = check::kFull ? 2'000'000 : 200'000;
  ThreadPool pool;
  pool.reserve(3);
  Sink sink;
  std::vector<std::vector<double>> arrays;
  for (int j = 0; j < 8; ++j) arrays.push_back(make_input<double>(n, Shape::Random, rng));
  std::vector<Job*> jobs;
  for (int j = 0; j < 8; ++j) {
    Job* job = new Job(sort_call(arrays[j]), nullptr, &sink, uint64_t(j + 1));
    job->retain();  // ours, to cancel it
    pool.submit(job, 3);
    job->release();
    jobs.push_back(job);
  }
  // Cancel them at staggered moments: before, during and (maybe) after their phases.
  for (int j = 0; j < 8; ++j) {
    std::this_thread::sleep_for(std::chrono::microseconds(300 * j));
    jobs[j]->cancel();
  }
  CHECK(sink.wait_for(8));
  pool.shutdown();
  for (auto s : sink.statuses()) CHECK(s == Job::Status::Cancelled || s == Job::Status::Ok);
  for (Job* job : jobs) job->release();

  // Cancelled from the start, run inline: every unit returns at once, nothing hangs.
  std::vector<double> v = make_input<double>(100'000, Shape::Random, rng);
  auto call = sort_call(v);
  std::atomic<bool> flag{true};
  CallContext ctx(&flag, nullptr);
  for (uint64_t u = 0; u < call->units(); ++u) call->run(u, ctx);
}

TEST_CASE("sort: scratch is reused across calls") {
  sort::drop_kept_scratch();
  uint8_t* first;
  {
    auto s = sort::Scratch::take(sort::kKeepMin * 2);
    first = s.data();
  }
  auto again = sort::Scratch::take(sort::kKeepMin);
  CHECK(again.data() == first);
  auto other = sort::Scratch::take(sort::kKeepMin);  // the kept one is taken: a fresh buffer
  CHECK(other.data() != first && other.data() != nullptr);
  auto too_big = sort::Scratch::take(sort::kKeepMax + 1);
  CHECK(too_big.size() == sort::kKeepMax + 1);
}

TEST_CASE("sort: small requests leave the kept buffer to large ones") {
  sort::drop_kept_scratch();
  uint8_t* large;
  {
    auto s = sort::Scratch::take(sort::kKeepMin * 4);
    large = s.data();
  }
  {
    auto small = sort::Scratch::take(1000);  // its own buffer, not the kept one
    CHECK(small.data() != large && small.size() == 1000);
  }
  auto again = sort::Scratch::take(sort::kKeepMin * 2);  // the small one was not kept in its place
  CHECK(again.data() == large);
}

TEST_CASE("sort: the kernels reject bad arguments with the argument's name") {
  std::vector<double> v(8);
  auto error_of = [](const char* kernel, std::vector<Arg> args) -> std::string {
    try {
      kernel_named(kernel).make(args.data(), args.size());
    } catch (const ArgumentError& e) {
      return std::string(e.type == ArgumentError::Type::TypeError ? "TypeError: " : "RangeError: ") + e.what();
    }
    return "no error";
  };
  const Arg view = Arg::of_view(v.data(), 64);
  CHECK(error_of("sort", {view}) == "TypeError: sort takes 2 arguments (array, type), got 1");
  CHECK(error_of("sort", {Arg::of_number(1), Arg::of_number(8)}) == "TypeError: sort: array must be a TypedArray");
  CHECK(error_of("sort", {view, Arg::of_number(11)}) == "RangeError: sort: type must be an integer code in [0, 11)");
  CHECK(error_of("sort", {view, Arg::of_number(1.5)}) == "RangeError: sort: type must be an integer code in [0, 11)");
  CHECK(error_of("sort", {Arg::of_view(v.data(), 63), Arg::of_number(8)}) == "TypeError: sort: array is not a whole, aligned Float64Array");
  CHECK(error_of("sort", {Arg::of_view(reinterpret_cast<uint8_t*>(v.data()) + 4, 8), Arg::of_number(8)}) ==
        "TypeError: sort: array is not a whole, aligned Float64Array");
  std::vector<uint32_t> idx(8);
  CHECK(error_of("argsort", {view, Arg::of_number(8), Arg::of_view(idx.data(), 28), Arg::of_number(0)}) ==
        "TypeError: argsort: indices must be an aligned Uint32Array of the array's length");
  CHECK(error_of("argsort", {view, Arg::of_number(8), Arg::of_view(idx.data(), 32), Arg::of_number(2)}) ==
        "RangeError: argsort: indexType must be an integer code in [0, 2)");
  CHECK(error_of("argsort", {view, Arg::of_number(8), Arg::of_view(idx.data(), 32), Arg::of_number(0)}) == "no error");
}

int main() { return check::run_all(); }
