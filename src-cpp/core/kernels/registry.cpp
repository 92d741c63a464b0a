// The kernel registry: one line per kernel. The order is the index the addon exposes; the
// names are the ones the TypeScript descriptors use (src-ts/kernels/*.ts).
#include "../kernel.hpp"

namespace spindle {

std::unique_ptr<Call> make_noop(const Arg* args, size_t count);
std::unique_ptr<Call> make_increment(const Arg* args, size_t count);
std::unique_ptr<Call> make_count_primes(const Arg* args, size_t count);
std::unique_ptr<Call> make_sha256(const Arg* args, size_t count);
std::unique_ptr<Call> make_sha256_batch(const ArgTuple* tuples, size_t count);
std::unique_ptr<Call> make_sha256_file(const Arg* args, size_t count);
std::unique_ptr<Call> make_sha256_packed(const Arg* args, size_t count);
std::unique_ptr<Call> make_sort(const Arg* args, size_t count);
std::unique_ptr<Call> make_argsort(const Arg* args, size_t count);

const std::vector<KernelInfo>& kernel_registry() {
  static const auto* registry = new std::vector<KernelInfo>{
      {"noop", make_noop},
      {"increment", make_increment},
      {"countPrimes", make_count_primes},
      {"sha256", make_sha256, make_sha256_batch},
      {"sha256File", make_sha256_file},
      {"sha256Packed", make_sha256_packed},
      {"sort", make_sort},
      {"argsort", make_argsort},
  };
  return *registry;
}

}  // namespace spindle
