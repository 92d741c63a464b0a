// noop(x?): returns its number argument. The smallest possible job, for measuring dispatch.
#include "../kernel.hpp"

namespace spindle {

namespace {
class NoopCall final : public Call {
 public:
  explicit NoopCall(double x) : x_(x) {}
  void run(uint64_t, const CallContext&) override {}
  Result finish() override { return Result::of_number(x_); }

 private:
  double x_;
};
}  // namespace

std::unique_ptr<Call> make_noop(const Arg* args, size_t count) {
  if (count > 1) throw ArgumentError(ArgumentError::Type::TypeError, "noop takes 0 to 1 arguments (x?), got " + std::to_string(count));
  if (count == 0 || args[0].kind == Arg::Kind::Undefined) return std::make_unique<NoopCall>(0);
  if (args[0].kind != Arg::Kind::Number) throw ArgumentError(ArgumentError::Type::TypeError, "noop: x must be a number");
  return std::make_unique<NoopCall>(args[0].number);
}

}  // namespace spindle
