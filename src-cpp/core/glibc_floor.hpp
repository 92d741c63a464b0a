// The oldest glibc and libstdc++ a Linux binary of spindle can load on. Forced into every core and
// addon translation unit (-include: binding.gyp, and CMakeLists.txt's spindle_core target, which
// the cmake-js addon and the ctest programs link), before any other header.
//
// A binary needs, of each versioned symbol it calls, the version current where it was linked: built
// on glibc 2.36 and GCC 12 (Debian 12, where the prebuilds are made), a plain call to
// pthread_mutex_trylock needs GLIBC_2.34, and the addon would not load on RHEL 8/9, Ubuntu 20.04
// or Debian 10/11 ("version `GLIBC_2.34' not found"). glibc and libstdc++ keep every older version
// of a symbol they ever exported, so each .symver below binds a call to the oldest version of the
// same function instead; the linker takes that version from this machine's library, which has it.
// Together with what the sources avoid (fstat in sha256_file.cpp, std::to_chars(double) in
// count_primes.cpp), this brings the prebuilds down to:
//   GLIBC_2.17 (x86_64: clock_gettime; aarch64: its first glibc), GLIBCXX_3.4.22 (GCC 6:
//   std::thread's start), CXXABI_1.3.11 (GCC 7: aligned operator new[], which sort's scratch uses),
// below Node 18-24's own floor (glibc 2.28). .ci/glibc-floor.mjs measures the prebuilds and fails
// when a change raises any of them; README ("Installing the package") lists what that covers.
// What is checked: the symbol tables (every CI run), and once, by hand, that both binaries' glibc
// symbols resolve under glibc 2.17's own loader (README: "The binary's floor"). No Node here runs
// on an older glibc, so the old versions below have run only as this machine's glibc provides them.
//
// Source builds get the same pins; they are harmless there, as every glibc and libstdc++ that can
// build spindle exports the old versions. The glibc symbol pins apply on the two prebuilt
// architectures only (elsewhere a binary is built where it runs, so its floor is its own system);
// musl, bionic, macOS and Windows get none of the glibc parts, only the libstdc++ pin where
// libstdc++ is the C++ library (Alpine's g++), which has that old version too.
#pragma once

#if defined(__linux__) && defined(__cplusplus)
#include <features.h>  // defines __GLIBC__ (or not, on musl and bionic)
#include <version>     // defines __GLIBCXX__ when the C++ library is libstdc++
#endif

#if defined(__GLIBC__) && defined(__cplusplus)

#if defined(__x86_64__)
#define SPINDLE_GLIBC_OLDEST "GLIBC_2.2.5"
#define SPINDLE_GLIBC_SETNAME "GLIBC_2.12"
#elif defined(__aarch64__)
#define SPINDLE_GLIBC_OLDEST "GLIBC_2.17"  // aarch64's first glibc: every symbol's oldest version
#define SPINDLE_GLIBC_SETNAME "GLIBC_2.17"
#endif

#ifdef SPINDLE_GLIBC_OLDEST
// std::mutex::try_lock (sieve.cpp) and the pool's thread names: glibc 2.34 moved libpthread into
// libc and gave both a new version. The old one is the same function. On glibc < 2.34 it lives in
// libpthread.so.0, which the addon does not list (this machine's is an empty stub): it is found
// there because Node links libpthread.so.0 (the official 18-24 binaries do, built on glibc 2.28),
// and a Node built on glibc >= 2.34 cannot run on an older one anyway.
__asm__(".symver pthread_mutex_trylock,pthread_mutex_trylock@" SPINDLE_GLIBC_OLDEST);
__asm__(".symver pthread_setname_np,pthread_setname_np@" SPINDLE_GLIBC_SETNAME);
// std::log (sieve.cpp's size estimate): GLIBC_2.29 dropped the SVID error handling (matherr)
// from log's wrapper; for the positive arguments it gets, both return the same value.
__asm__(".symver log,log@" SPINDLE_GLIBC_OLDEST);
// fcntl (sha256_file.cpp): with _FILE_OFFSET_BITS=64, glibc >= 2.28 headers call fcntl64, which
// exists for 32-bit targets' 64-bit locks; on these 64-bit targets it is the same function as fcntl.
__asm__(".symver fcntl64,fcntl@" SPINDLE_GLIBC_OLDEST);
#endif
#undef SPINDLE_GLIBC_OLDEST
#undef SPINDLE_GLIBC_SETNAME

#if __has_include(<sys/single_threaded.h>)
// libstdc++'s inline reference counting (shared_ptr, ext/atomicity.h) reads glibc 2.32's
// __libc_single_threaded to skip the atomic instruction while a process has one thread. This
// declaration comes first, so glibc's later `extern char __libc_single_threaded` redeclares it
// with internal linkage: each translation unit reads its own constant 0 ("may be multi-threaded"),
// the compiler folds the test away and always takes the atomic path, which is correct in every
// process, and the binary imports no GLIBC_2.32 symbol. Node is multi-threaded from its start
// (its platform workers), so the skipped shortcut would never have been taken in an addon anyway.
extern "C" {
[[maybe_unused]] static char __libc_single_threaded = 0;
}
#endif

#endif  // __GLIBC__

#if defined(__GLIBCXX__) && defined(__linux__)
// std::condition_variable::wait(unique_lock&): GCC 12 made it no longer noexcept (so that thread
// cancellation can unwind through it) under the new version GLIBCXX_3.4.30, keeping the old one
// at GLIBCXX_3.4.11 (GCC 4.4). Both call pthread_cond_wait; the old one terminates where the new
// one would unwind a pthread_cancel, which spindle never calls.
__asm__(".symver _ZNSt18condition_variable4waitERSt11unique_lockISt5mutexE,"
        "_ZNSt18condition_variable4waitERSt11unique_lockISt5mutexE@GLIBCXX_3.4.11");
#endif
