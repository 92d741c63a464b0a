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
#include "clock.hpp"
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
    timings_.push_back({job.started_ns(), job.run_ns()});
    done_.notify_all();
  }
  void wait_for(size_t n) {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait_for(lock, 30s, [&] { return tags_.size() >= n; });
  }
  std::vector<uint64_t> tags() { std::lock_guard<std::mutex> l(mutex_); return tags_; }
  std::vector<Job::Status> statuses() { std::lock_guard<std::mutex> l(mutex_); return statuses_; }
  std::vector<Result> results() { std::lock_guard<std::mutex> l(mutex_); return first_results_; }
  // [started_ns, run_ns] per completed job, in completion order.
  std::vector<std::pair<int64_t, int64_t>> timings() { std::lock_guard<std::mutex> l(mutex_); return timings_; }

 private:
  std::mutex mutex_;
  std::condition_variable done_;
  std::vector<uint64_t> tags_;
  std::vector<Job::Status> statuses_;
  std::vector<Result> first_results_;
  std::vector<std::pair<int64_t, int64_t>> timings_;
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

// A call with any number of units, each of which only counts itself: big enough to show that
// cancelling never walks the units.
class ManyUnitsCall final : public Call {
 public:
  explicit ManyUnitsCall(uint64_t units) : units_(units) {}
  uint64_t units() const override { return units_; }
  void run(uint64_t, const CallContext&) override { ran_.fetch_add(1, std::memory_order_relaxed); }
  Result finish() override { return Result::of_number(static_cast<double>(ran_.load())); }
  uint64_t ran() const { return ran_.load(); }

 private:
  uint64_t units_;
  std::atomic<uint64_t> ran_{0};
};

// Counts how many of its units run at once, per group (one group per lane under test).
struct Concurrency {
  std::atomic<int> now{0};
  std::atomic<int> max{0};
  std::atomic<int> units{0};
};

// A call whose units each hold a thread for `hold` while counting themselves in `group`.
class HoldingCall final : public Call {
 public:
  HoldingCall(Concurrency* group, uint64_t units, std::chrono::microseconds hold)
      : group_(group), units_(units), hold_(hold) {}
  uint64_t units() const override { return units_; }
  void run(uint64_t, const CallContext& ctx) override {
    int now = group_->now.fetch_add(1) + 1;
    int seen = group_->max.load();
    while (now > seen && !group_->max.compare_exchange_weak(seen, now)) {
    }
    auto until = std::chrono::steady_clock::now() + hold_;
    while (std::chrono::steady_clock::now() < until && !ctx.cancelled()) std::this_thread::sleep_for(50us);
    group_->units.fetch_add(1);
    group_->now.fetch_sub(1);
  }
  Result finish() override { return Result::of_number(0); }

 private:
  Concurrency* group_;
  uint64_t units_;
  std::chrono::microseconds hold_;
};

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
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

  // The only thread is busy: this job stays queued, and cancelling it completes it at once, on
  // this thread, without waiting for a thread to reach its ticket.
  auto call = std::make_unique<CountingCall>(100);
  CountingCall* raw = call.get();
  Job* queued = make_job(sink, 2, nullptr, std::move(call));
  pool.submit(queued, 1);
  queued->cancel();
  CHECK(sink.tags().size() == 1);
  CHECK(sink.tags().at(0) == 2);
  CHECK(sink.statuses().at(0) == Job::Status::Cancelled);

  running->cancel();
  sink.wait_for(2);
  CHECK(sink.statuses().at(1) == Job::Status::Cancelled);
  running->release();
  pool.shutdown();  // the queued job's ticket is consumed by now: it must not have run a unit
  int runs = 0;
  for (const auto& r : raw->runs()) runs += r.load();
  CHECK(runs == 0);
  queued->release();  // only now: `raw` lives inside the job
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


TEST_CASE("cancelling a job costs O(1) whatever units are left, queued or running") {
  ThreadPool pool;
  pool.reserve(1);
  RecordingSink sink;
  std::atomic<bool> started{false};
  // 10^12 units behind a unit that runs until cancelled: walking them would take hours.
  auto huge = std::make_unique<ManyUnitsCall>(uint64_t{1} << 40);
  ManyUnitsCall* raw = huge.get();
  Job* running = make_job(sink, 1, nullptr, std::make_unique<UntilCancelledCall>(&started), std::move(huge));
  pool.submit(running, 1);
  while (!started.load()) std::this_thread::yield();
  // Queued behind it: 1000 more jobs of 10^12 units each, none started.
  std::vector<Job*> queued;
  for (int i = 0; i < 1000; ++i) {
    queued.push_back(make_job(sink, 100 + i, nullptr, std::make_unique<ManyUnitsCall>(uint64_t{1} << 40)));
    pool.submit(queued.back(), 1);
  }
  auto start = std::chrono::steady_clock::now();
  for (Job* job : queued) job->cancel();
  running->cancel();
  const double cancel_ms = ms_since(start);
  std::printf("  cancelling 1001 jobs of 2^40 units took %.3f ms\n", cancel_ms);
  CHECK(cancel_ms < 500);        // microseconds in fact; walking the units would take hours
  CHECK(sink.tags().size() >= 1000);  // the queued ones completed on this thread, at once
  sink.wait_for(1001);
  CHECK(sink.tags().size() == 1001);
  CHECK(ms_since(start) < 5000);
  bool all_cancelled = true;
  for (auto status : sink.statuses()) all_cancelled = all_cancelled && status == Job::Status::Cancelled;
  CHECK(all_cancelled);
  CHECK(raw->ran() == 0);
  running->release();
  for (Job* job : queued) job->release();
  pool.shutdown();
}

