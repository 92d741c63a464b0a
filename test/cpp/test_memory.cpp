// The core's per-task memory: SmallVector (a job's calls and results) and the recycler (Job and
// Call storage), alone and under a burst of jobs freed on other threads. Run under
// ThreadSanitizer and AddressSanitizer by ctest (under ASan the recycler hands every block back
// to malloc, so the reuse checks are skipped there and ASan checks the rest).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "check.hpp"
#include "job.hpp"
#include "kernel.hpp"
#include "recycler.hpp"
#include "small_vector.hpp"
#include "thread_pool.hpp"

using namespace spindle;
using namespace std::chrono_literals;

namespace {

class Sink final : public CompletionSink {
 public:
  void job_done(Job& job) override {
    std::lock_guard<std::mutex> lock(mutex_);
    ++done_count_;
    if (job.status() == Job::Status::Failed) failures_.push_back(job.results()[0].error->message);
    if (job.status() == Job::Status::Ok) {
      for (const Result& r : job.results()) numbers_.push_back(r.number);
    }
    done_.notify_all();
  }
  void wait_for(size_t n) {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait_for(lock, 30s, [&] { return done_count_ >= n; });
  }
  size_t done_count() { std::lock_guard<std::mutex> l(mutex_); return done_count_; }
  std::vector<std::string> failures() { std::lock_guard<std::mutex> l(mutex_); return failures_; }
  std::vector<double> numbers() { std::lock_guard<std::mutex> l(mutex_); return numbers_; }

 private:
  std::mutex mutex_;
  std::condition_variable done_;
  size_t done_count_ = 0;
  std::vector<std::string> failures_;
  std::vector<double> numbers_;
};

// Returns its number; a call of the smallest kind, like noop's.
class NumberCall final : public Call {
 public:
  explicit NumberCall(double x) : x_(x) {}
  void run(uint64_t, const CallContext&) override {}
  Result finish() override { return Result::of_number(x_); }

 private:
  double x_;
};

// Every unit throws: many threads record a failure at once, and exactly one must win.
class AllUnitsThrowCall final : public Call {
 public:
  uint64_t units() const override { return 4096; }
  void run(uint64_t unit, const CallContext&) override { throw std::runtime_error("unit " + std::to_string(unit)); }
  Result finish() override { return Result::of_number(0); }
};

}  // namespace

TEST_CASE("SmallVector keeps one element inline and spills in order") {
  SmallVector<std::unique_ptr<int>> v;
  CHECK(v.empty());
  CHECK(v.span().empty());
  v.push_back(std::make_unique<int>(1));
  CHECK(v.size() == 1);
  CHECK(*v[0] == 1);
  CHECK(v.begin() + 1 == v.end());
  for (int i = 2; i <= 100; ++i) v.push_back(std::make_unique<int>(i));
  CHECK(v.size() == 100);
  bool in_order = true;
  int expected = 1;
  for (auto& p : v) in_order = in_order && *p == expected++;
  CHECK(in_order);
  v.clear();
  CHECK(v.empty());
  v.push_back(std::make_unique<int>(7));
  CHECK(v.size() == 1);
  CHECK(*v[0] == 7);
}

TEST_CASE("SmallVector reserve and clear on the inline element") {
  SmallVector<Result> results;
  results.reserve(1);  // stays inline
  results.push_back(Result::of_number(3));
  CHECK(results.span().size() == 1);
  CHECK(results[0].number == 3);
  results.clear();
  CHECK(results.empty());
  results.push_back(Result::of_error("RangeError", "no"));
  CHECK(results[0].error->name == "RangeError");
  results.reserve(3);  // spills the inline element first
  results.push_back(Result::of_number(4));
  CHECK(results.size() == 2);
  CHECK(results[0].kind == Result::Kind::Error);
  CHECK(results[1].number == 4);
}

TEST_CASE("the recycler reuses a block freed on the allocating thread, per size class") {
  void* a = recycler::allocate(40);
  void* b = recycler::allocate(300);
  CHECK(a != nullptr);
  CHECK(b != nullptr);
  CHECK(a != b);
  recycler::release(a, 40);
  recycler::release(b, 300);
  void* a2 = recycler::allocate(33);  // the same 48-byte class as 40
  void* b2 = recycler::allocate(300);
  if (recycler::kEnabled) {
    CHECK(a2 == a);
    CHECK(b2 == b);
  }
  recycler::release(a2, 33);
  recycler::release(b2, 300);
  // Beyond the largest class: plain malloc, any size.
  void* big = recycler::allocate(4096);
  static_cast<char*>(big)[4095] = 1;
  recycler::release(big, 4096);
  recycler::release(nullptr, 16);
}

