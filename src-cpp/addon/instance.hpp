// Per-environment state of the addon: one Instance per Node environment (the main thread and
// each worker_thread that loads spindle), stored as the env's instance data.
//
// Life of a job: submit() on the JS thread → pool threads run it → the thread that completes
// it calls job_done(), which queues the job and, if no wake-up is pending, makes one
// thread-safe-function call → deliver() runs on the JS thread and settles every job queued
// since the last wake-up with a single call into JS.
//
// Teardown (worker exit, worker.terminate(), normal exit): the env cleanup hook, registered
// after the thread-safe function so that it runs first, cancels this env's jobs, waits until
// no pool thread can touch this Instance again, and only then aborts the thread-safe function.
// Cancelling is O(1) per job, so the wait is only for units running at that moment, each until
// its kernel's next cancellation check (about a millisecond): no kernel makes a system call that
// can block indefinitely on a local file system (sha256File opens non-blocking and refuses
// FIFOs, sockets and character devices). It must wait rather than walk away: running units may
// read views (SharedArrayBuffers) and progress counters that the env's teardown frees. At normal
// exit nothing is pending (a pending job keeps the event loop alive), so it waits for nothing.
// process.exit() runs no env cleanup hooks, so an atexit handler fences off every Instance
// instead (see on_process_exit). See shared/research/native.md §2.3-2.4 for the crashes this
// ordering avoids.
#pragma once

#include <napi.h>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "job.hpp"
#include "thread_pool.hpp"

namespace spindle::addon {

class Instance final : public CompletionSink {
 public:
  explicit Instance(Napi::Env env);
  ~Instance();

  static Instance& of(Napi::Env env);

  // --- JS thread only ---------------------------------------------------------------------
  // Creates the thread-safe function that delivers completions to `on_complete(records, count,
  // extras)`: `count` records of 5 doubles (see kRecordStride) at the start of `records`, a buffer reused across
  // deliveries. Once per env.
  void start(Napi::Function on_complete);
  bool started() const { return started_; }
  // Lanes: one per JS Pool (NativeBackend), the pool's queue in the core and its cap on threads
  // at once (ThreadPool::Lane). Named by small ids, from 1, so that packed records can carry them.
  static constexpr uint32_t kMaxLanes = uint32_t{1} << 20;
  uint32_t open_lane(unsigned cap);
  // Throws a RangeError when `id` names no open lane.
  void close_lane(uint32_t id);
  ThreadPool::LaneStats lane_stats(uint32_t id) const;
  // The open lane `id`, or null.
  ThreadPool::Lane* lane(double id, unsigned* cap) const;

  struct Submission {
    Job* job;                                       // the submitter's reference, taken over
    std::vector<Napi::ObjectReference> keep_alive;  // views the kernel reads or writes
    ThreadPool::Lane* lane;                         // an open lane of this Instance
    unsigned parallelism;                           // threads the job may use at once: its lane's cap
    bool batch;                                     // a map chunk: deliver an array even for one call
  };
  // Job ids (tags) run from 1 to kMaxJobId. Jobs are kept in a table indexed by id, so ids must
  // be small: the JS side hands out the smallest free ones, and reuses an id only after it has
  // received the job's completion record (see Router in src-ts/backends/native.ts), so the
  // table is as long as the most jobs ever pending at once.
  static constexpr uint64_t kMaxJobId = uint64_t{1} << 22;  // a table of at most ~170 MB
  // An empty vector for building a submit() call's list, kept between calls so that a burst's
  // flushes reuse one allocation.
  std::vector<Submission>& submission_scratch() {
    submission_scratch_.clear();
    return submission_scratch_;
  }
  // Registers the jobs and queues them, all or none: if an id is out of range or already
  // pending (or repeated among `submissions`), throws a RangeError having taken none of them,
  // and the caller still owns every job reference.
  void submit(std::vector<Submission>& submissions);
  // Cancels a submitted job; false if `id` is unknown (already delivered). O(1) whatever the
  // job has left (Job::cancel): jobs no thread is running complete right here, so they settle
  // at the next delivery; running ones at their kernel's next check.
  bool cancel(uint64_t id);
  // Jobs submitted and not yet delivered.
  size_t pending() const { return pending_count_; }

  // --- any thread -------------------------------------------------------------------------
  void job_done(Job& job) override;

  // Registered with atexit: stops every Instance from calling into its env, which is being
  // torn down under the running pool threads.
  static void on_process_exit();

 private:
  struct JobRelease {
    void operator()(Job* job) const { job->release(); }
  };
  struct Pending {
    std::unique_ptr<Job, JobRelease> job;           // the submitter's reference; null: a free slot
    std::vector<Napi::ObjectReference> keep_alive;  // views the kernel reads or writes
    bool batch = false;
  };

  static void deliver(Napi::Env env, Napi::Function on_complete, Instance* self, void* unused);
  using Tsfn = Napi::TypedThreadSafeFunction<Instance, void, &Instance::deliver>;

  void settle_batch(Napi::Env env, Napi::Function on_complete, const std::vector<Job*>& batch);
  Napi::Float64Array records_for(Napi::Env env, size_t doubles);
  static void on_env_cleanup(Instance* self);

  Napi::Env env_;
  bool started_ = false;

  // JS thread only.
  Tsfn tsfn_;
  std::vector<Submission> submission_scratch_;
  std::vector<ThreadPool::Submission> tickets_;  // submit()'s list for the pool, reused
  std::vector<Job*> delivering_;                 // the batch deliver() settles, swapped with completed_
  // The records buffer handed to on_complete, reused while large enough: a new Float64Array
  // per delivery cost a zeroed allocation each time.
  Napi::Reference<Napi::Float64Array> records_;
  size_t records_capacity_ = 0;  // records_'s length, in doubles
  // By job tag (the JS task id): an entry is taken from submit() until settle_batch() hands the
  // job's record to JS, and freed before that call, so JS may reuse the id from then on.
  std::vector<Pending> pending_;
  size_t pending_count_ = 0;  // entries with a job
  // By lane id: the open lanes (null: a free id) and their caps; ids closed, for reuse.
  struct LaneEntry {
    ThreadPool::Lane* lane = nullptr;
    unsigned cap = 0;
  };
  std::vector<LaneEntry> lanes_{1};  // id 0 is never used
  std::vector<uint32_t> free_lane_ids_;

  // Guarded by mutex_: everything pool threads touch.
  std::mutex mutex_;
  std::condition_variable drained_;  // signalled when native_inflight_ reaches 0 while closing_
  std::vector<Job*> completed_;      // completed, not yet delivered (references owned by pending_)
  size_t native_inflight_ = 0;       // submitted and not yet through job_done()
  bool wake_pending_ = false;        // a thread-safe-function call is queued and not yet run
  bool closing_ = false;             // env teardown or process exit: never call the TSFN again
};

}  // namespace spindle::addon