TEST_CASE("a lane never runs more of its tickets at once than its cap, whatever threads exist") {
  ThreadPool pool;
  pool.reserve(8);  // as if an earlier Pool({ size: 8 }) had started them
  RecordingSink sink;
  ThreadPool::Lane* one = pool.open_lane(1);
  ThreadPool::Lane* three = pool.open_lane(3);
  Concurrency in_one, in_three, in_default;
  const auto hold = check::kFull ? 2000us : 1000us;
  constexpr int kJobs = 48;
  std::vector<ThreadPool::Submission> burst;
  for (int i = 0; i < kJobs; ++i) {
    // Each job asks for more tickets than its lane's cap, as a big call does.
    burst.push_back({make_job(sink, i, nullptr, std::make_unique<HoldingCall>(&in_one, 4, hold)), 4, one});
    burst.push_back({make_job(sink, 1000 + i, nullptr, std::make_unique<HoldingCall>(&in_three, 4, hold)), 4, three});
    burst.push_back({make_job(sink, 2000 + i, nullptr, std::make_unique<HoldingCall>(&in_default, 4, hold)), 4, nullptr});
  }
  pool.submit(burst.data(), burst.size());
  for (auto& s : burst) s.job->release();
  sink.wait_for(3 * kJobs);
  CHECK(sink.tags().size() == 3 * kJobs);
  CHECK(in_one.units.load() == 4 * kJobs);
  CHECK(in_three.units.load() == 4 * kJobs);
  CHECK(in_one.max.load() == 1);
  CHECK(in_three.max.load() <= 3);
  CHECK(in_three.max.load() >= 2);    // capped, not serialized: it used the room it has
  CHECK(in_default.max.load() >= 2);  // the uncapped lane used the threads the others left
  std::printf("  max at once: cap 1 -> %d, cap 3 -> %d, uncapped -> %d\n", in_one.max.load(), in_three.max.load(),
              in_default.max.load());
  auto stats = pool.lane_stats(one);
  CHECK(stats.cap == 1);
  CHECK(stats.max_active == 1);
  CHECK(pool.lane_stats(three).max_active <= 3);
  pool.close_lane(one);
  pool.close_lane(three);
  pool.shutdown();
}

TEST_CASE("a job's start and run time, and its lane's thread time, are what its units took") {
  ThreadPool pool;
  pool.reserve(2);
  RecordingSink sink;
  ThreadPool::Lane* lane = pool.open_lane(2);
  Concurrency group;
  const int64_t before = monotonic_ns();
  // 4 units of 5 ms on 2 threads: at least 10 ms of wall time, at least 20 ms of thread time.
  Job* job = make_job(sink, 1, nullptr, std::make_unique<HoldingCall>(&group, 4, 5000us));
  pool.submit(job, 2, lane);
  sink.wait_for(1);
  const int64_t after = monotonic_ns();
  auto [started, run] = sink.timings().at(0);
  CHECK(started >= before);
  CHECK(started <= after);
  CHECK(run >= 10'000'000);
  CHECK(started + run <= after);
  // A job cancelled before any thread took it up has neither.
  std::atomic<bool> blocking{false};
  Job* blocker = make_job(sink, 2, nullptr, std::make_unique<UntilCancelledCall>(&blocking));
  Job* never = make_job(sink, 3, nullptr, std::make_unique<HoldingCall>(&group, 1, 0us));
  ThreadPool::Lane* one = pool.open_lane(1);
  pool.submit(blocker, 1, one);
  while (!blocking.load()) std::this_thread::yield();
  pool.submit(never, 1, one);
  never->cancel();
  blocker->cancel();
  sink.wait_for(3);
  auto tags = sink.tags();
  auto timings = sink.timings();
  for (size_t i = 0; i < tags.size(); ++i) {
    if (tags[i] == 3) CHECK(timings[i].first == 0 && timings[i].second == 0);
    if (tags[i] == 2) CHECK(timings[i].first > 0);
  }
  job->release();
  blocker->release();
  never->release();
  pool.close_lane(one);
  // busy_ns is added when a thread takes its next ticket: wait for both threads to have done so.
  int64_t busy = 0;
  for (int i = 0; i < 2000 && busy < 20'000'000; ++i) {
    busy = pool.lane_stats(lane).busy_ns;
    if (busy < 20'000'000) std::this_thread::sleep_for(1ms);
  }
  // Each thread's busy time lies between `before` and now (it ends after the job's release(),
  // which may come after `after` on a loaded machine), so two threads' sum is at most twice that.
  CHECK(busy >= 20'000'000);
  CHECK(busy <= 2 * (monotonic_ns() - before));
  pool.close_lane(lane);
  pool.shutdown();
}

