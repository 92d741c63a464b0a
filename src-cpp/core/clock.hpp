// The clock task timings are read from: CLOCK_MONOTONIC in nanoseconds, the clock libuv's
// uv_hrtime() reads, so that JS (process.hrtime, performance.now) can compare these stamps
// with its own. One vDSO call, about 20 ns: cheap enough to read a few times per task.
#pragma once

#include <cstdint>

#if defined(__unix__) || defined(__APPLE__)
#include <time.h>
#else
#include <chrono>
#endif

namespace spindle {

inline int64_t monotonic_ns() {
#if defined(__unix__) || defined(__APPLE__)
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
#else
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
#endif
}

}  // namespace spindle
