// The prime-counting sieve (primes/sieve.cpp) and the countPrimes kernel (kernels/count_primes.cpp):
// known values of pi, every small range against a trivial oracle, random ranges against an
// independent reference sieve, values near 2^53 taken from primesieve (whose intervals are
// inclusive: `primesieve A B -c1` counts [A, B]), and the Call API run from two threads.
// Under a sanitizer the heaviest cases shrink (see kFull).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <pthread.h>
#include <time.h>
#include <random>
#include <thread>
#include <vector>

#include "check.hpp"
#include "kernel.hpp"
#include "primes/sieve.hpp"

namespace spindle {
std::unique_ptr<Call> make_count_primes(const Arg* args, size_t count);
}

using namespace spindle;
using primes::Sieve;

namespace {

using check::kFull;

constexpr uint64_t kTop = uint64_t{1} << 53;
const CallContext kNoContext(nullptr, nullptr);

uint64_t count(uint64_t lo, uint64_t hi) {
  static thread_local Sieve sieve;
  const auto table = primes::sieving_primes(hi >= 2 ? primes::isqrt(hi - 1) : 0);
  return sieve.count(lo, hi, *table, kNoContext);
}

// Runs countPrimes through the Call API: units in a shuffled order, spread over `threads` threads.
Result call_count_primes(double lo, double hi, int threads, const CallContext& ctx = kNoContext) {
  const Arg args[] = {Arg::of_number(lo), Arg::of_number(hi)};
  auto call = make_count_primes(args, 2);
  std::vector<uint64_t> order(call->units());
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937_64(uint64_t(lo) ^ uint64_t(hi)));
  std::atomic<size_t> next{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (size_t i; (i = next.fetch_add(1)) < order.size();) call->run(order[i], ctx);
    });
  }
  for (auto& t : pool) t.join();
  return call->finish();
}

std::vector<uint32_t> simple_sieve(uint64_t limit) {  // primes <= limit
  std::vector<bool> composite(limit + 1);
  std::vector<uint32_t> out;
  for (uint64_t n = 2; n <= limit; ++n) {
    if (composite[n]) continue;
    out.push_back(uint32_t(n));
    for (uint64_t m = n * n; m <= limit; m += n) composite[m] = true;
  }
  return out;
}

// An independent reference: a plain sieve of [lo, hi), one flag per number.
uint64_t reference_count(uint64_t lo, uint64_t hi) {
  if (lo >= hi) return 0;
  static const auto* base = new std::vector<uint32_t>(simple_sieve(kFull ? 40'000'000 : 2'000'000));
  std::vector<bool> composite(hi - lo);
  for (uint64_t p : *base) {
    if (p * p >= hi) break;
    for (uint64_t m = std::max(p * p, (lo + p - 1) / p * p); m < hi; m += p) composite[m - lo] = true;
  }
  uint64_t n = 0;
  for (uint64_t x = std::max<uint64_t>(lo, 2); x < hi; ++x) n += composite[x - lo] ? 0 : 1;
  return n;
}

TEST_CASE("pi(10^k), pi(2^31), pi(2^32)") {
  const uint64_t pi[] = {4, 25, 168, 1229, 9592, 78498, 664579, 5761455, 50847534, 455052511};
  uint64_t ten_k = 1;
  for (int k = 1; k <= (kFull ? 10 : 8); ++k) {
    ten_k *= 10;
    CHECK(count(0, ten_k) == pi[k - 1]);
  }
  if (kFull) {
    CHECK(count(0, uint64_t{1} << 31) == 105097565);
    CHECK(count(0, uint64_t{1} << 32) == 203280221);
  }
}

TEST_CASE("windows far from 0") {
  CHECK(count(1'000'000'000'000, 1'000'100'000'000) == 3618282);
  CHECK(count(100'000'000'000'000, 100'000'100'000'000) == 3102679);
  if (kFull) {
    CHECK(count(1'000'000'000'000, 1'001'000'000'000) == 36190991);
    CHECK(count(1'000'000'000'000'000, 1'000'001'000'000'000) == 28946421);
  }
}

