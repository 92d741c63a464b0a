// What the CPU offers, detected at run time, so kernels can pick their fastest path and
// `spindle info` can say which paths are in use.
//
// Detection asks the CPU (x86: cpuid and xgetbv) or the kernel (AArch64: getauxval) directly,
// never the compiler runtime: __builtin_cpu_supports needs libgcc's __cpu_model, which musl
// toolchains built on clang (zig c++) do not provide, and the answers must not depend on the
// toolchain that built the binary.
#pragma once

#include <string>

namespace spindle {

// Space-separated names of the features kernels care about, e.g. "popcnt avx2 sha-ni" or
// "asimd sha2"; "baseline" when none.
std::string cpu_features();

// Single features, for kernels choosing a code path. The x86 ones are always false on non-x86
// builds, the ARM one on non-AArch64 builds.
bool cpu_has_popcnt();
bool cpu_has_avx2();    // AVX2, and the OS saves the 256-bit registers
bool cpu_has_bmi2();
bool cpu_has_sha_ni();  // the SHA extensions (sha256rnds2 ...), and SSE4.1 which their users need
bool cpu_has_arm_sha2();  // the ARMv8 SHA-2 instructions (sha256h ...), HWCAP_SHA2 on Linux

// Whether `requested` (a SPINDLE_*_PATH environment variable's value) names the code path
// `name`, ignoring ASCII case: every such variable matches the same way.
bool path_name_matches(const char* requested, const char* name);

}  // namespace spindle
