#include "thread_pool.hpp"

#include <algorithm>

#include "job.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
static inline void cpu_relax() { _mm_pause(); }
#elif defined(__aarch64__)
static inline void cpu_relax() { __asm__ __volatile__("yield"); }
#else
static inline void cpu_relax() {}
#endif

namespace spindle {

namespace {
// How long an idle thread polls before parking: about 20-60 µs of pause instructions, then a
// few yields. Long enough to bridge the gaps in a burst of submissions, short enough that an
// idle pool costs nothing measurable.
constexpr unsigned kSpinPauses = 2048;
constexpr unsigned kSpinYields = 16;
}  // namespace

ThreadPool& ThreadPool::shared() {
  // Deliberately leaked: see the header. Never destroyed, so threads running at exit never
  // touch a destroyed object.
  static ThreadPool* pool = new ThreadPool();
  return *pool;
}

void ThreadPool::reserve(unsigned n) {
  n = std::min(n, kMaxThreads);
  if (thread_count_.load(std::memory_order_acquire) >= n) return;
  std::lock_guard<std::mutex> lock(mutex_);
  while (threads_.size() < n && !stopping_) {
    threads_.emplace_back([this] { worker_loop(); });
  }
  thread_count_.store(static_cast<unsigned>(threads_.size()), std::memory_order_release);
}

unsigned ThreadPool::thread_count() const { return thread_count_.load(std::memory_order_acquire); }

void ThreadPool::submit(Job* job, unsigned tickets) {
  Submission one{job, tickets};
  submit(&one, 1);
}

void ThreadPool::submit(const Submission* submissions, size_t count) {
  unsigned total = 0;
  for (size_t i = 0; i < count; ++i) {
    unsigned tickets = std::max(submissions[i].tickets, 1u);
    for (unsigned t = 0; t < tickets; ++t) submissions[i].job->retain();
    total += tickets;
  }
  unsigned to_wake;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (size_t i = 0; i < count; ++i) {
      unsigned tickets = std::max(submissions[i].tickets, 1u);
      for (unsigned t = 0; t < tickets; ++t) push_ticket(submissions[i].job);
    }
    queued_.store(size_, std::memory_order_release);
    to_wake = std::min(total, sleepers_);
  }
  // Wake only parked threads; spinning ones see queued_ change by themselves.
  if (to_wake == 1) {
    wake_.notify_one();
  } else if (to_wake > 1) {
    wake_.notify_all();
  }
}

unsigned ThreadPool::withdraw(Job* job) {
  std::lock_guard<std::mutex> lock(mutex_);
  // Compacts the ring in place, keeping the order of the other tickets.
  const size_t mask = ring_.size() - 1;
  size_t kept = 0;
  for (size_t i = 0; i < size_; ++i) {
    Job* ticket = ring_[(head_ + i) & mask];
    if (ticket != job) ring_[(head_ + kept++) & mask] = ticket;
  }
  auto removed = static_cast<unsigned>(size_ - kept);
  size_ = kept;
  queued_.store(size_, std::memory_order_release);
  return removed;
}

void ThreadPool::push_ticket(Job* job) {
  if (size_ == ring_.size()) {
    // Full (or never used): double, unrolling the tickets to the front of the new array.
    std::vector<Job*> bigger(ring_.empty() ? 256 : ring_.size() * 2);
    for (size_t i = 0; i < size_; ++i) bigger[i] = ring_[(head_ + i) & (ring_.size() - 1)];
    ring_.swap(bigger);
    head_ = 0;
  }
  ring_[(head_ + size_) & (ring_.size() - 1)] = job;
  ++size_;
}

Job* ThreadPool::pop_ticket() {
  Job* job = ring_[head_];
  head_ = (head_ + 1) & (ring_.size() - 1);
  --size_;
  return job;
}

Job* ThreadPool::next_ticket() {
  for (unsigned i = 0; i < kSpinPauses + kSpinYields; ++i) {
    if (queued_.load(std::memory_order_acquire) != 0) break;
    if (i < kSpinPauses) {
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }
  std::unique_lock<std::mutex> lock(mutex_);
  while (size_ == 0) {
    if (stopping_) return nullptr;
    ++sleepers_;
    wake_.wait(lock);
    --sleepers_;
  }
  Job* job = pop_ticket();
  queued_.store(size_, std::memory_order_release);
  return job;
}

void ThreadPool::worker_loop() {
  while (Job* job = next_ticket()) {
    job->work();
    job->release();
  }
}

void ThreadPool::shutdown() {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    threads.swap(threads_);
  }
  wake_.notify_all();
  for (auto& t : threads) t.join();
  thread_count_.store(0, std::memory_order_release);
}

}  // namespace spindle