TEST_CASE("a thread that never allocates keeps no blocks; one that does keeps them, bounded") {
  std::vector<void*> blocks;
  for (int i = 0; i < 1000; ++i) blocks.push_back(recycler::allocate(64));
  // Freed on a thread that never allocated through the recycler (as a pool thread dropping a
  // job's last reference): straight back to malloc.
  size_t kept_by_other = 1;
  std::thread([&] {
    for (void* b : blocks) recycler::release(b, 64);
    kept_by_other = recycler::kept_blocks();
  }).join();
  CHECK(kept_by_other == 0);
  // A thread that allocates keeps what it frees, up to its per-class bound (1 MiB of 96-byte
  // blocks), and its lists are freed when it exits (LeakSanitizer checks that under ASan).
  size_t kept_small = 0, kept_many = 0;
  std::thread([&] {
    std::vector<void*> mine;
    for (int i = 0; i < 100; ++i) mine.push_back(recycler::allocate(96));
    for (void* b : mine) recycler::release(b, 96);
    kept_small = recycler::kept_blocks();
    mine.clear();
    for (int i = 0; i < 20000; ++i) mine.push_back(recycler::allocate(96));
    for (void* b : mine) recycler::release(b, 96);
    kept_many = recycler::kept_blocks();
  }).join();
  CHECK(kept_small == (recycler::kEnabled ? 100u : 0u));
  CHECK(kept_many == (recycler::kEnabled ? (size_t{1} << 20) / 96 : 0u));
}

TEST_CASE("a burst of one-call jobs, released on the submitting thread and on pool threads") {
  ThreadPool pool;
  pool.reserve(4);
  Sink sink;
  const int rounds = check::kFull ? 50 : 10;
  constexpr int kPerRound = 2000;
  for (int r = 0; r < rounds; ++r) {
    std::vector<Job*> jobs;
    std::vector<ThreadPool::Submission> tickets;
    for (int i = 0; i < kPerRound; ++i) {
      Job* job = new Job(std::make_unique<NumberCall>(i), nullptr, &sink, static_cast<uint64_t>(i));
      jobs.push_back(job);
      tickets.push_back({job, 1});
    }
    pool.submit(tickets.data(), tickets.size());
    // Half released at once (a pool thread usually drops the last reference), half after
    // completion (this thread does), as the addon's two cases.
    for (int i = 0; i < kPerRound; i += 2) jobs[i]->release();
    sink.wait_for(static_cast<size_t>((r + 1) * kPerRound));
    for (int i = 1; i < kPerRound; i += 2) jobs[i]->release();
  }
  pool.shutdown();
  CHECK(sink.done_count() == static_cast<size_t>(rounds * kPerRound));
  auto numbers = sink.numbers();
  double sum = 0;
  for (double x : numbers) sum += x;
  CHECK(sum == static_cast<double>(rounds) * kPerRound * (kPerRound - 1) / 2);
}

TEST_CASE("a map chunk's many calls give their results in call order") {
  ThreadPool pool;
  pool.reserve(4);
  Sink sink;
  std::vector<std::unique_ptr<Call>> calls;
  for (int i = 0; i < 500; ++i) calls.push_back(std::make_unique<NumberCall>(i));
  Job* job = new Job(std::move(calls), nullptr, &sink, 1);
  pool.submit(job, 4);
  job->release();
  sink.wait_for(1);
  pool.shutdown();
  auto numbers = sink.numbers();
  CHECK(numbers.size() == 500);
  bool in_order = numbers.size() == 500;
  for (size_t i = 0; in_order && i < numbers.size(); ++i) in_order = numbers[i] == static_cast<double>(i);
  CHECK(in_order);
}

TEST_CASE("units failing on every thread at once record exactly one failure") {
  ThreadPool pool;
  pool.reserve(4);
  Sink sink;
  const int jobs = check::kFull ? 200 : 40;
  for (int j = 0; j < jobs; ++j) {
    Job* job = new Job(std::make_unique<AllUnitsThrowCall>(), nullptr, &sink, static_cast<uint64_t>(j));
    pool.submit(job, 4);
    job->release();
  }
  sink.wait_for(static_cast<size_t>(jobs));
  pool.shutdown();
  auto failures = sink.failures();
  CHECK(failures.size() == static_cast<size_t>(jobs));
  bool all_named = true;
  for (const auto& m : failures) all_named = all_named && m.rfind("unit ", 0) == 0;
  CHECK(all_named);
}

int main() { return check::run_all(); }
