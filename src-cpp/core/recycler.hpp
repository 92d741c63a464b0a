// Recycled memory for the small objects made once per task: Jobs and kernel Calls.
//
// A burst of tiny tasks makes and drops a Job and a Call per task, a million or more a second,
// on the submitting JS thread: it allocates them at submit and, holding the reference that is
// nearly always the last to go, frees them at delivery, in batches of hundreds. glibc's
// per-thread cache keeps only 7 blocks of a size, so each of those went through malloc's shared
// bins and their consolidation, which cost the JS thread more than the rest of the addon did.
//
// Who touches what: every thread has its own free lists (thread_local), so there are no locks.
// A thread keeps the blocks it frees only once it has allocated through here (the JS threads
// that submit); any other thread (a pool thread dropping the last reference to the odd job)
// hands them straight back to malloc, so nothing piles up where it is never reused. A thread's
// lists are freed when the thread exits. Under AddressSanitizer nothing is recycled (kEnabled).
#pragma once

#include <cstddef>

namespace spindle {

namespace recycler {
// Whether blocks are recycled at all: not under AddressSanitizer, so that it still reports a
// use after free.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kEnabled = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kEnabled = false;
#else
inline constexpr bool kEnabled = true;
#endif
#else
inline constexpr bool kEnabled = true;
#endif

// Memory for one object of `size` bytes: a recycled block of its size class when the calling
// thread has one, else from malloc (as ::operator new, which throws std::bad_alloc).
void* allocate(size_t size);
// Gives back a block from allocate(size), with the same size.
void release(void* block, size_t size) noexcept;
// How many free blocks the calling thread keeps, all size classes together (for tests).
size_t kept_blocks() noexcept;
}  // namespace recycler

// Inheriting from Recyclable makes `new T` / `delete p` use the recycler. A class with a
// virtual destructor gets the most derived object's size in operator delete, so a hierarchy
// (every kernel's Call) can share one base.
struct Recyclable {
  static void* operator new(size_t size) { return recycler::allocate(size); }
  static void operator delete(void* block, size_t size) noexcept { recycler::release(block, size); }
};

}  // namespace spindle
