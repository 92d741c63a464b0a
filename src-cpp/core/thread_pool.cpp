#include "thread_pool.hpp"

#include <algorithm>

#include "clock.hpp"
#include "job.hpp"

#if defined(__linux__)
#include <pthread.h>
#endif

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
// How long an idle thread polls for a ticket before it parks, when it polls at all (see
// next_ticket). Measured on the clock, not counted in pause instructions, whose latency ranges
// from about 10 to 140 cycles across x86 generations. Long enough to cover a caller that awaits
// each call before making the next (a JS round trip of 10-30 µs here): with 20 µs such a loop
// took 25-30 µs a call, with 50 µs 13-14.
constexpr int64_t kSpinNs = 50'000;
}  // namespace

// Every field is guarded by the owning pool's mutex_.
class ThreadPool::Lane {
 public:
  explicit Lane(unsigned cap) : cap(std::clamp(cap, 1u, kMaxThreads)) {}

  // A ticket may start: one is queued and fewer than `cap` threads run the lane's tickets.
  bool startable() const { return size > 0 && active < cap; }
  // How many of the queued tickets could start now.
  size_t startable_count() const { return std::min<size_t>(size, cap - active); }

  // The FIFO of tickets, a ring over a power-of-two array that grows and never shrinks: a
  // std::deque allocates a node per 64 tickets on the submitting thread and frees it on a
  // pool thread, which in a burst cost more than the queue operations themselves.
  void push(Job* job) {
    if (size == ring.size()) {
      // Full (or never used): double, unrolling the tickets to the front of the new array.
      std::vector<Job*> bigger(ring.empty() ? 256 : ring.size() * 2);
      for (size_t i = 0; i < size; ++i) bigger[i] = ring[(head + i) & (ring.size() - 1)];
      ring.swap(bigger);
      head = 0;
    }
    ring[(head + size) & (ring.size() - 1)] = job;
    ++size;
  }
  Job* pop() {
    Job* job = ring[head];
    head = (head + 1) & (ring.size() - 1);
    --size;
    return job;
  }

  const unsigned cap;
  unsigned active = 0;      // threads between take_ticket() and the next next_ticket() for it
  unsigned max_active = 0;  // high-water mark of active, for lane_stats()
  int64_t busy_ns = 0;      // thread time spent running its tickets, for lane_stats()
  bool open = true;         // false once close_lane() ran: freed when nothing refers to it
  bool listed = false;      // in the ready list; then startable() holds
  Lane* next_ready = nullptr;
  std::vector<Job*> ring;   // tickets: ring[(head + i) & (ring.size() - 1)], i < size
  size_t head = 0;
  size_t size = 0;
};

ThreadPool& ThreadPool::shared() {
  // Deliberately leaked: see the header. Never destroyed, so threads running at exit never
  // touch a destroyed object.
  static ThreadPool* pool = new ThreadPool();
  return *pool;
}

ThreadPool::ThreadPool() : default_lane_(new Lane(kMaxThreads)) {}

ThreadPool::~ThreadPool() { delete default_lane_; }

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

ThreadPool::Lane* ThreadPool::open_lane(unsigned cap) { return new Lane(cap); }

void ThreadPool::close_lane(Lane* lane) {
  std::lock_guard<std::mutex> lock(mutex_);
  lane->open = false;
  free_if_done(lane);
}

ThreadPool::LaneStats ThreadPool::lane_stats(const Lane* lane) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return {lane->cap, lane->active, lane->max_active, lane->size, lane->busy_ns};
}

void ThreadPool::submit(Job* job, unsigned tickets, Lane* lane) {
  Submission one{job, tickets, lane};
  submit(&one, 1);
}

void ThreadPool::submit(const Submission* submissions, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    unsigned tickets = std::max(submissions[i].tickets, 1u);
    for (unsigned t = 0; t < tickets; ++t) submissions[i].job->retain();
  }
  size_t to_wake;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    size_t startable_added = 0;
    for (size_t i = 0; i < count; ++i) {
      Lane* lane = submissions[i].lane != nullptr ? submissions[i].lane : default_lane_;
      const size_t before = lane->startable_count();
      unsigned tickets = std::max(submissions[i].tickets, 1u);
      for (unsigned t = 0; t < tickets; ++t) lane->push(submissions[i].job);
      startable_added += lane->startable_count() - before;
      make_ready_if_startable(lane);
    }
    to_wake = std::min<size_t>(startable_added, sleepers_);
    if (startable_added > 0) grow_for_lanes();
  }
  // Wake only parked threads, and only as many as there are tickets they may start; spinning
  // threads see any_ready_ change by themselves.
  if (to_wake == 1) {
    wake_.notify_one();
  } else if (to_wake > 1) {
    wake_.notify_all();
  }
}

