// The sha256 and sha256File kernels (kernels/sha256.cpp, kernels/sha256_file.cpp) as the core
// runs them: how a call's messages are cut into units, digests of single calls and of map
// chunks (make_batch) against the one-shot function, progress and cancellation, files read on
// pool threads, and the SystemErrors a missing file or a directory gives, through Jobs on a
// private ThreadPool. The algorithm itself is test_sha256.cpp's.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "check.hpp"
#include "job.hpp"
#include "kernel.hpp"
#include "sha256/sha256.hpp"
#include "thread_pool.hpp"

using namespace spindle;
using namespace std::chrono_literals;

namespace {

using Bytes = std::vector<uint8_t>;

const KernelInfo& kernel_named(const char* name) {
  for (const auto& k : kernel_registry()) {
    if (std::string(k.name) == name) return k;
  }
  throw std::logic_error("no such kernel");
}

Bytes random_bytes(size_t n, std::mt19937_64& rng) {
  Bytes b(n);
  for (auto& x : b) x = uint8_t(rng());
  return b;
}

std::string digest_of(const Bytes& m) {
  uint8_t d[32];
  sha256(m.data(), m.size(), d);
  return sha256_hex(d);
}

// The hex digests in a Bytes result holding `n` digests back to back.
std::vector<std::string> digests_in(const Result& r, size_t n) {
  std::vector<std::string> out;
  if (r.kind != Result::Kind::Bytes || r.bytes.size() != 32 * n) return out;
  for (size_t i = 0; i < n; ++i) out.push_back(sha256_hex(r.bytes.data() + 32 * i));
  return out;
}

// Runs every unit of `call` on this thread, then finish().
Result run_inline(Call& call, bool cancelled = false, int64_t* progress = nullptr) {
  std::atomic<bool> flag{cancelled};
  CallContext ctx(&flag, progress);
  for (uint64_t u = 0; u < call.units(); ++u) call.run(u, ctx);
  return call.finish();
}

std::unique_ptr<Call> sha256_batch(const std::vector<Bytes>& messages) {
  std::vector<Arg> args;
  for (const Bytes& m : messages) args.push_back(Arg::of_view(const_cast<uint8_t*>(m.data()), m.size()));
  std::vector<ArgTuple> tuples;
  for (const Arg& a : args) tuples.push_back({&a, 1});
  return kernel_named("sha256").make_batch(tuples.data(), tuples.size());
}

std::unique_ptr<Call> sha256_file(const std::string& path) {
  Arg arg = Arg::of_view(const_cast<char*>(path.data()), path.size());
  return kernel_named("sha256File").make(&arg, 1);
}

// Records completed jobs; lets a test wait for them.
class Sink final : public CompletionSink {
 public:
  void job_done(Job& job) override {
    std::lock_guard<std::mutex> lock(mutex_);
    statuses_.push_back(job.status());
    results_.emplace_back(job.results().begin(), job.results().end());
    done_.notify_all();
  }
  void wait_for(size_t n) {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait_for(lock, 30s, [&] { return statuses_.size() >= n; });
  }
  std::vector<Job::Status> statuses_;
  std::vector<std::vector<Result>> results_;

