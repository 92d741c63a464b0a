// sort(view, type) and argsort(view, type, indices, indexType): the typed-array sort of
// core/sort/, as kernels. src-ts/kernels/sort.ts checks the caller's array, passes its element
// type as a code (sort::ElementType) and, for argsort, the output array it allocated; the Call
// sorts in place (or fills the indices) and returns empty bytes, which the descriptor's
// fromBytes() turns into the caller's array. The JS twin is src-ts/kernels/sort-twin.ts.
#include <cmath>
#include <string>

#include "../kernel.hpp"
#include "../sort/sort.hpp"

namespace spindle {

namespace {

class SortCall final : public Call {
 public:
  explicit SortCall(const sort::Request& request) : sorter_(sort::Sorter::make(request)) {}
  uint64_t units() const override { return sorter_->units(); }
  void run(uint64_t unit, const CallContext& ctx) override { sorter_->run(unit, ctx); }
  Result finish() override { return Result::of_bytes({}); }

 private:
  std::unique_ptr<sort::Sorter> sorter_;
};

using T = ArgumentError::Type;

// A small integer code in [0, limit), as the descriptor passes it.
int check_code(const char* kernel, const char* what, const Arg& arg, int limit) {
  if (arg.kind != Arg::Kind::Number || !(arg.number >= 0 && arg.number < limit) || std::trunc(arg.number) != arg.number) {
    throw ArgumentError(T::RangeError, std::string(kernel) + ": " + what + " must be an integer code in [0, " + std::to_string(limit) + ")");
  }
  return static_cast<int>(arg.number);
}

// The array argument: a view whose length is a whole number of aligned elements of `type`.
sort::Request check_array(const char* kernel, const Arg& array, const Arg& type_code) {
  if (array.kind != Arg::Kind::View) throw ArgumentError(T::TypeError, std::string(kernel) + ": array must be a TypedArray");
  sort::Request r;
  r.type = static_cast<sort::ElementType>(check_code(kernel, "type", type_code, sort::kElementTypes));
  const size_t width = sort::element_size(r.type);
  if (array.size % width != 0 || reinterpret_cast<uintptr_t>(array.data) % width != 0) {
    throw ArgumentError(T::TypeError, std::string(kernel) + ": array is not a whole, aligned " + sort::element_type_name(r.type));
  }
  r.data = array.data;
  r.n = array.size / width;
  return r;
}

}  // namespace

std::unique_ptr<Call> make_sort(const Arg* args, size_t count) {
  if (count != 2) throw ArgumentError(T::TypeError, "sort takes 2 arguments (array, type), got " + std::to_string(count));
  return std::make_unique<SortCall>(check_array("sort", args[0], args[1]));
}

std::unique_ptr<Call> make_argsort(const Arg* args, size_t count) {
  if (count != 4) {
    throw ArgumentError(T::TypeError, "argsort takes 4 arguments (array, type, indices, indexType), got " + std::to_string(count));
  }
  sort::Request r = check_array("argsort", args[0], args[1]);
  r.argsort = true;
  r.index_type = static_cast<sort::IndexType>(check_code("argsort", "indexType", args[3], 2));
  const size_t width = r.index_type == sort::IndexType::Float64 ? 8 : 4;
  const Arg& out = args[2];
  if (out.kind != Arg::Kind::View || out.size != r.n * width || reinterpret_cast<uintptr_t>(out.data) % width != 0) {
    throw ArgumentError(T::TypeError, std::string("argsort: indices must be an aligned ") +
                                          (width == 8 ? "Float64Array" : "Uint32Array") + " of the array's length");
  }
  r.indices = out.data;
  return std::make_unique<SortCall>(r);
}

}  // namespace spindle
