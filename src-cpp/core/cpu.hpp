// What the CPU offers, detected at run time, so kernels can pick their fastest path and
// `spindle info` can say which paths are in use.
#pragma once

#include <string>

namespace spindle {

// Space-separated names of the features kernels care about, e.g. "popcnt avx2 sha-ni".
std::string cpu_features();

// Single features, for kernels choosing a code path. Always false on non-x86 builds.
bool cpu_has_avx2();    // AVX2, and the OS saves the 256-bit registers
bool cpu_has_bmi2();
bool cpu_has_sha_ni();  // the SHA extensions (sha256rnds2 ...), and SSE4.1 which their users need

}  // namespace spindle
