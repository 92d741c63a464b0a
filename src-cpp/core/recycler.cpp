#include "recycler.hpp"

#include <array>
#include <new>
#include <vector>

namespace spindle::recycler {

namespace {

// Size classes: multiples of kGranule up to kLargest bytes. Larger objects go to malloc.
constexpr size_t kGranule = 16;
constexpr size_t kLargest = 512;
constexpr size_t kClasses = kLargest / kGranule;
// A class keeps at most this many bytes of free blocks per thread (and at least 64 blocks):
// enough for a burst's worth of jobs in flight, small next to what those jobs cost.
constexpr size_t kBytesPerClass = size_t{1} << 20;

constexpr size_t class_of(size_t size) { return (size + kGranule - 1) / kGranule - 1; }
constexpr size_t block_size(size_t cls) { return (cls + 1) * kGranule; }
constexpr size_t cap_of(size_t cls) {
  return kBytesPerClass / block_size(cls) > 64 ? kBytesPerClass / block_size(cls) : 64;
}

class FreeLists {
 public:
  FreeLists() = default;
  FreeLists(const FreeLists&) = delete;
  FreeLists& operator=(const FreeLists&) = delete;
  ~FreeLists() {
    for (size_t cls = 0; cls < kClasses; ++cls) {
      for (void* block : lists_[cls]) ::operator delete(block);
    }
  }

  void* take(size_t cls) {
    allocates_ = true;
    std::vector<void*>& list = lists_[cls];
    if (list.empty()) return ::operator new(block_size(cls));
    void* block = list.back();
    list.pop_back();
    return block;
  }

  size_t kept() const noexcept {
    size_t n = 0;
    for (const auto& list : lists_) n += list.size();
    return n;
  }

  // False when the caller must free the block itself.
  bool keep(size_t cls, void* block) noexcept {
    std::vector<void*>& list = lists_[cls];
    if (!allocates_ || list.size() >= cap_of(cls)) return false;
    try {
      list.push_back(block);
    } catch (...) {
      return false;  // no memory to grow the list: free the block instead
    }
    return true;
  }

 private:
  std::array<std::vector<void*>, kClasses> lists_;
  bool allocates_ = false;  // this thread has allocated through the recycler
};

// Trivially destructible, so it can still be read while the thread's other thread_locals are
// destroyed: a block released after the lists are gone goes straight back to malloc.
thread_local bool lists_gone = false;

struct ThreadLists {
  FreeLists lists;
  ~ThreadLists() { lists_gone = true; }
};
thread_local ThreadLists thread_lists;

}  // namespace

void* allocate(size_t size) {
  if (!kEnabled || size == 0 || size > kLargest || lists_gone) return ::operator new(size);
  return thread_lists.lists.take(class_of(size));
}

void release(void* block, size_t size) noexcept {
  if (block == nullptr) return;
  if (kEnabled && size != 0 && size <= kLargest && !lists_gone && thread_lists.lists.keep(class_of(size), block)) return;
  ::operator delete(block);
}

size_t kept_blocks() noexcept { return lists_gone ? 0 : thread_lists.lists.kept(); }

}  // namespace spindle::recycler
