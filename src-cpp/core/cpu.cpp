#include "cpu.hpp"

namespace spindle {

std::string cpu_features() {
  std::string names;
#if defined(__x86_64__) || defined(__i386__)
  auto add = [&names](bool present, const char* name) {
    if (!present) return;
    if (!names.empty()) names += ' ';
    names += name;
  };
  __builtin_cpu_init();
  add(__builtin_cpu_supports("popcnt"), "popcnt");
  add(__builtin_cpu_supports("avx2"), "avx2");
  add(__builtin_cpu_supports("avx512f"), "avx512f");
  unsigned eax = 7, ebx = 0, ecx = 0, edx = 0;
  // CPUID leaf 7, EBX bit 29: the SHA extensions (not known to __builtin_cpu_supports in g++ 12).
  __asm__("cpuid" : "+a"(eax), "=b"(ebx), "+c"(ecx), "=d"(edx));
  add((ebx >> 29) & 1, "sha-ni");
#endif
  return names.empty() ? "baseline" : names;
}

}  // namespace spindle