 private:
  std::mutex mutex_;
  std::condition_variable done_;
};

// A fresh temporary directory, removed with its files at the end of the test case.
struct TempDir {
  std::string path;
  std::vector<std::string> files;
  TempDir() {
    char name[] = "/tmp/spindle-sha256-kernels-XXXXXX";
    path = mkdtemp(name);
  }
  ~TempDir() {
    for (const auto& f : files) unlink(f.c_str());
    rmdir(path.c_str());
  }
  std::string write(const std::string& name, const Bytes& content) {
    const std::string file = path + "/" + name;
    std::ofstream(file, std::ios::binary).write(reinterpret_cast<const char*>(content.data()), std::streamsize(content.size()));
    files.push_back(file);
    return file;
  }
};

constexpr size_t kMiB = size_t(1) << 20;

TEST_CASE("sha256: a single call gives the one-shot digest, for every size class") {
  std::mt19937_64 rng(1);
  for (size_t size : {size_t(0), size_t(1), size_t(55), size_t(56), size_t(64), size_t(1000), kMiB / 2 - 1, kMiB / 2, kMiB - 1, kMiB, 3 * kMiB + 5}) {
    const Bytes m = random_bytes(size, rng);
    Arg arg = Arg::of_view(const_cast<uint8_t*>(m.data()), m.size());
    auto call = kernel_named("sha256").make(&arg, 1);
    CHECK(call->units() == 1);
    int64_t progress = 0;
    const Result r = run_inline(*call, false, &progress);
    CHECK(digests_in(r, 1) == std::vector<std::string>{digest_of(m)});
    CHECK(progress == int64_t(size));
  }
}

TEST_CASE("sha256: a map chunk is cut into groups of small messages and long messages alone") {
  std::mt19937_64 rng(2);
  // 1000 small messages: groups of at most 256 messages.
  std::vector<Bytes> small;
  for (int i = 0; i < 1000; ++i) small.push_back(random_bytes(rng() % 130, rng));
  auto call = sha256_batch(small);
  CHECK(call->units() == 4);
  // 100 KiB messages: a group closes once it holds 256 KiB.
  std::vector<Bytes> medium(10, random_bytes(100 * 1024, rng));
  CHECK(sha256_batch(medium)->units() == 4);  // 3 + 3 + 3 + 1
  // A long message between small ones is a unit of its own.
  std::vector<Bytes> mixed{random_bytes(10, rng), random_bytes(20, rng), random_bytes(2 * kMiB, rng), random_bytes(30, rng)};
  CHECK(sha256_batch(mixed)->units() == 3);
  std::vector<Bytes> long_first{random_bytes(kMiB, rng), random_bytes(5, rng)};
  CHECK(sha256_batch(long_first)->units() == 2);
  CHECK(sha256_batch({})->units() == 1);  // an empty chunk still has its one (empty) unit
}

TEST_CASE("sha256: map chunks give every message's digest, in order, with progress") {
  std::mt19937_64 rng(3);
  std::vector<Bytes> messages;
  size_t total = 0;
  for (int i = 0; i < 3000; ++i) {
    const size_t size = i % 500 == 7 ? kMiB + rng() % 100000 : i % 50 == 0 ? rng() % 300000 : rng() % 300;
    messages.push_back(random_bytes(size, rng));
    total += size;
  }
  std::vector<std::string> expected;
  for (const Bytes& m : messages) expected.push_back(digest_of(m));
  int64_t progress = 0;
  auto call = sha256_batch(messages);
  CHECK(digests_in(run_inline(*call, false, &progress), messages.size()) == expected);
  CHECK(progress == int64_t(total));
  CHECK(digests_in(run_inline(*sha256_batch({})), 0).empty());
}

TEST_CASE("sha256: a cancelled long message stops at its next slice") {
  std::mt19937_64 rng(4);
  const Bytes m = random_bytes(4 * kMiB, rng);
  Arg arg = Arg::of_view(const_cast<uint8_t*>(m.data()), m.size());
  auto call = kernel_named("sha256").make(&arg, 1);
  int64_t progress = 0;
  run_inline(*call, true, &progress);
  CHECK(progress == 0);
}

TEST_CASE("sha256: chunks run as Jobs on several threads give the same digests") {
  std::mt19937_64 rng(5);
  ThreadPool pool;
  pool.reserve(4);
  Sink sink;
  std::vector<std::vector<Bytes>> chunks(20);
  for (auto& chunk : chunks) {
    for (int i = 0; i < 700; ++i) chunk.push_back(random_bytes(rng() % 2000, rng));
  }
  for (size_t c = 0; c < chunks.size(); ++c) {
    std::vector<std::unique_ptr<Call>> calls;
    calls.push_back(sha256_batch(chunks[c]));
    Job* job = new Job(std::move(calls), nullptr, &sink, c);
    pool.submit(job, 4);
    job->release();
  }
  sink.wait_for(chunks.size());
  pool.shutdown();
  // Completion order is any; match chunks by their first digest.
  int matched = 0;
  for (const auto& results : sink.results_) {
    for (const auto& chunk : chunks) {
      std::vector<std::string> expected;
      for (const Bytes& m : chunk) expected.push_back(digest_of(m));
      if (results.size() == 1 && digests_in(results[0], chunk.size()) == expected) ++matched;
    }
  }
  CHECK(matched == int(chunks.size()));
}

TEST_CASE("sha256File: files of every size, read on pool threads") {
  std::mt19937_64 rng(6);
  TempDir dir;
  ThreadPool pool;
  pool.reserve(3);
  Sink sink;
  std::vector<Bytes> contents;
  std::vector<std::unique_ptr<Call>> calls;
  for (size_t size : {size_t(0), size_t(1), size_t(256 * 1024), size_t(256 * 1024 + 1), 3 * kMiB + 7}) {
    contents.push_back(random_bytes(size, rng));
    calls.push_back(sha256_file(dir.write("f" + std::to_string(size), contents.back())));
  }
  int64_t progress = 0;
  Job* job = new Job(std::move(calls), &progress, &sink, 1);
  pool.submit(job, 3);
  job->release();
  sink.wait_for(1);
  pool.shutdown();
  CHECK(sink.statuses_.at(0) == Job::Status::Ok);
  size_t total = 0;
  for (size_t i = 0; i < contents.size(); ++i) {
    CHECK(digests_in(sink.results_.at(0).at(i), 1) == std::vector<std::string>{digest_of(contents[i])});
    total += contents[i].size();
  }
  CHECK(progress == int64_t(total));
}

TEST_CASE("sha256File: a missing file or a directory is a SystemError with errno, call and path") {
  TempDir dir;
  const std::string missing = dir.path + "/missing";
  try {
    run_inline(*sha256_file(missing));
    CHECK(false);
  } catch (const SystemError& e) {
    CHECK(e.errnum == ENOENT);
    CHECK(e.syscall == "open");
    CHECK(e.path == missing);
    CHECK(std::string(e.what()) == "No such file or directory, open '" + missing + "'");
  }
  try {
    run_inline(*sha256_file(dir.path));
    CHECK(false);
  } catch (const SystemError& e) {
    CHECK(e.errnum == EISDIR);
    CHECK(e.syscall == "read");
    CHECK(e.path == dir.path);
  }
  // Through a Job: the chunk fails with the failing file's error as its result.
  ThreadPool pool;
  pool.reserve(2);
  Sink sink;
  std::vector<std::unique_ptr<Call>> calls;
  calls.push_back(sha256_file(dir.write("present", {1, 2, 3})));
  calls.push_back(sha256_file(missing));
  Job* job = new Job(std::move(calls), nullptr, &sink, 2);
  pool.submit(job, 2);
  job->release();
  sink.wait_for(1);
  pool.shutdown();
  CHECK(sink.statuses_.at(0) == Job::Status::Failed);
  const Result& error = sink.results_.at(0).at(0);
  CHECK(error.kind == Result::Kind::Error);
  CHECK(error.error->errnum == ENOENT);
  CHECK(error.error->syscall == "open");
  CHECK(error.error->path == missing);
}

TEST_CASE("sha256File: a FIFO nobody writes to, or a character device, fails with EINVAL at once") {
  TempDir dir;
  const std::string fifo = dir.path + "/fifo";
  CHECK(mkfifo(fifo.c_str(), 0600) == 0);
  dir.files.push_back(fifo);
  for (const std::string& path : {fifo, std::string("/dev/zero"), std::string("/dev/null")}) {
    // On a thread of its own: a blocking open() would never return, and /dev/zero never ends.
    // If it has not returned in 10 s, the test fails, the call is cancelled and a writer is
    // opened to release it.
    std::atomic<bool> done{false};
    std::atomic<bool> cancelled{false};
    int errnum = 0;
    std::string syscall, where;
    std::thread reader([&] {
      try {
        const CallContext ctx(&cancelled, nullptr);
        sha256_file(path)->run(0, ctx);
      } catch (const SystemError& e) {
        errnum = e.errnum;
        syscall = e.syscall;
        where = e.path;
      }
      done.store(true);
    });
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!done.load() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
    CHECK(done.load());
    if (!done.load()) {
      cancelled.store(true);
      int writer = open(fifo.c_str(), O_WRONLY | O_NONBLOCK);  // lets a blocked open() of the FIFO return
      if (writer >= 0) close(writer);
    }
    reader.join();
    CHECK(errnum == EINVAL);
    CHECK(syscall == "open");
    CHECK(where == path);
  }
}

TEST_CASE("sha256 and sha256File factories reject bad arguments with the right error type") {
  auto type_of = [](const char* name, std::vector<Arg> args) -> int {
    try {
      kernel_named(name).make(args.data(), args.size());
      return 0;
    } catch (const ArgumentError& e) {
      return e.type == ArgumentError::Type::TypeError ? 1 : 2;
    }
  };
  uint8_t bytes[4] = {'/', 'a', 0, 'b'};
  CHECK(type_of("sha256", {Arg::of_view(bytes, 4)}) == 0);
  CHECK(type_of("sha256", {Arg::of_view(bytes, 4), Arg::of_number(2)}) == 0);
  CHECK(type_of("sha256", {}) == 1);
  CHECK(type_of("sha256", {Arg::of_number(1)}) == 1);
  CHECK(type_of("sha256", {Arg::of_view(bytes, 4), Arg::of_number(3)}) == 2);
  CHECK(type_of("sha256", {Arg::of_view(bytes, 4), Arg::of_number(0.5)}) == 2);
  CHECK(type_of("sha256File", {Arg::of_view(bytes, 2)}) == 0);
  CHECK(type_of("sha256File", {Arg::of_view(bytes, 4)}) == 1);  // a NUL in the path
  CHECK(type_of("sha256File", {Arg::of_number(1)}) == 1);
  CHECK(type_of("sha256File", {Arg::of_view(bytes, 2), Arg::of_number(7)}) == 2);
  // A chunk names the call that is wrong.
  Arg good = Arg::of_view(bytes, 4), bad = Arg::of_number(1);
  ArgTuple tuples[] = {{&good, 1}, {&bad, 1}};
  try {
    kernel_named("sha256").make_batch(tuples, 2);
    CHECK(false);
  } catch (const ArgumentError& e) {
    CHECK(std::string(e.what()) == "sha256: call 1: data must be a TypedArray or DataView");
  }
}

}  // namespace

int main() { return check::run_all(); }