TEST_CASE("spot values from primesieve") {
  CHECK(count(1'000'000, 2'000'000) == 70435);
  CHECK(count(18'446'744, 18'446'844) == 5);
  CHECK(count(4'294'000'000, 4'294'967'296) == 43362);
  CHECK(count(4'294'967'296, 4'295'967'296) == 45038);
  CHECK(count(123'456'789'012, 123'457'789'012) == 39118);
  CHECK(count(3'000'000'000'000'000, 3'000'000'001'000'000) == 28129);
}

TEST_CASE("near 2^53") {
  CHECK(count(kTop - 1'000'000, kTop) == 27396);
  CHECK(count(kTop - 1000, kTop) == 25);
  CHECK(count(kTop - 992, kTop - 111) == 24);
  CHECK(count(kTop - 111, kTop - 110) == 1);  // 2^53 - 111 is the largest prime below 2^53
  CHECK(count(kTop - 110, kTop) == 0);
  CHECK(count(kTop, kTop) == 0);
  if (kFull) CHECK(count(kTop - 10'000'000, kTop) == 273017);
}

TEST_CASE("every range within [0, 2000] against a trivial oracle") {
  const uint64_t n = kFull ? 2000 : 400;
  std::vector<uint64_t> below(n + 1, 0);  // below[x] = pi(x - 1)
  for (uint64_t x = 1; x <= n; ++x) {
    bool prime = x - 1 >= 2;
    for (uint64_t d = 2; d * d <= x - 1; ++d) prime = prime && (x - 1) % d != 0;
    below[x] = below[x - 1] + (prime ? 1 : 0);
  }
  int wrong = 0;
  for (uint64_t lo = 0; lo <= n; ++lo) {
    for (uint64_t hi = lo; hi <= n; ++hi) wrong += count(lo, hi) == below[hi] - below[lo] ? 0 : 1;
  }
  CHECK(wrong == 0);
  CHECK(count(0, 0) == 0 && count(0, 1) == 0 && count(0, 2) == 0 && count(0, 3) == 1 && count(2, 3) == 1);
  CHECK(count(3, 3) == 0 && count(4, 5) == 0 && count(5, 6) == 1 && count(7, 8) == 1 && count(11, 12) == 1);
  CHECK(count(25, 26) == 0 && count(29, 31) == 1 && count(169, 170) == 0 && count(173, 174) == 1);
}

TEST_CASE("random ranges against a reference sieve") {
  std::mt19937_64 rng(20261124);
  const auto random_below = [&](uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng); };
  struct Magnitude {
    uint64_t base, spread, max_width;
    int ranges;
  };
  const Magnitude magnitudes[] = {
      {0, 100'000, 5'000, kFull ? 2000 : 200},
      {0, 50'000'000, 1'000'000, kFull ? 300 : 10},
      {(uint64_t{1} << 32) - 5'000'000, 10'000'000, 1'000'000, kFull ? 200 : 10},
      {1'000'000'000'000, 999'000'000'000'000, 1'000'000, kFull ? 40 : 0},
  };
  int wrong = 0;
  for (const auto& m : magnitudes) {
    for (int i = 0; i < m.ranges; ++i) {
      const uint64_t lo = m.base + random_below(m.spread);
      const uint64_t hi = lo + random_below(m.max_width + 1);
      const bool same = count(lo, hi) == reference_count(lo, hi);
      if (!same) std::printf("  mismatch on [%llu, %llu)\n", (unsigned long long)lo, (unsigned long long)hi);
      wrong += same ? 0 : 1;
    }
  }
  CHECK(wrong == 0);
}

