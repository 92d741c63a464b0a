// Times spindle's sort core (src-cpp/core/sort) against the anchors issue #15 names, on the same
// keys and threads: std::sort, ips4o (sequential and parallel; Debian libips4o-dev) and vqsort
// (Google Highway's vectorized quicksort, one thread; Debian libhwy-dev). Built only here, never
// shipped; an anchor whose headers are missing is reported as skipped.
// Keys: 1e7 doubles uniform in [0, 1) (Math.random()'s shape) and 1e7 random int32s. Each figure
// is the median wall time of RUNS runs after one warm-up (scratch faulted in), min and max beside.
// Every result is checked sorted. spindle runs its default code path (avx2 on x86-64 CPUs with
// AVX2 and BMI2) and, where that is not the baseline, the baseline path too; built as the addon
// is, without -march, so the figures are what ships. spindle's parallel sort runs its units on
// THREADS std::threads claiming them in index order, as the core's Job does.
//   g++ -std=c++20 -O3 -Isrc-cpp/core bench/cpp/sort_bench.cpp src-cpp/core/sort/*.cpp src-cpp/core/cpu.cpp
//       -o build/sort_bench -pthread -fopenmp -latomic -lhwy_contrib -lhwy  (ips4o: OpenMP threads, 16-byte atomics;
//       drop -lhwy_contrib -lhwy without libhwy-dev)
//   build/sort_bench [N=10000000] [THREADS=hardware] [RUNS=5]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "sort/sort.hpp"

#if __has_include(<ips4o.hpp>)
#include <ips4o.hpp>
#define HAVE_IPS4O 1
#endif
#if __has_include(<hwy/contrib/sort/vqsort.h>)
#include <hwy/contrib/sort/vqsort.h>
#define HAVE_VQSORT 1
#endif

using namespace spindle;

namespace {

template <class T>
void spindle_sort(std::vector<T>& v, sort::ElementType type, unsigned threads, sort::SortPath path = sort::sort_best_path()) {
  sort::Request r;
  r.path = path;
  r.type = type;
  r.data = v.data();
  r.n = v.size();
  r.chunks = threads;
  auto sorter = sort::Sorter::make(r);
  const CallContext ctx(nullptr, nullptr);
  std::atomic<uint64_t> next{0};
  auto work = [&] {
    for (uint64_t u; (u = next.fetch_add(1)) < sorter->units();) sorter->run(u, ctx);
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
}

template <class T>
void report(const char* type, const char* name, unsigned threads, const std::vector<T>& input, int runs,
            const std::function<void(std::vector<T>&)>& sort_fn) {
  std::vector<double> ms;
  std::vector<T> v;
  for (int r = -1; r < runs; ++r) {
    v = input;
    const auto t0 = std::chrono::steady_clock::now();
    sort_fn(v);
    const double took = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!std::is_sorted(v.begin(), v.end())) {
      std::printf("%s %s: NOT SORTED\n", type, name);
      std::exit(1);
    }
    if (r >= 0) ms.push_back(took);
  }
  std::sort(ms.begin(), ms.end());
  std::printf("| %s | %s | %u | %.1f | %.1f – %.1f |\n", type, name, threads, ms[ms.size() / 2], ms.front(), ms.back());
}

template <class T>
void run_all(const char* type, sort::ElementType et, const std::vector<T>& input, unsigned threads, int runs) {
  report<T>(type, "std::sort", 1, input, runs, [](std::vector<T>& v) { std::sort(v.begin(), v.end()); });
#ifdef HAVE_IPS4O
  report<T>(type, "ips4o", 1, input, runs, [](std::vector<T>& v) { ips4o::sort(v.begin(), v.end()); });
  report<T>(type, "ips4o parallel", threads, input, runs,
            [threads](std::vector<T>& v) { ips4o::parallel::sort(v.begin(), v.end(), std::less<>(), int(threads)); });
#else
  std::printf("| %s | ips4o | - | skipped: no <ips4o.hpp> (Debian libips4o-dev) | |\n", type);
#endif
#ifdef HAVE_VQSORT
  hwy::Sorter vq;
  report<T>(type, "vqsort", 1, input, runs, [&vq](std::vector<T>& v) { vq(v.data(), v.size(), hwy::SortAscending()); });
#else
  std::printf("| %s | vqsort | - | skipped: no <hwy/contrib/sort/vqsort.h> (Debian libhwy-dev) | |\n", type);
#endif
  // The path sorts take by default, and the baseline beside it when that is another one.
  const std::string best = std::string("spindle ") + sort::sort_path_name(sort::sort_best_path());
  report<T>(type, best.c_str(), 1, input, runs, [et](std::vector<T>& v) { spindle_sort(v, et, 1); });
  report<T>(type, best.c_str(), threads, input, runs, [et, threads](std::vector<T>& v) { spindle_sort(v, et, threads); });
  if (sort::sort_best_path() != sort::SortPath::Baseline) {
    report<T>(type, "spindle baseline", 1, input, runs, [et](std::vector<T>& v) { spindle_sort(v, et, 1, sort::SortPath::Baseline); });
    report<T>(type, "spindle baseline", threads, input, runs,
              [et, threads](std::vector<T>& v) { spindle_sort(v, et, threads, sort::SortPath::Baseline); });
  }
}

}  // namespace

int main(int argc, char** argv) {
  const size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 10'000'000;
  const unsigned threads = argc > 2 ? unsigned(std::atoi(argv[2])) : std::max(1u, std::thread::hardware_concurrency());
  const int runs = argc > 3 ? std::atoi(argv[3]) : 5;
  std::mt19937_64 rng(42);
  std::vector<double> f64(n);
  for (auto& x : f64) x = double(rng() >> 11) / 9007199254740992.0;
  std::vector<int32_t> i32(n);
  for (auto& x : i32) x = int32_t(rng());
  std::printf("%zu keys, %u threads, median of %d runs (ms)\n\n| keys | sort | threads | median | min – max |\n|---|---|---|---|---|\n", n, threads, runs);
  run_all<double>("f64", sort::ElementType::Float64, f64, threads, runs);
  run_all<int32_t>("i32", sort::ElementType::Int32, i32, threads, runs);
}
