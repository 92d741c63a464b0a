// SmallVector<T>: a vector whose first element lives inside the object itself.
//
// A Job holds its calls and their results. Nearly every job has exactly one of each (every
// apply() is one call; only a map chunk has several), and a heap block per vector would cost a
// malloc on the submitting thread and a free on whichever thread drops the job last, for every
// task of a burst. So one element stays inline; a second moves everything to a std::vector.
//
// Elements are contiguous either way, so begin()/end()/data() and std::span work as they do for
// std::vector. Only what Job needs is provided.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace spindle {

template <class T>
class SmallVector {
 public:
  SmallVector() = default;
  SmallVector(const SmallVector&) = delete;
  SmallVector& operator=(const SmallVector&) = delete;

  size_t size() const { return spilled_ ? heap_.size() : inline_size_; }
  bool empty() const { return size() == 0; }

  T* data() { return spilled_ ? heap_.data() : &inline_; }
  const T* data() const { return spilled_ ? heap_.data() : &inline_; }
  T* begin() { return data(); }
  T* end() { return data() + size(); }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size(); }
  T& operator[](size_t i) { return data()[i]; }
  const T& operator[](size_t i) const { return data()[i]; }
  std::span<const T> span() const { return {data(), size()}; }

  // Room for n elements without reallocating: inline for n <= 1, else on the heap.
  void reserve(size_t n) {
    if (n <= 1) return;
    spill();
    heap_.reserve(n);
  }

  void push_back(T value) {
    if (!spilled_ && inline_size_ == 0) {
      inline_ = std::move(value);
      inline_size_ = 1;
      return;
    }
    spill();
    heap_.push_back(std::move(value));
  }

  // Removes every element. A vector that has spilled stays on the heap (keeping its capacity).
  void clear() {
    if (spilled_) {
      heap_.clear();
    } else {
      inline_ = T{};
      inline_size_ = 0;
    }
  }

 private:
  // Moves the inline element (if any) to the heap; every later element goes there too.
  void spill() {
    if (spilled_) return;
    spilled_ = true;
    if (inline_size_ == 1) heap_.push_back(std::move(inline_));
    inline_ = T{};
    inline_size_ = 0;
  }

  // Invariant: while !spilled_, the elements are inline_ (inline_size_ of them, 0 or 1) and heap_
  // is empty; once spilled_, they are heap_'s and inline_ holds a default T.
  T inline_{};
  std::vector<T> heap_;
  uint8_t inline_size_ = 0;
  bool spilled_ = false;
};

}  // namespace spindle
