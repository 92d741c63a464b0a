// The core's thread pool and jobs under contention, cancellation, failure and shutdown.
// Built alone (no N-API) and run under ThreadSanitizer and AddressSanitizer by ctest.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "check.hpp"
#include "job.hpp"
#include "kernel.hpp"
#include "thread_pool.hpp"

using namespace spindle;
using namespace std::chrono_literals;

namespace {

// Records every completed job; lets a test wait for N of them.
class RecordingSink final : public CompletionSink {
 public:
  void job_done(Job& job) override {
    std::lock_guard<std::mutex> lock(mutex_);
    tags_.push_back(job.tag());
    statuses_.push_back(job.status());
    if (!job.results().empty()) first_results_.push_back(job.results()[0]);
    done_.notify_all();
  }
  void wait_for(size_t n) {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait_for(lock, 30s, [&] { return tags_.size() >= n; });
  }
  std::vector<uint64_t> tags() { std::lock_guard<std::mutex> l(mutex_); return tags_; }
  std::vector<Job::Status> statuses() { std::lock_guard<std::mutex> l(mutex_); return statuses_; }
  std::vector<Result> results() { std::lock_guard<std::mutex> l(mutex_); return first_results_; }

 private:
  std::mutex mutex_;
  std::condition_variable done_;
  std::vector<uint64_t> tags_;
  std::vector<Job::Status> statuses_;
  std::vector<Result> first_results_;
};

// A call whose units count how often each of them ran.
class CountingCall final : public Call {
 public:
  explicit CountingCall(uint64_t units) : runs_(units) {}
  uint64_t units() const override { return runs_.size(); }
  void run(uint64_t unit, const CallContext& ctx) override {
    runs_[unit].fetch_add(1, std::memory_order_relaxed);
    ctx.add_progress(1);
  }
  Result finish() override {
    uint64_t total = 0;
    for (auto& r : runs_) total += r.load(std::memory_order_relaxed);
    return Result::of_number(static_cast<double>(total));
  }
  const std::vector<std::atomic<int>>& runs() const { return runs_; }

 private:
  std::vector<std::atomic<int>> runs_;
};

// A call whose single unit spins until the job is cancelled.
class UntilCancelledCall final : public Call {
 public:
  explicit UntilCancelledCall(std::atomic<bool>* started) : started_(started) {}
  void run(uint64_t, const CallContext& ctx) override {
    started_->store(true);
    while (!ctx.cancelled()) std::this_thread::yield();
  }
  Result finish() override { return Result::of_number(1); }

 private:
  std::atomic<bool>* started_;
};

class ThrowingCall final : public Call {
 public:
  uint64_t units() const override { return 64; }
  void run(uint64_t unit, const CallContext&) override {
    if (unit == 3) throw std::runtime_error("unit 3 broke");
  }
  Result finish() override { return Result::of_number(0); }
};

template <typename... Calls>
Job* make_job(RecordingSink& sink, uint64_t tag, int64_t* progress, std::unique_ptr<Calls>... calls) {
  std::vector<std::unique_ptr<Call>> list;
  (list.push_back(std::move(calls)), ...);
  return new Job(std::move(list), progress, &sink, tag);
}

std::unique_ptr<Call> kernel(const char* name, std::vector<Arg> args) {
  for (const auto& k : kernel_registry()) {
    if (std::string(k.name) == name) return k.make(args.data(), args.size());
  }
  throw std::logic_error("no such kernel");
}

}  // namespace

TEST_CASE("every job submitted from several threads completes exactly once") {
  ThreadPool pool;
  pool.reserve(4);
  RecordingSink sink;
  constexpr int kSubmitters = 3, kPerSubmitter = 20000;
  std::vector<std::thread> submitters;
  for (int s = 0; s < kSubmitters; ++s) {
    submitters.emplace_back([&, s] {
      for (int i = 0; i < kPerSubmitter; ++i) {
        Job* job = make_job(sink, static_cast<uint64_t>(s * kPerSubmitter + i), nullptr, kernel("noop", {Arg::of_number(i)}));
        pool.submit(job, 1 + (i % 3));
        job->release();
      }
    });
  }
  for (auto& t : submitters) t.join();
  sink.wait_for(kSubmitters * kPerSubmitter);
  auto tags = sink.tags();
  CHECK(tags.size() == kSubmitters * kPerSubmitter);
  CHECK(std::set<uint64_t>(tags.begin(), tags.end()).size() == tags.size());
  pool.shutdown();
}

TEST_CASE("a job's units spread over threads and each runs exactly once") {
  ThreadPool pool;
  pool.reserve(4);
  RecordingSink sink;
  auto call = std::make_unique<CountingCall>(10000);
  CountingCall* raw = call.get();
  int64_t progress = 0;
  Job* job = make_job(sink, 1, &progress, std::move(call), std::make_unique<CountingCall>(7));
  CHECK(job->total_units() == 10007);
  pool.submit(job, 4);
  sink.wait_for(1);
  bool each_once = true;
  for (const auto& r : raw->runs()) each_once = each_once && r.load() == 1;
  CHECK(each_once);
  CHECK(sink.statuses().at(0) == Job::Status::Ok);
  CHECK(sink.results().at(0).number == 10000);
  CHECK(__atomic_load_n(&progress, __ATOMIC_RELAXED) == 10007);
  job->release();  // only now: `raw` lives inside the job
  pool.shutdown();
}

