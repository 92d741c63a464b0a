#include "cpu.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace spindle {

#if defined(__x86_64__) || defined(__i386__)

bool cpu_has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2");  // libgcc also checks that the OS enabled the YMM state
}

bool cpu_has_bmi2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("bmi2");
}

bool cpu_has_sha_ni() {
  // CPUID leaf 7, EBX bit 29 (not known to __builtin_cpu_supports in g++ 12). __get_cpuid_count
  // returns false where the CPU has no leaf 7, rather than the highest leaf's bits.
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  __builtin_cpu_init();
  return ((ebx >> 29) & 1) != 0 && __builtin_cpu_supports("sse4.1");
}

#else

bool cpu_has_avx2() { return false; }
bool cpu_has_bmi2() { return false; }
bool cpu_has_sha_ni() { return false; }

#endif

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
  add(cpu_has_avx2(), "avx2");
  add(__builtin_cpu_supports("avx512f"), "avx512f");
  add(cpu_has_sha_ni(), "sha-ni");
#endif
  return names.empty() ? "baseline" : names;
}

}  // namespace spindle
