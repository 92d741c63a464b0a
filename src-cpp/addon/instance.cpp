#include "instance.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>

#include "thread_pool.hpp"

namespace spindle::addon {

namespace {

// Every live Instance, for the atexit fence. Leaked on purpose (read at exit).
std::mutex& registry_mutex() {
  static auto* m = new std::mutex();
  return *m;
}
std::vector<Instance*>& registry() {
  static auto* v = new std::vector<Instance*>();
  return *v;
}

// Status codes of the records array handed to JS (src-ts/backends/native.ts reads them).
enum RecordStatus : int {
  kOkNumber = 0,   // value: the result
  kOkBatch = 1,    // value: index into extras of a Float64Array of results
  kFailed = 2,     // value: index into extras of [errorName, message], or for a failed system
                   // call [errorName, message, errno (> 0), syscall, path]
  kCancelled = 3,  // value: unused
  kOkBytes = 4,    // value: index into extras of a Buffer: the call's result bytes, or for a map
                   // chunk every call's result bytes back to back, all of one length
};

// Doubles per record: [tag, status, value, started_ns, run_ns] (see settle_batch).
constexpr size_t kRecordStride = 5;

// The Bytes results of a job, concatenated in call order: one Buffer, one copy. A chunk made
// by make_batch has a single result that already holds every call's bytes.
Napi::Value bytes_of(Napi::Env env, std::span<const Result> results) {
  size_t total = 0;
  for (const Result& r : results) total += r.bytes.size();
  auto buffer = Napi::Buffer<uint8_t>::New(env, total);
  uint8_t* at = buffer.Data();
  for (const Result& r : results) {
    if (!r.bytes.empty()) std::memcpy(at, r.bytes.data(), r.bytes.size());
    at += r.bytes.size();
  }
  return buffer;
}

Napi::Value error_of(Napi::Env env, const Result& r) {
  static const ErrorInfo kUnknown{"Error", "unknown failure in a native kernel", 0, {}, {}};
  const ErrorInfo& e = r.error ? *r.error : kUnknown;
  const bool system = e.errnum != 0;
  auto error = Napi::Array::New(env, system ? 5 : 2);
  error.Set(0u, Napi::String::New(env, e.name));
  error.Set(1u, Napi::String::New(env, e.message));
  if (system) {
    error.Set(2u, Napi::Number::New(env, e.errnum));
    error.Set(3u, Napi::String::New(env, e.syscall));
    error.Set(4u, Napi::String::New(env, e.path));  // invalid UTF-8 becomes U+FFFD, as in Node's own errors
  }
  return error;
}

}  // namespace

Instance::Instance(Napi::Env env) : env_(env) {
  static bool exit_hook_installed = [] { return std::atexit(&Instance::on_process_exit) == 0; }();
  (void)exit_hook_installed;
  std::lock_guard<std::mutex> lock(registry_mutex());
  registry().push_back(this);
}

Instance::~Instance() {
  std::lock_guard<std::mutex> lock(registry_mutex());
  auto& all = registry();
  all.erase(std::remove(all.begin(), all.end(), this), all.end());
}

Instance& Instance::of(Napi::Env env) { return *env.GetInstanceData<Instance>(); }

void Instance::start(Napi::Function on_complete) {
  tsfn_ = Tsfn::New(env_, on_complete, "spindle.completions", 0 /* unbounded queue */, 1, this);
  // Idle until the first job: an idle pool must not keep the process alive.
  tsfn_.Unref(env_);
  // Registered after the TSFN: cleanup hooks run in reverse order, so this runs first.
  env_.AddCleanupHook(&Instance::on_env_cleanup, this);
  started_ = true;
}

void Instance::submit(std::vector<Submission>& submissions) {
  if (submissions.empty()) return;
  // Take each job into its slot; on the first bad id, give back the ones taken so far.
  size_t taken = 0;
  for (; taken < submissions.size(); ++taken) {
    Submission& s = submissions[taken];
    const uint64_t id = s.job->tag();
    if (id == 0 || id > kMaxJobId) break;
    if (id >= pending_.size()) pending_.resize(id + 1);  // geometric growth, as push_back's
    Pending& entry = pending_[id];
    if (entry.job) break;
    entry.job.reset(s.job);
    entry.keep_alive = std::move(s.keep_alive);
    entry.batch = s.batch;
  }
  if (taken < submissions.size()) {
    const uint64_t bad = submissions[taken].job->tag();
    for (size_t i = 0; i < taken; ++i) {
      Pending& entry = pending_[submissions[i].job->tag()];
      (void)entry.job.release();  // the caller's reference again
      submissions[i].keep_alive = std::move(entry.keep_alive);
      entry = Pending{};
    }
    throw Napi::RangeError::New(env_, "job id " + std::to_string(bad) + " is out of range or already pending");
  }

  if (pending_count_ == 0) tsfn_.Ref(env_);
  pending_count_ += submissions.size();
  tickets_.clear();
  for (auto& s : submissions) {
    uint64_t units = s.job->total_units();
    tickets_.push_back({s.job, static_cast<unsigned>(std::min<uint64_t>(std::max(s.parallelism, 1u), units)), s.lane});
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    native_inflight_ += submissions.size();
  }
  ThreadPool::shared().submit(tickets_.data(), tickets_.size());
}

bool Instance::cancel(uint64_t id) {
  if (id >= pending_.size() || !pending_[id].job) return false;
  // Its queued tickets stay queued: a thread that reaches one finds every unit claimed and
  // drops the ticket at once. Taking them out of the queue here would cost a walk of the queue.
  pending_[id].job->cancel();
  return true;
}

uint32_t Instance::open_lane(unsigned cap) {
  uint32_t id;
  if (!free_lane_ids_.empty()) {
    id = free_lane_ids_.back();
    free_lane_ids_.pop_back();
  } else {
    if (lanes_.size() > kMaxLanes) throw Napi::RangeError::New(env_, "too many open lanes");
    id = static_cast<uint32_t>(lanes_.size());
    lanes_.emplace_back();
  }
  lanes_[id] = {ThreadPool::shared().open_lane(cap), std::clamp(cap, 1u, ThreadPool::kMaxThreads)};
  return id;
}

void Instance::close_lane(uint32_t id) {
  if (lane(id, nullptr) == nullptr) throw Napi::RangeError::New(env_, "lane " + std::to_string(id) + " is not open");
  ThreadPool::shared().close_lane(lanes_[id].lane);
  lanes_[id] = {};
  free_lane_ids_.push_back(id);
}

ThreadPool::LaneStats Instance::lane_stats(uint32_t id) const {
  ThreadPool::Lane* open = lane(id, nullptr);
  if (open == nullptr) throw Napi::RangeError::New(env_, "lane " + std::to_string(id) + " is not open");
  return ThreadPool::shared().lane_stats(open);
}

ThreadPool::Lane* Instance::lane(double id, unsigned* cap) const {
  if (!(id >= 1 && id < static_cast<double>(lanes_.size())) || id != static_cast<double>(static_cast<uint32_t>(id))) return nullptr;
  const LaneEntry& entry = lanes_[static_cast<size_t>(id)];
  if (cap != nullptr) *cap = entry.cap;
  return entry.lane;
}

void Instance::job_done(Job& job) {
  std::lock_guard<std::mutex> lock(mutex_);
  completed_.push_back(&job);
  if (!closing_ && !wake_pending_) {
    wake_pending_ = true;
    // Called under mutex_ so that teardown, which sets closing_ under mutex_ and then waits
    // for native_inflight_ to reach 0, can never abort the TSFN while this call is in flight.
    tsfn_.NonBlockingCall();
  }
  // After this line the pool thread never touches this Instance again.
  if (--native_inflight_ == 0 && closing_) drained_.notify_all();
}

void Instance::deliver(Napi::Env env, Napi::Function on_complete, Instance* self, void*) {
  if (env == nullptr) return;  // the TSFN is being torn down; on_env_cleanup frees the jobs
  // Swapped, not moved, so that both vectors keep their capacity from one delivery to the next.
  std::vector<Job*>& batch = self->delivering_;
  batch.clear();
  {
    std::lock_guard<std::mutex> lock(self->mutex_);
    batch.swap(self->completed_);
    self->wake_pending_ = false;
  }
  if (batch.empty()) return;
  try {
    self->settle_batch(env, on_complete, batch);
  } catch (const Napi::Error& e) {
    e.ThrowAsJavaScriptException();  // surfaces as an uncaught exception, like any callback's
  }
}

void Instance::settle_batch(Napi::Env env, Napi::Function on_complete, const std::vector<Job*>& batch) {
  Napi::HandleScope scope(env);
  auto records = records_for(env, batch.size() * kRecordStride);
  Napi::Array extras;
  uint32_t extra_count = 0;
  auto add_extra = [&](Napi::Value v) {
    if (extras.IsEmpty()) extras = Napi::Array::New(env);
    extras.Set(extra_count, v);
    return static_cast<double>(extra_count++);
  };

  for (size_t i = 0; i < batch.size(); ++i) {
    Job* job = batch[i];
    Pending& entry = pending_[job->tag()];
    const bool batch_job = entry.batch;
    const std::span<const Result> results = job->results();
    double status = kCancelled;
    double value = 0;
    switch (job->status()) {
      case Job::Status::Ok:
        if (!results.empty() && results[0].kind == Result::Kind::Bytes) {
          status = kOkBytes;
          value = add_extra(bytes_of(env, results));
        } else if (!batch_job) {
          status = kOkNumber;
          value = results[0].number;
        } else {
          auto values = Napi::Float64Array::New(env, results.size());
          for (size_t k = 0; k < results.size(); ++k) values[k] = results[k].number;
          status = kOkBatch;
          value = add_extra(values);
        }
        break;
      case Job::Status::Failed:
        status = kFailed;
        value = add_extra(error_of(env, results[0]));
        break;
      case Job::Status::Cancelled:
      case Job::Status::Running:
        break;
    }
    double* record = &records[i * kRecordStride];
    record[0] = static_cast<double>(job->tag());
    record[1] = status;
    record[2] = value;
    // Stamps for stats(): the start in CLOCK_MONOTONIC ns, as uv_hrtime reads it, and the run time.
    record[3] = static_cast<double>(job->started_ns());
    record[4] = static_cast<double>(job->run_ns());
    entry = Pending{};  // drops the submitter's reference and the keep-alive views; frees the id
    --pending_count_;
  }
  if (pending_count_ == 0) tsfn_.Unref(env);
  on_complete.Call({records, Napi::Number::New(env, static_cast<double>(batch.size())),
                    extras.IsEmpty() ? env.Undefined() : Napi::Value(extras)});
}

Napi::Float64Array Instance::records_for(Napi::Env env, size_t doubles) {
  if (doubles > records_capacity_) {
    records_capacity_ = std::max(doubles, std::max<size_t>(records_capacity_ * 2, kRecordStride * 256));
    records_ = Napi::Reference<Napi::Float64Array>::New(Napi::Float64Array::New(env, records_capacity_), 1);
  }
  return records_.Value();
}

void Instance::on_env_cleanup(Instance* self) {
  {
    std::lock_guard<std::mutex> lock(self->mutex_);
    self->closing_ = true;
  }
  // O(1) per job: only units running now are waited for below, each until its kernel's next
  // cancellation check (milliseconds), never the jobs' remaining work.
  for (auto& pending : self->pending_) {
    if (pending.job) pending.job->cancel();
  }
  {
    std::unique_lock<std::mutex> lock(self->mutex_);
    self->drained_.wait(lock, [self] { return self->native_inflight_ == 0; });
    self->completed_.clear();  // references are owned by pending_
  }
  // Tickets of this env's jobs may still be queued (in lanes at their cap): they hold job
  // references, not this Instance, and the lanes free themselves once those have run.
  for (auto& entry : self->lanes_) {
    if (entry.lane != nullptr) ThreadPool::shared().close_lane(entry.lane);
    entry = {};
  }
  // No pool thread can reach this Instance any more.
  self->delivering_.clear();
  self->records_.Reset();
  self->pending_.clear();
  self->pending_count_ = 0;
  self->tsfn_.Abort();
}

void Instance::on_process_exit() {
  std::lock_guard<std::mutex> lock(registry_mutex());
  for (Instance* instance : registry()) {
    std::lock_guard<std::mutex> instance_lock(instance->mutex_);
    instance->closing_ = true;
  }
}

}  // namespace spindle::addon
