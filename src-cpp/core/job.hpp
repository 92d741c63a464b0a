// A Job is what the thread pool runs: one or more kernel Calls (several for a map chunk),
// their work units, a cancel flag, and whom to tell when it is over.
//
// Units are claimed through one atomic cursor, so any number of threads can work on one job
// at once and each unit runs exactly once. Whoever finishes the last unit completes the job:
// it runs the calls' finish() and hands the job to the CompletionSink. Nothing else ends a job,
// so a job completes exactly once, whether it ran, failed or was cancelled.
//
// Cancelling costs O(1) whatever is left: the canceller sets the flag and claims every unit
// nobody has claimed yet in one exchange of the cursor, counting them finished in one add.
// A job of 10^5 units that nobody started is over in two atomic operations, not 10^5; units
// already running stop at their kernel's next check, and the last of them completes the job.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "kernel.hpp"
#include "recycler.hpp"
#include "small_vector.hpp"

namespace spindle {

class Job;

// Told about each completed job, on the thread that completed it (a pool thread, or the
// thread that cancelled a job nobody had started). Implementations must be thread-safe.
class CompletionSink {
 public:
  virtual void job_done(Job& job) = 0;

 protected:
  ~CompletionSink() = default;
};

// Recyclable: jobs come and go at the rate tasks do (see recycler.hpp).
class Job : public Recyclable {
 public:
  enum class Status : uint8_t { Running, Ok, Failed, Cancelled };

  // `progress` (nullable) is a 64-bit slot in shared memory that kernels add work done to.
  // `tag` is the submitter's name for the job (the addon uses the JS task id).
  Job(std::vector<std::unique_ptr<Call>> calls, int64_t* progress, CompletionSink* sink, uint64_t tag);
  // A job of one call (every apply): the same, without building a vector for it.
  Job(std::unique_ptr<Call> call, int64_t* progress, CompletionSink* sink, uint64_t tag);
  Job(const Job&) = delete;
  Job& operator=(const Job&) = delete;

  // Intrusive reference count: the submitter holds one reference, each queued ticket another.
  // The job deletes itself when the last one is released.
  void retain() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release();

  // Drops every unit not yet started, and asks running kernels to stop at their next check.
  // O(1), safe from any thread, any number of times. When no unit is running, the job
  // completes before this returns, on the calling thread: the sink is told from here.
  void cancel();

  // Claims and runs units until none is left. Called by pool threads, one call per ticket, and
  // possibly concurrently. Returns at once when every unit is already claimed. `now_ns` is the
  // caller's reading of monotonic_ns() (clock.hpp) as it starts: the first ticket's is the job's
  // start time.
  void work(int64_t now_ns);

  uint64_t tag() const { return tag_; }
  uint64_t total_units() const { return total_units_; }

  // Valid once the sink has been told: the outcome, and for Ok one result per call (in call
  // order), for Failed the first error.
  Status status() const { return status_; }
  std::span<const Result> results() const { return results_.span(); }
  // Also valid once the sink has been told: when a thread first took up the job and how long it
  // ran from then to completion, in monotonic_ns() nanoseconds; both 0 for a job that never
  // started (cancelled while it waited).
  int64_t started_ns() const { return started_ns_.load(std::memory_order_relaxed); }
  int64_t run_ns() const { return run_ns_; }

 private:
  ~Job() = default;
  // Computes the unit layout once calls_ is filled.
  void count_units();
  // Which call a job-wide unit index belongs to, and its index within that call.
  std::pair<size_t, uint64_t> locate(uint64_t unit) const;
  void run_unit(uint64_t unit);
  void record_failure(Result error);
  // Claims every unit nobody has claimed and counts them finished, without running them.
  void drop_unclaimed();
  // Counts n more units finished; the call that reaches total_units_ completes the job and
  // returns true.
  bool finish_units(uint64_t n);
  void complete();

  // Layout: the fields both sides touch for every job (the submitting thread builds it, pool
  // threads claim, count and complete it, the submitting thread reads the outcome) first, in one
  // cache line, then the inline result; the rarely used ones last.

  // Immutable after construction.
  uint64_t total_units_ = 0;
  int64_t* const progress_;
  CompletionSink* const sink_;
  const uint64_t tag_;

  std::atomic<uint32_t> refs_{1};
  std::atomic<bool> cancelled_{false};
  // The first failure: the thread that flips failed_ from false owns failure_ and writes it
  // before its unit counts as finished; the completer reads it after the acquire on
  // finished_units_ that makes it the completer, so no lock is needed.
  std::atomic<bool> failed_{false};
  // Written only by the completing thread before it calls the sink.
  Status status_ = Status::Running;
  // Next unit to claim: fetch_add(1) claims one, exchange(total_units_) claims all the rest
  // (drop_unclaimed); >= total_units_ once every unit is claimed.
  std::atomic<uint64_t> next_unit_{0};
  std::atomic<uint64_t> finished_units_{0};  // units run or skipped; the one reaching total_units_ completes

  // Written only by the completing thread before it calls the sink.
  SmallVector<Result> results_;
  // The first work() call's start (a CAS from 0 decides which); read by the completer, which
  // the acq_rel on finished_units_ orders after every work() that ran a unit.
  std::atomic<int64_t> started_ns_{0};
  int64_t run_ns_ = 0;  // written only by the completing thread before it calls the sink

  // Immutable after construction.
  SmallVector<std::unique_ptr<Call>> calls_;
  std::vector<uint64_t> first_unit_;  // first_unit_[i] = job-wide index of call i's unit 0; empty when every call has one unit
  Result failure_;                    // see failed_
};

}  // namespace spindle