TEST_CASE("one Sieve reused across ranges, including after a cancelled run") {
  Sieve sieve;
  const auto table = primes::sieving_primes(primes::isqrt(kTop - 1));
  std::atomic<bool> cancelled{true};
  const CallContext cancelling(&cancelled, nullptr);
  CHECK(sieve.count(kTop - 1'000'000, kTop, *table, kNoContext) == 27396);
  sieve.count(0, 1'000'000'000, *table, cancelling);
  CHECK(sieve.count(0, 1'000'000, *table, kNoContext) == 78498);
  CHECK(sieve.count(1'000'000'000'000, 1'000'100'000'000, *table, kNoContext) == 3618282);
  CHECK(sieve.count(0, 100, *table, kNoContext) == 25);
}

TEST_CASE("progress adds up to hi - lo; cancellation stops early") {
  const std::pair<uint64_t, uint64_t> ranges[] = {{0, 0}, {0, 1}, {5, 6}, {17, 1'000'003}, {999'999'999, 1'234'567'891}};
  for (auto [lo, hi] : ranges) {
    int64_t progress = 0;
    const CallContext ctx(nullptr, &progress);
    Sieve sieve;
    sieve.count(lo, hi, *primes::sieving_primes(primes::isqrt(hi)), ctx);
    CHECK(progress == int64_t(hi - lo));
  }
  // A context that turns cancelled after the second segment: the run stops there.
  struct CancelAfter {
    std::atomic<bool> flag{false};
    int64_t progress = 0;
  } state;
  const CallContext ctx(&state.flag, &state.progress);
  Sieve sieve;
  const uint64_t hi = 100 * primes::kSegmentSpan;
  std::thread canceller([&] {
    while (__atomic_load_n(&state.progress, __ATOMIC_RELAXED) < int64_t(2 * primes::kSegmentSpan)) std::this_thread::yield();
    state.flag.store(true);
  });
  sieve.count(0, hi, *primes::sieving_primes(primes::isqrt(hi)), ctx);
  canceller.join();
  CHECK(__atomic_load_n(&state.progress, __ATOMIC_RELAXED) < int64_t(hi));
}

// CPU time a thread has used, in ms: unlike wall time, not stretched by a loaded machine.
double thread_cpu_ms(pthread_t thread) {
  clockid_t clock;
  timespec ts{};
  if (pthread_getcpuclockid(thread, &clock) != 0 || clock_gettime(clock, &ts) != 0) return 0;
  return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) / 1e6;
}

TEST_CASE("cancellation is seen within milliseconds anywhere up to 2^53, not once per segment") {
  // A countPrimes call near 2^53: a unit's first segment activates ~5.5 million sieving primes
  // and every segment's bucket holds millions, which once ran 200-900 ms between two checks.
  // Cancel at many moments of the run and measure the CPU time the thread spends before it
  // returns (CPU time, so that a loaded machine does not make it look slow). One thread runs
  // every round, as a pool thread would: its Sieve's buffers are grown by the first round.
  const Arg args[] = {Arg::of_number(double(kTop - (uint64_t{1} << 34))), Arg::of_number(double(kTop))};
  auto call = make_count_primes(args, 2);
  const int delays_ms[] = {200, 0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144};  // the first round warms up
  const size_t rounds = kFull ? std::size(delays_ms) : 4;
  std::vector<std::atomic<bool>> cancelled(rounds);
  std::vector<double> cpu_at_end(rounds);
  std::atomic<size_t> started{0};
  std::thread runner([&] {
    for (size_t r = 0; r < rounds; ++r) {
      const CallContext ctx(&cancelled[r], nullptr);
      started.store(r + 1);
      for (uint64_t unit = 0; unit < call->units() && !cancelled[r].load(); ++unit) call->run(unit, ctx);
      cpu_at_end[r] = thread_cpu_ms(pthread_self());
    }
  });
  double worst_ms = 0;
  for (size_t r = 0; r < rounds; ++r) {
    while (started.load() < r + 1) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(delays_ms[r]));
    // Flag first, clock second: a descheduled main thread then makes the figure smaller, never
    // larger, and a stretch of hundreds of ms between checks still shows.
    cancelled[r].store(true);
    const double cpu_at_cancel = thread_cpu_ms(runner.native_handle());
    while (started.load() < r + 2 && r + 1 < rounds) std::this_thread::yield();
    if (r + 1 == rounds) runner.join();
    const double ms = cpu_at_end[r] - cpu_at_cancel;
    if (r > 0) worst_ms = std::max(worst_ms, ms);
    if (std::getenv("SPINDLE_TEST_VERBOSE")) std::printf("  cancel at %d ms: returned after %.2f ms of CPU\n", delays_ms[r], ms);
  }
  std::printf("  slowest return after a cancel near 2^53: %.2f ms of CPU\n", worst_ms);
  // About a millisecond in fact; loose, for sanitizers and clock granularity.
  CHECK(worst_ms < (kFull ? 20 : 200));
}

TEST_CASE("sieving-prime tables: contents, growth, concurrent first use") {
  std::vector<std::thread> threads;
  std::vector<std::shared_ptr<const primes::SievingPrimes>> got(8);
  for (size_t t = 0; t < got.size(); ++t) {
    threads.emplace_back([&, t] { got[t] = primes::sieving_primes(uint64_t{1000} << (2 * t)); });
  }
  for (auto& t : threads) t.join();
  for (size_t t = 0; t < got.size(); ++t) CHECK(got[t] && got[t]->limit() >= uint64_t{1000} << (2 * t));
  const auto table = primes::sieving_primes(1'000'000);
  const auto expected = simple_sieve(table->limit());
  const auto first = std::lower_bound(expected.begin(), expected.end(), primes::first_sieving_prime());
  CHECK(std::equal(table->primes().begin(), table->primes().end(), first, expected.end()));
  CHECK(primes::sieving_primes(10) == primes::sieving_primes(20));  // the published table serves smaller limits
}

TEST_CASE("isqrt") {
  CHECK(primes::isqrt(0) == 0 && primes::isqrt(1) == 1 && primes::isqrt(3) == 1 && primes::isqrt(4) == 2);
  CHECK(primes::isqrt(kTop - 1) == 94906265 && primes::isqrt(kTop) == 94906265);
  CHECK(primes::isqrt(uint64_t{94906266} * 94906266 - 1) == 94906265);
  CHECK(primes::isqrt(~uint64_t{0}) == 4294967295);
}

TEST_CASE("unit plans tile the range on segment boundaries") {
  const std::pair<uint64_t, uint64_t> ranges[] = {
      {0, 0}, {0, 1}, {5, 100}, {0, 10'000'000'000}, {12'345, 987'654'321'000}, {kTop - 1'000'000'000'000, kTop}, {kTop, kTop}};
  for (auto [lo, hi] : ranges) {
    const auto plan = primes::UnitPlan::split(lo, hi);
    CHECK(plan.units >= 1 && plan.width % primes::kSegmentSpan == 0);
    CHECK(plan.unit_lo(0) == lo && plan.unit_hi(plan.units - 1) == hi);
    for (uint64_t u = 0; u < plan.units; ++u) {
      CHECK(plan.unit_lo(u) < plan.unit_hi(u) || lo == hi);
      if (u > 0) CHECK(plan.unit_lo(u) == plan.unit_hi(u - 1) && plan.unit_lo(u) % plan.width == 0);
    }
  }
  CHECK(primes::UnitPlan::split(0, 1000).units == 1);
  CHECK(primes::UnitPlan::split(primes::kSegmentSpan - 1, primes::kSegmentSpan + 1).units == 1);
  CHECK(primes::UnitPlan::split(0, 10'000'000'000).units >= 64);
  CHECK(primes::UnitPlan::split(1'000'000'000'000, 1'001'000'000'000).units >= 16);
}

TEST_CASE("the Call API: units in shuffled order on two threads") {
  CHECK(call_count_primes(0, 1e8, 2).number == 5761455);
  CHECK(call_count_primes(double(kTop - 1'000'000), double(kTop), 2).number == 27396);
  CHECK(call_count_primes(29, 31, 2).number == 1);
  if (kFull) {
    CHECK(call_count_primes(0, 1e10, 2).number == 455052511);
    CHECK(call_count_primes(1e12, 1e12 + 1e8, 2).number == 3618282);
  }

  int64_t progress = 0;
  const CallContext ctx(nullptr, &progress);
  CHECK(call_count_primes(12345, 3e8 + 7, 2, ctx).number == 16250851);  // primesieve 12345 300000006
  CHECK(progress == int64_t(3e8 + 7 - 12345));

  const Arg tiny[] = {Arg::of_number(0), Arg::of_number(100)};
  CHECK(make_count_primes(tiny, 2)->units() == 1);
  const Arg big[] = {Arg::of_number(0), Arg::of_number(1e10)};
  CHECK(make_count_primes(big, 2)->units() >= 64);
}

TEST_CASE("the Call API: cancelled units return promptly") {
  std::atomic<bool> cancelled{true};
  const CallContext ctx(&cancelled, nullptr);
  const Arg args[] = {Arg::of_number(0), Arg::of_number(double(kTop))};
  auto call = make_count_primes(args, 2);
  CHECK(call->units() > 1000);
  call->run(call->units() - 1, ctx);  // would take minutes if it did not stop
}

TEST_CASE("argument validation mirrors countPrimes.ts") {
  using T = ArgumentError::Type;
  const auto error = [](std::vector<Arg> args) -> std::pair<int, std::string> {
    try {
      make_count_primes(args.data(), args.size());
    } catch (const ArgumentError& e) {
      return {e.type == T::TypeError ? 1 : 2, e.what()};
    }
    return {0, ""};
  };
  const auto n = Arg::of_number;
  CHECK(error({n(0)}) == std::make_pair(1, std::string("countPrimes takes 2 arguments (lo, hi), got 1")));
  CHECK(error({n(0), n(1), n(2)}).first == 1);
  CHECK(error({Arg::of_bigint(1), n(2)}) == std::make_pair(1, std::string("countPrimes: lo must be a number, got bigint 1")));
  CHECK(error({n(0), Arg()}) == std::make_pair(1, std::string("countPrimes: hi must be a number, got undefined")));
  CHECK(error({n(1.5), n(2)}) == std::make_pair(2, std::string("countPrimes: lo must be an integer, got 1.5")));
  CHECK(error({n(0), n(std::nan(""))}) == std::make_pair(2, std::string("countPrimes: hi must be an integer, got NaN")));
  CHECK(error({n(0), n(1.0 / 0.0)}).first == 2);
  CHECK(error({n(-1), n(2)}) == std::make_pair(2, std::string("countPrimes: lo must be in [0, 9007199254740992], got -1")));
  // Numbers are printed as JS's String(v) prints them, digits and layout (countPrimes.ts's messages).
  CHECK(error({n(0), n(double(kTop) * 2)}) ==
        std::make_pair(2, std::string("countPrimes: hi must be in [0, 9007199254740992], got 18014398509481984")));
  CHECK(error({n(0), n(1e20)}) == std::make_pair(2, std::string("countPrimes: hi must be in [0, 9007199254740992], got 100000000000000000000")));
  CHECK(error({n(0), n(1.5e300)}) == std::make_pair(2, std::string("countPrimes: hi must be in [0, 9007199254740992], got 1.5e+300")));
  CHECK(error({n(0.1 + 0.2), n(1)}) == std::make_pair(2, std::string("countPrimes: lo must be an integer, got 0.30000000000000004")));
  CHECK(error({n(-2.5e-7), n(1)}) == std::make_pair(2, std::string("countPrimes: lo must be an integer, got -2.5e-7")));
  CHECK(error({n(7), n(3)}) == std::make_pair(2, std::string("countPrimes: lo must be <= hi, got lo = 7 > hi = 3")));
  CHECK(error({n(0), n(double(kTop))}).first == 0);
  CHECK(error({n(-0.0), n(0)}).first == 0);
}

}  // namespace

int main() { return check::run_all(); }
