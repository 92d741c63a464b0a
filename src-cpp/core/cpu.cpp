#include "cpu.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <cstdint>
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

namespace spindle {

#if defined(__x86_64__) || defined(__i386__)

namespace {

// The feature bits this file reads, taken once: cpuid is a serializing instruction (slow in a
// VM, where it traps), and the answers cannot change while the process runs.
struct X86Features {
  bool popcnt = false, sse41 = false, avx2 = false, bmi2 = false, avx512f = false, sha = false;
};

// XCR0, which says which register states the OS saves on a context switch. Read with the raw
// opcode's mnemonic rather than _xgetbv, which needs target("xsave") on older compilers.
uint64_t read_xcr0() {
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t(hi) << 32) | lo;
}

X86Features detect_x86() {
  X86Features f;
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return f;
  f.popcnt = (ecx >> 23) & 1;
  f.sse41 = (ecx >> 19) & 1;
  const bool osxsave = (ecx >> 27) & 1, avx = (ecx >> 28) & 1;
  // An instruction set is usable only if the OS saves its registers: YMM needs XCR0 bits 1-2
  // (SSE and AVX state), ZMM also bits 5-7 (opmask, upper ZMM0-15, ZMM16-31). Without OSXSAVE,
  // xgetbv itself would fault.
  const uint64_t xcr0 = osxsave ? read_xcr0() : 0;
  const bool ymm = avx && (xcr0 & 0x6) == 0x6;
  const bool zmm = ymm && (xcr0 & 0xE0) == 0xE0;
  // __get_cpuid_count returns false where the CPU has no leaf 7, rather than the highest
  // leaf's bits.
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return f;
  f.avx2 = ymm && ((ebx >> 5) & 1);
  f.bmi2 = (ebx >> 8) & 1;
  f.avx512f = zmm && ((ebx >> 16) & 1);
  f.sha = (ebx >> 29) & 1;
  return f;
}

const X86Features& x86() {
  static const X86Features features = detect_x86();
  return features;
}

}  // namespace

bool cpu_has_popcnt() { return x86().popcnt; }
bool cpu_has_avx2() { return x86().avx2; }
bool cpu_has_bmi2() { return x86().bmi2; }
bool cpu_has_sha_ni() { return x86().sha && x86().sse41; }
bool cpu_has_arm_sha2() { return false; }

#else

bool cpu_has_popcnt() { return false; }
bool cpu_has_avx2() { return false; }
bool cpu_has_bmi2() { return false; }
bool cpu_has_sha_ni() { return false; }

#if defined(__aarch64__) && defined(__linux__)
// The kernel reports the optional ARMv8 extensions in the auxiliary vector (the instructions
// that would say so, MRS of ID_AA64ISAR0_EL1, trap to the kernel or are refused in user mode on
// older kernels). The bits are spelled out in case the C library's headers predate them.
namespace {
constexpr unsigned long kHwcapAsimd = 1ul << 1;  // HWCAP_ASIMD
constexpr unsigned long kHwcapSha2 = 1ul << 6;   // HWCAP_SHA2
unsigned long hwcap() {
  static const unsigned long bits = getauxval(AT_HWCAP);
  return bits;
}
}  // namespace
bool cpu_has_arm_sha2() { return (hwcap() & kHwcapSha2) != 0; }
#else
bool cpu_has_arm_sha2() { return false; }
#endif

#endif

std::string cpu_features() {
  std::string names;
  [[maybe_unused]] auto add = [&names](bool present, const char* name) {
    if (!present) return;
    if (!names.empty()) names += ' ';
    names += name;
  };
#if defined(__x86_64__) || defined(__i386__)
  add(cpu_has_popcnt(), "popcnt");
  add(cpu_has_avx2(), "avx2");
  add(x86().avx512f, "avx512f");
  add(cpu_has_sha_ni(), "sha-ni");
#elif defined(__aarch64__) && defined(__linux__)
  add((hwcap() & kHwcapAsimd) != 0, "asimd");
  add(cpu_has_arm_sha2(), "sha2");
#endif
  return names.empty() ? "baseline" : names;
}

bool path_name_matches(const char* requested, const char* name) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
  for (; *requested != '\0' && *name != '\0'; ++requested, ++name) {
    if (lower(*requested) != lower(*name)) return false;
  }
  return *requested == *name;
}

}  // namespace spindle
