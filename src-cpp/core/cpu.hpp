// What the CPU offers, detected at run time, so kernels can pick their fastest path and
// `spindle info` can say which paths are in use.
#pragma once

#include <string>

namespace spindle {

// Space-separated names of the features kernels care about, e.g. "popcnt avx2 sha-ni".
std::string cpu_features();

}  // namespace spindle