TEST_CASE("cancelling a running job stops it; cancelled queued jobs never run") {
  ThreadPool pool;
  pool.reserve(1);
  RecordingSink sink;
  std::atomic<bool> started{false};
  Job* running = make_job(sink, 1, nullptr, std::make_unique<UntilCancelledCall>(&started));
  pool.submit(running, 1);
  while (!started.load()) std::this_thread::yield();

  // The only thread is busy: this job stays queued until withdrawn.
  auto call = std::make_unique<CountingCall>(100);
  CountingCall* raw = call.get();
  Job* queued = make_job(sink, 2, nullptr, std::move(call));
  pool.submit(queued, 1);
  queued->cancel();
  unsigned withdrawn = pool.withdraw(queued);
  CHECK(withdrawn == 1);
  for (unsigned i = 0; i < withdrawn; ++i) {
    queued->work();  // completes it: every unit is skipped
    queued->release();
  }
  sink.wait_for(1);
  CHECK(sink.tags().at(0) == 2);
  CHECK(sink.statuses().at(0) == Job::Status::Cancelled);
  int runs = 0;
  for (const auto& r : raw->runs()) runs += r.load();
  CHECK(runs == 0);

  running->cancel();
  sink.wait_for(2);
  CHECK(sink.statuses().at(1) == Job::Status::Cancelled);
  running->release();
  queued->release();
  pool.shutdown();
}

TEST_CASE("a unit that throws fails the job with its message and skips the rest") {
  ThreadPool pool;
  pool.reserve(2);
  RecordingSink sink;
  Job* job = make_job(sink, 9, nullptr, std::make_unique<ThrowingCall>());
  pool.submit(job, 2);
  job->release();
  sink.wait_for(1);
  CHECK(sink.statuses().at(0) == Job::Status::Failed);
  CHECK(sink.results().at(0).error->name == "Error");
  CHECK(sink.results().at(0).error->message == "unit 3 broke");
  pool.shutdown();
}

TEST_CASE("an empty batch completes") {
  ThreadPool pool;
  pool.reserve(1);
  RecordingSink sink;
  Job* job = new Job(std::vector<std::unique_ptr<Call>>{}, nullptr, &sink, 5);
  pool.submit(job, 1);
  job->release();
  sink.wait_for(1);
  CHECK(sink.statuses().at(0) == Job::Status::Ok);
  pool.shutdown();
}

TEST_CASE("increment is exact under contention from many threads") {
  ThreadPool pool;
  pool.reserve(4);
  RecordingSink sink;
  alignas(64) int64_t counter = 0;
  constexpr int kJobs = 4000;
  for (int i = 0; i < kJobs; ++i) {
    std::vector<std::unique_ptr<Call>> calls;
    for (int k = 0; k < 25; ++k) calls.push_back(kernel("increment", {Arg::of_view(&counter, 8), Arg::of_number(2)}));
    Job* job = new Job(std::move(calls), nullptr, &sink, static_cast<uint64_t>(i));
    pool.submit(job, 2);
    job->release();
  }
  sink.wait_for(kJobs);
  CHECK(__atomic_load_n(&counter, __ATOMIC_SEQ_CST) == kJobs * 25 * 2);
  pool.shutdown();
}

TEST_CASE("kernel factories reject bad arguments with the right error type") {
  auto type_of = [](const char* name, std::vector<Arg> args) -> int {
    try {
      kernel(name, std::move(args));
      return 0;
    } catch (const ArgumentError& e) {
      return e.type == ArgumentError::Type::TypeError ? 1 : 2;
    }
  };
  int64_t slot = 0;
  CHECK(type_of("noop", {}) == 0);
  CHECK(type_of("noop", {Arg::of_bigint(1)}) == 1);
  CHECK(type_of("noop", {Arg::of_number(1), Arg::of_number(2)}) == 1);
  CHECK(type_of("increment", {Arg::of_number(1)}) == 1);
  CHECK(type_of("increment", {Arg::of_view(&slot, 8), Arg::of_number(0.5)}) == 2);
  CHECK(type_of("countPrimes", {Arg::of_number(0)}) == 1);
  CHECK(type_of("countPrimes", {Arg::of_number(-1), Arg::of_number(5)}) == 2);
  CHECK(type_of("countPrimes", {Arg::of_number(5), Arg::of_number(1)}) == 2);
  CHECK(type_of("countPrimes", {Arg::of_number(0), Arg::of_number(1.5)}) == 2);
  CHECK(type_of("countPrimes", {Arg::of_number(0), Arg::of_number(9007199254740994.0)}) == 2);
}

TEST_CASE("shutdown lets queued work finish, then joins") {
  ThreadPool pool;
  pool.reserve(2);
  RecordingSink sink;
  for (int i = 0; i < 1000; ++i) {
    Job* job = make_job(sink, static_cast<uint64_t>(i), nullptr, std::make_unique<CountingCall>(3));
    pool.submit(job, 2);
    job->release();
  }
  pool.shutdown();
  CHECK(sink.tags().size() == 1000);
  CHECK(pool.thread_count() == 0);
}

int main() { return check::run_all(); }
