// A minimal self-checking test harness for the core's ctest programs: CHECK records a failure
// and carries on; main() ends with the summary line CI reads ("N passed, N failed").
#pragma once

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace check {

// Whether to run the heaviest cases at full size: not under a sanitizer, where instrumented
// code runs many times slower and CI would wait minutes for the same coverage.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
inline constexpr bool kFull = false;
#else
inline constexpr bool kFull = true;
#endif

struct Case {
  std::string name;
  std::function<void()> body;
};

inline std::vector<Case>& cases() {
  static std::vector<Case> all;
  return all;
}
inline int& failures_in_case() {
  static int n = 0;
  return n;
}

struct Register {
  Register(const char* name, std::function<void()> body) { cases().push_back({name, std::move(body)}); }
};

inline int run_all() {
  int passed = 0, failed = 0;
  for (auto& c : cases()) {
    failures_in_case() = 0;
    c.body();
    if (failures_in_case() == 0) {
      ++passed;
      std::printf("ok   %s\n", c.name.c_str());
    } else {
      ++failed;
      std::printf("FAIL %s\n", c.name.c_str());
    }
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}

}  // namespace check

#define CHECK_CAT2(a, b) a##b
#define CHECK_CAT(a, b) CHECK_CAT2(a, b)
#define TEST_CASE(name)                                                        \
  static void CHECK_CAT(test_, __LINE__)();                                    \
  static check::Register CHECK_CAT(reg_, __LINE__)(name, CHECK_CAT(test_, __LINE__)); \
  static void CHECK_CAT(test_, __LINE__)()

#define CHECK(cond)                                                                   \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      ++check::failures_in_case();                                                    \
      std::printf("  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);          \
    }                                                                                 \
  } while (0)
