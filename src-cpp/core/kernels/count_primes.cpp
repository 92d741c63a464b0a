// countPrimes(lo, hi): the number of primes p with lo <= p < hi, for integers 0 <= lo <= hi <= 2^53.
// The range is cut into the units of a primes::UnitPlan; each unit is sieved by its thread's own
// primes::Sieve, fed by the process-wide table of sieving primes. The JS twin is
// src-ts/kernels/sieve.ts, with argument checks in src-ts/kernels/countPrimes.ts.
#include <atomic>
#include <charconv>
#include <cmath>
#include <string>

#include "../kernel.hpp"
#include "../primes/sieve.hpp"

namespace spindle {

namespace {

class CountPrimesCall final : public Call {
 public:
  CountPrimesCall(uint64_t lo, uint64_t hi)
      : plan_(primes::UnitPlan::split(lo, hi)), sieving_limit_(hi >= 2 ? primes::isqrt(hi - 1) : 0) {}

  uint64_t units() const override { return plan_.units; }

  void run(uint64_t unit, const CallContext& ctx) override {
    // Fetched per unit rather than in the constructor: building a large table (~30-100 ms
    // near 2^53) then happens on a pool thread, never on the submitting one, and stops when
    // the job is cancelled (null: the result is discarded anyway).
    const auto table = primes::sieving_primes(sieving_limit_, &ctx);
    if (table == nullptr) return;
    thread_local primes::Sieve sieve;  // scratch reused by every unit this thread runs
    total_.fetch_add(sieve.count(plan_.unit_lo(unit), plan_.unit_hi(unit), *table, ctx), std::memory_order_relaxed);
  }

  Result finish() override { return Result::of_number(static_cast<double>(total_.load(std::memory_order_relaxed))); }

 private:
  const primes::UnitPlan plan_;
  const uint64_t sieving_limit_;
  std::atomic<uint64_t> total_{0};
};

// A number as JS would print it, for error messages.
std::string js_number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(v);
}

std::string describe(const Arg& arg) {
  switch (arg.kind) {
    case Arg::Kind::Undefined: return "undefined";
    case Arg::Kind::Number: return "number " + js_number(arg.number);
    case Arg::Kind::BigInt: return "bigint " + std::to_string(arg.bigint);
    case Arg::Kind::View: return "a typed array";
  }
  return "an unknown value";
}

// Mirrors checkInteger() in src-ts/kernels/args.ts: same error classes, same messages.
uint64_t check_bound(const char* name, const Arg& arg) {
  using T = ArgumentError::Type;
  if (arg.kind != Arg::Kind::Number) {
    throw ArgumentError(T::TypeError, std::string("countPrimes: ") + name + " must be a number, got " + describe(arg));
  }
  const double v = arg.number;
  if (!std::isfinite(v) || std::trunc(v) != v) {
    throw ArgumentError(T::RangeError, std::string("countPrimes: ") + name + " must be an integer, got " + js_number(v));
  }
  if (v < 0 || v > static_cast<double>(primes::kMaxBound)) {
    throw ArgumentError(T::RangeError, std::string("countPrimes: ") + name + " must be in [0, " +
                                           std::to_string(primes::kMaxBound) + "], got " + js_number(v));
  }
  return static_cast<uint64_t>(v);
}

}  // namespace

std::unique_ptr<Call> make_count_primes(const Arg* args, size_t count) {
  if (count != 2) {
    throw ArgumentError(ArgumentError::Type::TypeError, "countPrimes takes 2 arguments (lo, hi), got " + std::to_string(count));
  }
  const uint64_t lo = check_bound("lo", args[0]);
  const uint64_t hi = check_bound("hi", args[1]);
  if (lo > hi) {
    throw ArgumentError(ArgumentError::Type::RangeError, "countPrimes: lo must be <= hi, got lo = " + std::to_string(lo) +
                                                             " > hi = " + std::to_string(hi));
  }
  return std::make_unique<CountPrimesCall>(lo, hi);
}

}  // namespace spindle
