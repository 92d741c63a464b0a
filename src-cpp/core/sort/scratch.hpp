// Scratch memory for sorts, reused across calls.
//
// A radix sort moves its elements into a buffer as large as the array and back. Fresh memory
// costs a page fault per 4 KiB on first touch (about 3 ms per 8 MB here), a large share of a
// sort's time, so one released buffer (the largest so far, of kKeepMin to kKeepMax bytes) is
// kept for the next sort instead of being freed, and a fresh one is advised to take huge pages
// (advise_huge_pages). Concurrent sorts each get their own buffer.
#pragma once

#include <cstddef>
#include <cstdint>

namespace spindle::sort {

// The largest buffer kept between sorts (a sort of 2^25 doubles, or argsort of 10^7).
constexpr size_t kKeepMax = size_t(256) << 20;
// Smaller requests neither take the kept buffer nor replace it: allocating a few hundred KiB
// costs little, and a map of small sorts must not take the buffer a large sort beside it wants.
constexpr size_t kKeepMin = size_t(1) << 20;

class Scratch {
 public:
  Scratch() = default;
  // A buffer of at least `bytes`, 64-byte aligned, contents unspecified. Throws std::bad_alloc.
  static Scratch take(size_t bytes);
  Scratch(Scratch&& other) noexcept : data_(other.data_), size_(other.size_) { other.data_ = nullptr; other.size_ = 0; }
  Scratch& operator=(Scratch&& other) noexcept;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch();  // gives the buffer back to the cache, or frees it

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  Scratch(uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Frees the kept buffer (tests use it to count what a sort allocates).
void drop_kept_scratch();

// Asks Linux to back the whole 2 MiB pages inside [p, p + bytes) with huge pages when they are
// first touched: one fault per 2 MiB instead of one per 4 KiB. For memory a sort writes before
// anything else touched it: a fresh scratch buffer, and argsort's output (the caller allocates it
// just before the call: a fresh `new Uint32Array(n)`, calloc'd, never touched). A hint only:
// where transparent huge pages are off or unavailable, or the range holds no whole huge page,
// nothing changes.
void advise_huge_pages(void* p, size_t bytes);

}  // namespace spindle::sort
