// The kernel registry: one line per kernel. The order is the index the addon exposes; the
// names are the ones the TypeScript descriptors use (src-ts/kernels/*.ts).
#include "../kernel.hpp"

namespace spindle {

std::unique_ptr<Call> make_noop(const Arg* args, size_t count);
std::unique_ptr<Call> make_increment(const Arg* args, size_t count);
std::unique_ptr<Call> make_count_primes(const Arg* args, size_t count);

const std::vector<KernelInfo>& kernel_registry() {
  static const auto* registry = new std::vector<KernelInfo>{
      {"noop", make_noop},
      {"increment", make_increment},
      {"countPrimes", make_count_primes},
  };
  return *registry;
}

}  // namespace spindle
