// countPrimes(lo, hi): the number of primes p with lo <= p < hi, for integers 0 <= lo <= hi <= 2^53.
// The range is cut into the units of a primes::UnitPlan; each unit is sieved by its thread's own
// primes::Sieve, fed by the process-wide table of sieving primes. The JS twin is
// src-ts/kernels/sieve.ts, with argument checks in src-ts/kernels/countPrimes.ts.
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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

// A number as JS's String(v) prints it, for error messages that match countPrimes.ts's: the
// fewest significant digits that read back as v, laid out by ECMAScript's Number::toString
// (plain up to 21 integer digits, "0.000001" down to 1e-6, else "1.5e+21" / "1e-7").
// std::to_chars would find the digits, but its double overload is new in GCC 11's libstdc++
// (GLIBCXX_3.4.29), above the prebuilds' floor (glibc_floor.hpp); printf's %e rounds exactly in
// every C library, and strtod says which candidate reads back.
std::string js_number(double v) {
  if (std::isnan(v)) return "NaN";
  if (v == 0) return "0";  // and -0, as JS prints it
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  if (v < 0) {
    std::string negative = "-";  // appended to, not "-" + ...: GCC 12 warns falsely there (PR 105329)
    return negative += js_number(-v);
  }
  // v = mantissa * 10^scale. Candidates carry no decimal point, so strtod reads them the same in
  // any locale; printf's own decimal point, whatever the locale's, is skipped.
  const auto reads_back = [v](uint64_t mantissa, int scale) {
    char text[48];
    std::snprintf(text, sizeof text, "%llue%d", static_cast<unsigned long long>(mantissa), scale);
    return std::strtod(text, nullptr) == v;
  };
  uint64_t mantissa = 0;
  int scale = 0;
  for (int precision = 0; precision <= 16; ++precision) {  // 1 to 17 digits: every double reads back from 17
    char sci[48];
    std::snprintf(sci, sizeof sci, "%.*e", precision, v);
    const char* e = std::strchr(sci, 'e');
    mantissa = 0;
    for (const char* c = sci; c != e; ++c) {
      if (*c >= '0' && *c <= '9') mantissa = mantissa * 10 + uint64_t(*c - '0');
    }
    scale = std::atoi(e + 1) - precision;
    if (reads_back(mantissa, scale)) break;
    // The nearest candidate fails but the next one up can read back when v is a power of two, whose
    // interval of reals that round to it is twice as wide above v as below (2^-1017 is
    // 7.120236347223045e-307, where the nearest 16 digits, ...044e-307, read back as another double).
    if (reads_back(mantissa + 1, scale)) {
      ++mantissa;
      break;
    }
  }
  for (; mantissa % 10 == 0; mantissa /= 10) ++scale;
  const std::string digits = std::to_string(mantissa);
  const int k = static_cast<int>(digits.size());
  const int n = k + scale;  // v = 0.digits * 10^n
  if (k <= n && n <= 21) return digits + std::string(n - k, '0');
  if (0 < n && n <= 21) return digits.substr(0, n) + "." + digits.substr(n);
  if (-6 < n && n <= 0) return "0." + std::string(-n, '0') + digits;
  const std::string exponent = (n - 1 > 0 ? "e+" : "e-") + std::to_string(std::abs(n - 1));
  return k == 1 ? digits + exponent : digits.substr(0, 1) + "." + digits.substr(1) + exponent;
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
