// The native threads that run jobs.
//
// The addon uses one process-wide pool, ThreadPool::shared(), created on first use and never
// destroyed or joined: joining threads from exit handlers or static destructors deadlocks or
// races the runtime's own teardown (see shared/research/native.md §2.3). At process exit the
// threads simply end with the process; nothing they touch is ever freed. Tests create private
// pools and call shutdown().
//
// Scheduling: one FIFO of tickets. A job submitted with parallelism P gets up to P tickets;
// a thread that takes a ticket claims the job's units until none is left (Job::work), so one
// big call spreads over P threads and a batch of small calls needs only a few queue
// operations. A thread that runs out of tickets spins briefly before it parks on the condvar,
// because waking a parked thread costs 5-40 µs on a VM while a burst of small tasks arrives
// every microsecond.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>
#include <vector>

namespace spindle {

class Job;

class ThreadPool {
 public:
  // Upper bound on threads, whatever is asked: a typo in `size` must not fork-bomb the process.
  static constexpr unsigned kMaxThreads = 1024;

  // The process-wide pool, created on first use with no threads (reserve() starts them).
  static ThreadPool& shared();

  ThreadPool() = default;
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  // Only for private pools: the caller must have called shutdown().
  ~ThreadPool() = default;

  // Starts threads until at least min(n, kMaxThreads) run. Never shrinks.
  void reserve(unsigned n);
  unsigned thread_count() const;

  // Queues `tickets` (>= 1) turns at the job; takes one job reference per ticket, released
  // by whoever consumes the ticket.
  void submit(Job* job, unsigned tickets);

  struct Submission {
    Job* job;
    unsigned tickets;
  };
  // The same for many jobs at once: one lock and at most one wake-up call for all of them,
  // which is what makes a burst of tiny tasks cheap.
  void submit(const Submission* submissions, size_t count);

  // Takes the job's queued tickets back out of the queue and returns how many there were;
  // the caller now owns their references. Used to settle a cancelled job at once instead of
  // waiting behind other jobs for a thread.
  unsigned withdraw(Job* job);

  // Private pools only: lets the threads finish the queue, then joins them.
  void shutdown();

 private:
  void worker_loop();
  // Pops a ticket, waiting (spin, then park) while the queue is empty. Null means stop.
  Job* next_ticket();

  // The FIFO of tickets, a ring over a power-of-two array that grows and never shrinks: a
  // std::deque allocates a node per 64 tickets on the submitting thread and frees it on a
  // pool thread, which in a burst cost more than the queue operations themselves.
  void push_ticket(Job* job);
  Job* pop_ticket();

  mutable std::mutex mutex_;           // guards ring_, head_, size_, sleepers_, threads_, stopping_
  std::condition_variable wake_;       // signalled when tickets arrive or on shutdown
  std::vector<Job*> ring_;             // tickets: ring_[(head_ + i) & (ring_.size() - 1)], i < size_
  size_t head_ = 0;
  size_t size_ = 0;
  std::vector<std::thread> threads_;   // joined only by shutdown(); shared() leaks them
  unsigned sleepers_ = 0;              // threads parked in wake_.wait
  bool stopping_ = false;
  // Mirrors size_, so spinning threads can poll without taking the lock.
  std::atomic<size_t> queued_{0};
  std::atomic<unsigned> thread_count_{0};
};

}  // namespace spindle
