// The native threads that run jobs.
//
// The addon uses one process-wide pool, ThreadPool::shared(), created on first use and never
// destroyed or joined: joining threads from exit handlers or static destructors deadlocks or
// races the runtime's own teardown (see shared/research/native.md §2.3). At process exit the
// threads simply end with the process; nothing they touch is ever freed. Tests create private
// pools and call shutdown().
//
// Scheduling. Work arrives as tickets: a job submitted with parallelism P gets up to P tickets,
// and a thread that takes a ticket claims the job's units until none is left (Job::work), so one
// big call spreads over P threads and a batch of small calls needs only a few queue operations.
//
// Tickets are queued in lanes. A lane is one JS Pool's share of the process-wide threads: it has
// a cap, and at most `cap` threads run its tickets at once, whatever other lanes exist (a
// Pool({ size: 1 }) runs one call at a time even when an earlier pool started 32 threads). Each
// lane is a FIFO of its tickets; the lanes that have a ticket and room under their cap wait,
// in turn, in the ready list. A thread takes the first ticket of the first ready lane, then puts
// that lane at the back of the ready list if it is still ready, so lanes share threads round
// robin: no thread idles while any lane has a ticket it may start. And a lane never waits for
// another: a ticket runs its job to the end, so when every thread is busy and a lane below its
// cap has a ticket, submit() starts a thread for it (grow_for_lanes). The threads then number at
// most the sum of the caps of the lanes busy at once, and share the cores as processes would.
//
// A thread that runs out of tickets spins briefly before it parks on the condvar, because waking
// a parked thread costs 5-40 µs on a VM while a burst of small tasks arrives every microsecond.
// One lock per ticket: a thread gives back its lane slot and takes its next ticket under the
// same acquisition of mutex_.
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

  // One JS Pool's queue and concurrency cap (see the header comment). Opaque outside the pool;
  // every field is guarded by the pool's mutex_.
  class Lane;

  // The process-wide pool, created on first use with no threads (reserve() starts them).
  static ThreadPool& shared();

  ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  // Only for private pools: the caller must have called shutdown().
  ~ThreadPool();

  // Starts threads until at least min(n, kMaxThreads) run. Never shrinks.
  void reserve(unsigned n);
  unsigned thread_count() const;

  // A new lane whose tickets at most min(cap, kMaxThreads) threads run at once (cap >= 1).
  Lane* open_lane(unsigned cap);
  // The owner is done with `lane`: it takes no more submissions. Its queued tickets still run;
  // the lane is freed when the last of them has.
  void close_lane(Lane* lane);
  struct LaneStats {
    unsigned cap;
    unsigned active;      // threads running its tickets now
    unsigned max_active;  // the most there ever were at once
    size_t queued;        // tickets waiting
    int64_t busy_ns;      // thread time spent on its tickets so far, summed over threads
  };
  LaneStats lane_stats(const Lane* lane) const;

  // Queues `tickets` (>= 1) turns at the job in `lane` (null: the default lane, uncapped); takes
  // one job reference per ticket, released by whoever consumes the ticket.
  void submit(Job* job, unsigned tickets, Lane* lane = nullptr);

  struct Submission {
    Job* job;
    unsigned tickets;
    Lane* lane = nullptr;  // an open lane; null: the default lane
  };
  // The same for many jobs at once: one lock and at most one wake-up call for all of them,
  // which is what makes a burst of tiny tasks cheap.
  void submit(const Submission* submissions, size_t count);

  // Private pools only: lets the threads finish the queue, then joins them.
  void shutdown();

 private:
  void worker_loop();
  // Gives back the slot of `lane` (the lane of the ticket the thread just ran, which took
  // `busy_ns` of its time; null for none) and pops the next ticket, waiting while no lane is
  // ready: polling first if `poll`, then parked. Sets `lane` to the new ticket's lane, and
  // `poll` to whether this wait was short. Null means stop.
  Job* next_ticket(Lane*& lane, int64_t busy_ns, bool& poll);

  // Ready-list upkeep, under mutex_: `lane` joins the back of the list if it has a ticket and
  // room under its cap and is not listed yet.
  void make_ready_if_startable(Lane* lane);
  // Pops the first ticket of the first ready lane, taking a slot of that lane.
  Job* take_ticket(Lane*& lane);
  // Frees a closed lane once nothing refers to it.
  void free_if_done(Lane* lane);
  // Starts threads while fewer exist than tickets running plus tickets of capped lanes that may
  // start: so a lane always gets up to its cap, however busy other lanes keep the others.
  void grow_for_lanes();

  mutable std::mutex mutex_;      // guards every Lane, ready_head_/ready_tail_, sleepers_, threads_, stopping_
  std::condition_variable wake_;  // signalled when a lane becomes ready or on shutdown
  Lane* default_lane_;            // uncapped; for submissions without a lane (the core's tests)
  Lane* ready_head_ = nullptr;    // the ready list, linked through Lane::next_ready
  Lane* ready_tail_ = nullptr;
  std::vector<std::thread> threads_;  // joined only by shutdown(); shared() leaks them
  unsigned sleepers_ = 0;             // threads parked in wake_.wait
  size_t active_ = 0;                 // threads running a ticket: the sum of every lane's active
  bool stopping_ = false;
  // Whether the ready list is non-empty, mirrored so that spinning threads can poll without
  // taking the lock.
  std::atomic<bool> any_ready_{false};
  std::atomic<unsigned> thread_count_{0};
};

}  // namespace spindle
