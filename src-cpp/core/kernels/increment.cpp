// increment(counter, by = 1): adds `by` to a SharedCounter's 64-bit slot with a hardware
// atomic and returns the new value. The slot lives in a SharedArrayBuffer that JS threads
// update with Atomics at the same time, so every access here is atomic too.
#include <cmath>

#include "../kernel.hpp"

namespace spindle {

namespace {
constexpr double kMaxSafe = 9007199254740991.0;  // 2^53 - 1

class IncrementCall final : public Call {
 public:
  IncrementCall(int64_t* slot, int64_t by) : slot_(slot), by_(by) {}
  void run(uint64_t, const CallContext&) override {
    // Two's complement wrap-around, like Atomics.add on a BigInt64Array.
    auto old_bits = __atomic_fetch_add(reinterpret_cast<uint64_t*>(slot_), static_cast<uint64_t>(by_), __ATOMIC_SEQ_CST);
    new_value_ = static_cast<int64_t>(old_bits + static_cast<uint64_t>(by_));
  }
  Result finish() override {
    if (static_cast<double>(new_value_) > kMaxSafe || static_cast<double>(new_value_) < -kMaxSafe) {
      return Result::of_error("RangeError", "increment: the counter's new value " + std::to_string(new_value_) +
                                                " is beyond 2^53; read counter.bigint instead");
    }
    return Result::of_number(static_cast<double>(new_value_));
  }

 private:
  int64_t* slot_;
  int64_t by_;
  int64_t new_value_ = 0;
};
}  // namespace

std::unique_ptr<Call> make_increment(const Arg* args, size_t count) {
  using T = ArgumentError::Type;
  if (count < 1 || count > 2) throw ArgumentError(T::TypeError, "increment takes 1 to 2 arguments (counter, by?), got " + std::to_string(count));
  const Arg& counter = args[0];
  if (counter.kind != Arg::Kind::View || counter.size != sizeof(int64_t) ||
      reinterpret_cast<uintptr_t>(counter.data) % alignof(int64_t) != 0) {
    throw ArgumentError(T::TypeError, "increment: counter must be a SharedCounter");
  }
  int64_t by = 1;
  if (count == 2 && args[1].kind != Arg::Kind::Undefined) {
    if (args[1].kind != Arg::Kind::Number) throw ArgumentError(T::TypeError, "increment: by must be a number");
    double v = args[1].number;
    if (!(std::trunc(v) == v) || std::fabs(v) > kMaxSafe) throw ArgumentError(T::RangeError, "increment: by must be a safe integer");
    by = static_cast<int64_t>(v);
  }
  return std::make_unique<IncrementCall>(reinterpret_cast<int64_t*>(counter.data), by);
}

}  // namespace spindle
