#include "scratch.hpp"

#include <mutex>
#include <new>

namespace spindle::sort {

namespace {

constexpr std::align_val_t kAlign{64};

// The kept buffer, at most one; guarded by kept_mutex.
std::mutex kept_mutex;
uint8_t* kept_data = nullptr;
size_t kept_size = 0;

void release(uint8_t* data) { ::operator delete[](data, kAlign); }

}  // namespace

Scratch Scratch::take(size_t bytes) {
  if (bytes >= kKeepMin) {
    std::lock_guard<std::mutex> lock(kept_mutex);
    if (kept_data != nullptr && kept_size >= bytes) {
      Scratch s(kept_data, kept_size);
      kept_data = nullptr;
      kept_size = 0;
      return s;
    }
  }
  if (bytes == 0) return Scratch();
  return Scratch(static_cast<uint8_t*>(::operator new[](bytes, kAlign)), bytes);
}

Scratch& Scratch::operator=(Scratch&& other) noexcept {
  if (this != &other) {
    this->~Scratch();
    data_ = other.data_;
    size_ = other.size_;
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

Scratch::~Scratch() {
  if (data_ == nullptr) return;
  uint8_t* drop = data_;
  if (size_ >= kKeepMin && size_ <= kKeepMax) {
    std::lock_guard<std::mutex> lock(kept_mutex);
    // Keep the larger of the two: it serves every sort the smaller one would.
    if (kept_size < size_) {
      std::swap(drop, kept_data);
      kept_size = size_;
    }
  }
  if (drop != nullptr) release(drop);
  data_ = nullptr;
  size_ = 0;
}

void drop_kept_scratch() {
  uint8_t* drop;
  {
    std::lock_guard<std::mutex> lock(kept_mutex);
    drop = kept_data;
    kept_data = nullptr;
    kept_size = 0;
  }
  if (drop != nullptr) release(drop);
}

}  // namespace spindle::sort