TEST_CASE("a lane at its cap holds up no other lane, and no thread idles while one may start") {
  ThreadPool pool;
  pool.reserve(2);
  RecordingSink sink;
  ThreadPool::Lane* slow = pool.open_lane(1);
  ThreadPool::Lane* fast = pool.open_lane(1);
  std::atomic<bool> started{false};
  Job* blocker = make_job(sink, 1, nullptr, std::make_unique<UntilCancelledCall>(&started));
  pool.submit(blocker, 1, slow);
  while (!started.load()) std::this_thread::yield();
  // Queued behind the blocker in its own lane: must wait. In the other lane: must all run on
  // the second thread, though they were submitted after the slow lane's.
  Concurrency in_slow, in_fast;
  Job* waiting = make_job(sink, 2, nullptr, std::make_unique<HoldingCall>(&in_slow, 1, 0us));
  pool.submit(waiting, 1, slow);
  for (int i = 0; i < 200; ++i) {
    Job* job = make_job(sink, 10 + i, nullptr, std::make_unique<HoldingCall>(&in_fast, 1, 0us));
    pool.submit(job, 1, fast);
    job->release();
  }
  sink.wait_for(200);
  CHECK(in_fast.units.load() == 200);
  CHECK(in_slow.units.load() == 0);
  blocker->cancel();
  sink.wait_for(202);
  CHECK(in_slow.units.load() == 1);
  blocker->release();
  waiting->release();
  pool.close_lane(slow);
  pool.close_lane(fast);
  pool.shutdown();
}

TEST_CASE("a lane never waits for another lane's long jobs: a thread starts for it when every thread is busy") {
  ThreadPool pool;
  pool.reserve(2);  // as the first Pool({ size: 2 }) does
  RecordingSink sink;
  ThreadPool::Lane* busy = pool.open_lane(2);
  ThreadPool::Lane* other = pool.open_lane(2);
  std::atomic<bool> first{false}, second{false};
  Job* blockers[2] = {make_job(sink, 1, nullptr, std::make_unique<UntilCancelledCall>(&first)),
                      make_job(sink, 2, nullptr, std::make_unique<UntilCancelledCall>(&second))};
  pool.submit(blockers[0], 1, busy);
  pool.submit(blockers[1], 1, busy);
  while (!first.load() || !second.load()) std::this_thread::yield();
  // Both threads are held by `busy`: `other`'s calls run anyway, two at a time, on new threads.
  Concurrency in_other;
  for (int i = 0; i < 20; ++i) {
    Job* job = make_job(sink, 10 + i, nullptr, std::make_unique<HoldingCall>(&in_other, 1, 500us));
    pool.submit(job, 1, other);
    job->release();
  }
  sink.wait_for(20);
  CHECK(in_other.units.load() == 20);
  CHECK(in_other.max.load() == 2);
  CHECK(pool.thread_count() == 4);  // the sum of the busy lanes' caps, no more
  // The default lane (the core's own, uncapped) gets only what reserve() started.
  std::atomic<bool> third{false};
  Concurrency in_default;
  Job* queued = make_job(sink, 100, nullptr, std::make_unique<HoldingCall>(&in_default, 1, 0us));
  Job* blocker3 = make_job(sink, 3, nullptr, std::make_unique<UntilCancelledCall>(&third));
  pool.submit(blocker3, 1, busy);  // busy is at its cap: waits
  for (auto* b : blockers) b->cancel();
  while (!third.load()) std::this_thread::yield();
  CHECK(pool.thread_count() == 4);
  blocker3->cancel();
  pool.submit(queued, 1, nullptr);
  sink.wait_for(24);
  CHECK(in_default.units.load() == 1);
  for (auto* b : blockers) b->release();
  blocker3->release();
  queued->release();
  pool.close_lane(busy);
  pool.close_lane(other);
  pool.shutdown();
}

TEST_CASE("a lane closed with tickets queued still runs them, then goes") {
  ThreadPool pool;
  pool.reserve(3);
  RecordingSink sink;
  for (int round = 0; round < 50; ++round) {
    ThreadPool::Lane* lane = pool.open_lane(1 + round % 3);
    for (int i = 0; i < 20; ++i) {
      Job* job = make_job(sink, static_cast<uint64_t>(round * 100 + i), nullptr, std::make_unique<CountingCall>(5));
      pool.submit(job, 3, lane);
      if (i % 7 == 0) job->cancel();
      job->release();
    }
    pool.close_lane(lane);  // at once: the lane must outlive its tickets by itself
  }
  sink.wait_for(50 * 20);
  CHECK(sink.tags().size() == 50 * 20);
  pool.shutdown();
}

int main() { return check::run_all(); }
