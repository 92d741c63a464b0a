// Times the countPrimes kernel the way the pool runs it: make_count_primes(lo, hi), then its
// units pulled from a shared counter by T std::threads, then finish(). Prints one line per run
// and the median. With --count it is instead the C++ side of test/primes.test.ts's differential
// check: it reads "lo hi" lines from stdin and prints one count per line.
//   g++ -std=c++20 -O3 -Isrc-cpp/core bench/cpp/primes_bench.cpp src-cpp/core/primes/sieve.cpp
//       src-cpp/core/kernels/count_primes.cpp -pthread -o build/primes_bench
//   build/primes_bench LO HI [THREADS=1] [RUNS=5]
//   build/primes_bench --count < ranges.txt
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "kernel.hpp"

namespace spindle {
std::unique_ptr<Call> make_count_primes(const Arg* args, size_t count);
}

using namespace spindle;

static double run_once(double lo, double hi, int threads, double& count) {
  const auto start = std::chrono::steady_clock::now();
  const Arg args[] = {Arg::of_number(lo), Arg::of_number(hi)};
  auto call = make_count_primes(args, 2);
  std::atomic<uint64_t> next{0};
  const CallContext ctx(nullptr, nullptr);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (uint64_t u; (u = next.fetch_add(1)) < call->units();) call->run(u, ctx);
    });
  }
  for (auto& t : pool) t.join();
  count = call->finish().number;
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

static int count_ranges_from_stdin() {
  double lo = 0, hi = 0, count = 0;
  while (std::scanf("%lf %lf", &lo, &hi) == 2) {
    run_once(lo, hi, 1, count);
    std::printf("%.0f\n", count);
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "--count") return count_ranges_from_stdin();
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s LO HI [THREADS] [RUNS] | %s --count < ranges\n", argv[0], argv[0]);
    return 2;
  }
  const double lo = std::strtod(argv[1], nullptr), hi = std::strtod(argv[2], nullptr);
  const int threads = argc > 3 ? std::atoi(argv[3]) : 1;
  const int runs = std::max(1, argc > 4 ? std::atoi(argv[4]) : 5);
  double count = 0;
  run_once(lo, std::min(hi, lo + 1e6), 1, count);  // builds the sieving-prime table, faults in scratch
  std::vector<double> times;
  for (int r = 0; r < runs; ++r) {
    times.push_back(run_once(lo, hi, threads, count));
    std::printf("run %d: %.3f s  count %.0f\n", r, times.back(), count);
  }
  std::sort(times.begin(), times.end());
  std::printf("[%.0f, %.0f) threads=%d median %.3f s (min %.3f, max %.3f) count %.0f\n", lo, hi, threads,
              times[times.size() / 2], times.front(), times.back(), count);
}