void ThreadPool::grow_for_lanes() {
  // Every thread busy or spoken for: a lane below its cap would wait for another lane's calls
  // to end (a long countPrimes in one Pool held up every call of the next). Start a thread
  // for each ticket that may start and has none; the default lane (the core's tests) only
  // gets what reserve() started.
  if (stopping_) return;
  size_t wanted = active_;
  for (Lane* lane = ready_head_; lane != nullptr; lane = lane->next_ready) {
    if (lane != default_lane_) wanted += lane->startable_count();
  }
  wanted = std::min<size_t>(wanted, kMaxThreads);
  if (wanted <= threads_.size()) return;
  while (threads_.size() < wanted) threads_.emplace_back([this] { worker_loop(); });
  thread_count_.store(static_cast<unsigned>(threads_.size()), std::memory_order_release);
}

void ThreadPool::make_ready_if_startable(Lane* lane) {
  if (lane->listed || !lane->startable()) return;
  lane->listed = true;
  lane->next_ready = nullptr;
  if (ready_tail_ != nullptr) {
    ready_tail_->next_ready = lane;
  } else {
    ready_head_ = lane;
  }
  ready_tail_ = lane;
  any_ready_.store(true, std::memory_order_release);
}

Job* ThreadPool::take_ticket(Lane*& lane) {
  Lane* first = ready_head_;
  ready_head_ = first->next_ready;
  if (ready_head_ == nullptr) ready_tail_ = nullptr;
  first->listed = false;
  Job* job = first->pop();
  first->max_active = std::max(first->max_active, ++first->active);
  ++active_;
  make_ready_if_startable(first);  // to the back: lanes take turns
  any_ready_.store(ready_head_ != nullptr, std::memory_order_release);
  lane = first;
  return job;
}

void ThreadPool::free_if_done(Lane* lane) {
  if (!lane->open && lane->active == 0 && lane->size == 0) delete lane;  // size 0: not listed
}

Job* ThreadPool::next_ticket(Lane*& lane, int64_t busy_ns, bool& poll) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (lane != nullptr) {
    // Added here, under the lock this thread takes anyway, rather than with an atomic per ticket.
    lane->busy_ns += busy_ns;
    --lane->active;
    --active_;
    make_ready_if_startable(lane);
    free_if_done(lane);
    lane = nullptr;
  }
  if (ready_head_ == nullptr && !stopping_) {
    // Nothing to start. In a burst of submissions the next ticket is a few microseconds
    // away, and polling for it saves the futex wake-up per ticket that parking costs. Between
    // sporadic calls it is not: polling then only takes a core from the event loop and the
    // rest of the process (on a small or loaded machine, delaying the very completion the
    // caller waits for). So a thread polls only while its waits stay short: after a wait
    // longer than kSpinNs it parks at once, until a wait is short again.
    const int64_t idle_since = monotonic_ns();
    if (poll) {
      lock.unlock();
      for (unsigned i = 1; !any_ready_.load(std::memory_order_acquire); ++i) {
        cpu_relax();
        if ((i & 63) == 0 && monotonic_ns() - idle_since >= kSpinNs) break;
      }
      lock.lock();
    }
    while (ready_head_ == nullptr) {
      if (stopping_) return nullptr;
      ++sleepers_;
      wake_.wait(lock);
      --sleepers_;
    }
    poll = monotonic_ns() - idle_since <= kSpinNs;
  }
  if (ready_head_ == nullptr) return nullptr;  // stopping_, and nothing left to run
  return take_ticket(lane);
}

void ThreadPool::worker_loop() {
#if defined(__linux__)
  // Named so that top -H, perf and /proc/<pid>/task/*/comm tell the pool's threads apart.
  pthread_setname_np(pthread_self(), "spindle-pool");
#endif
  Lane* lane = nullptr;  // the lane of the ticket this thread last ran; it holds a slot there
  int64_t busy_ns = 0;   // how long that ticket took
  bool poll = true;      // whether this thread's last wait for a ticket was short (next_ticket)
  while (Job* job = next_ticket(lane, busy_ns, poll)) {
    const int64_t start = monotonic_ns();
    job->work(start);
    job->release();
    busy_ns = monotonic_ns() - start;
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
