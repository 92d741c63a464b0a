// The addon's exports. Glue only: check and convert arguments on the JS thread, build the
// kernel's Call, hand the job to the core. Used by src-ts/backends/native.ts, never by users
// directly, but still checks everything: a wrong call throws, it never crashes the process.
#include <napi.h>

#include <string>

#include "arguments.hpp"
#include "cpu.hpp"
#include "instance.hpp"
#include "job.hpp"
#include "kernel.hpp"
#include "sha256/sha256.hpp"
#include "sort/sort.hpp"
#include "thread_pool.hpp"

namespace spindle::addon {

namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0;

double integer_arg(const Napi::CallbackInfo& info, size_t i, const char* name, double min, double max) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a number");
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v >= min && v <= max) || v != static_cast<double>(static_cast<int64_t>(v))) {
    throw Napi::RangeError::New(info.Env(), std::string(name) + " must be an integer in range");
  }
  return v;
}

// A kernel factory's ArgumentError, as the JS error the submitting call throws.
[[noreturn]] void throw_as_js(Napi::Env env, const ArgumentError& e) {
  if (e.type == ArgumentError::Type::RangeError) throw Napi::RangeError::New(env, e.what());
  throw Napi::TypeError::New(env, e.what());
}

std::unique_ptr<Call> make_call(Napi::Env env, const KernelInfo& kernel, const Arg* args, size_t count) {
  try {
    return kernel.make(args, count);
  } catch (const ArgumentError& e) {
    throw_as_js(env, e);
  }
}

std::unique_ptr<Call> make_batch_call(Napi::Env env, const KernelInfo& kernel, const ArgTuple* tuples, size_t count) {
  try {
    return kernel.make_batch(tuples, count);
  } catch (const ArgumentError& e) {
    throw_as_js(env, e);
  }
}

struct SubmitHeader {
  uint64_t id;
  const KernelInfo* kernel;
  ThreadPool::Lane* lane;
  unsigned parallelism;  // the lane's cap: a job uses as many threads as its pool may
  int64_t* progress;
};

// Arguments 0-3 of submit/submitBatch: (id, kernelIndex, lane, progress).
SubmitHeader read_header(const Napi::CallbackInfo& info, Instance& instance,
                         std::vector<Napi::ObjectReference>& keep_alive) {
  Napi::Env env = info.Env();
  if (!instance.started()) throw Napi::Error::New(env, "spindle addon: start() must be called before submit()");
  const auto& registry = kernel_registry();
  SubmitHeader h;
  h.id = static_cast<uint64_t>(integer_arg(info, 0, "id", 1, static_cast<double>(Instance::kMaxJobId)));
  h.kernel = &registry[static_cast<size_t>(integer_arg(info, 1, "kernel", 0, static_cast<double>(registry.size() - 1)))];
  if (!info[2].IsNumber() || (h.lane = instance.lane(info[2].As<Napi::Number>().DoubleValue(), &h.parallelism)) == nullptr) {
    throw Napi::RangeError::New(env, "lane must be the id of an open lane");
  }
  h.progress = to_progress_slot(env, info[3], keep_alive);
  return h;
}

void queue_job(Instance& instance, Job* job, const SubmitHeader& h, std::vector<Napi::ObjectReference> keep_alive, bool batch) {
  std::vector<Instance::Submission> one;
  one.push_back({job, std::move(keep_alive), h.lane, h.parallelism, batch});
  try {
    instance.submit(one);
  } catch (...) {
    one[0].job->release();  // not taken: the reference is still ours
    throw;
  }
}

// kernels() -> string[]: registry names, by index.
Napi::Value Kernels(const Napi::CallbackInfo& info) {
  const auto& registry = kernel_registry();
  auto names = Napi::Array::New(info.Env(), registry.size());
  for (uint32_t i = 0; i < registry.size(); ++i) names.Set(i, registry[i].name);
  return names;
}

// start(onComplete(records: Float64Array, count, extras?: unknown[])): once per environment.
Napi::Value Start(const Napi::CallbackInfo& info) {
  Instance& instance = Instance::of(info.Env());
  if (instance.started()) throw Napi::Error::New(info.Env(), "spindle addon: already started in this environment");
  if (!info[0].IsFunction()) throw Napi::TypeError::New(info.Env(), "onComplete must be a function");
  instance.start(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

// submit(id, kernelIndex, lane, progress?, ...args): one call, queued in the lane (openLane),
// with as many tickets as the lane's cap allows.
Napi::Value Submit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Instance& instance = Instance::of(env);
  std::vector<Napi::ObjectReference> keep_alive;
  SubmitHeader h = read_header(info, instance, keep_alive);
  std::vector<Arg> args;
  for (size_t i = 4; i < info.Length(); ++i) args.push_back(to_arg(env, info[i], i - 4, &keep_alive));
  std::unique_ptr<Call> call = make_call(env, *h.kernel, args.data(), args.size());
  queue_job(instance, new Job(std::move(call), h.progress, &instance, h.id), h, std::move(keep_alive), false);
  return env.Undefined();
}

// submitBatch(id, kernelIndex, lane, progress?, calls: unknown[][]): a map chunk,
// settled with one array of results. A kernel with make_batch gets the whole chunk as one Call.
Napi::Value SubmitBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Instance& instance = Instance::of(env);
  std::vector<Napi::ObjectReference> keep_alive;
  SubmitHeader h = read_header(info, instance, keep_alive);
  if (!info[4].IsArray()) throw Napi::TypeError::New(env, "calls must be an array of argument arrays");
  auto list = info[4].As<Napi::Array>();
  // One reference to the chunk keeps every argument alive: the array is the backend's own,
  // never changed after this call.
  keep_alive.push_back(Napi::Persistent(list.As<Napi::Object>()));
  const uint32_t count = list.Length();
  // Every tuple's arguments, back to back: tuple c is args[starts[c] .. starts[c + 1]).
  std::vector<Arg> args;
  std::vector<size_t> starts;
  starts.reserve(count + 1);
  starts.push_back(0);
  for (uint32_t c = 0; c < count; ++c) {
    Napi::Value tuple = list.Get(c);
    if (!tuple.IsArray()) throw Napi::TypeError::New(env, "calls[" + std::to_string(c) + "] must be an array");
    auto items = tuple.As<Napi::Array>();
    for (uint32_t i = 0; i < items.Length(); ++i) args.push_back(to_arg(env, items.Get(i), i, nullptr));
    starts.push_back(args.size());
  }
  std::vector<std::unique_ptr<Call>> calls;
  if (h.kernel->make_batch != nullptr) {
    std::vector<ArgTuple> tuples(count);
    for (uint32_t c = 0; c < count; ++c) tuples[c] = {args.data() + starts[c], starts[c + 1] - starts[c]};
    calls.push_back(make_batch_call(env, *h.kernel, tuples.data(), tuples.size()));
  } else {
    calls.reserve(count);
    for (uint32_t c = 0; c < count; ++c) calls.push_back(make_call(env, *h.kernel, args.data() + starts[c], starts[c + 1] - starts[c]));
  }
  queue_job(instance, new Job(std::move(calls), h.progress, &instance, h.id), h, std::move(keep_alive), true);
  return env.Undefined();
}

// submitPacked(records: Float64Array, count): many single calls whose arguments are all
// numbers, in one crossing: record i is [id, kernelIndex, lane, argc, arg0, arg1]
// (kPackedStride doubles). The per-task cost of a burst of small tasks is mostly this
// crossing and the queue's lock and wake-up, so packing them is the burst's fast path.
constexpr size_t kPackedStride = 6;
constexpr size_t kPackedMaxArgs = kPackedStride - 4;

Napi::Value SubmitPacked(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Instance& instance = Instance::of(env);
  if (!instance.started()) throw Napi::Error::New(env, "spindle addon: start() must be called before submit()");
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    throw Napi::TypeError::New(env, "records must be a Float64Array");
  }
  auto records = info[0].As<Napi::Float64Array>();
  auto count = static_cast<size_t>(integer_arg(info, 1, "count", 0, static_cast<double>(records.ElementLength() / kPackedStride)));
  const auto& registry = kernel_registry();
  std::vector<Instance::Submission>& submissions = instance.submission_scratch();
  try {
    for (size_t i = 0; i < count; ++i) {
      const double* r = records.Data() + i * kPackedStride;
      auto id = r[0];
      auto kernel = r[1];
      auto argc = r[3];
      unsigned parallelism = 0;
      ThreadPool::Lane* lane = nullptr;
      if (!(id >= 1 && id <= static_cast<double>(Instance::kMaxJobId)) || id != static_cast<double>(static_cast<uint64_t>(id)) ||
          !(kernel >= 0 && kernel < registry.size()) || (lane = instance.lane(r[2], &parallelism)) == nullptr ||
          !(argc >= 0 && argc <= kPackedMaxArgs)) {
        throw Napi::RangeError::New(env, "record " + std::to_string(i) + " is malformed");
      }
      Arg args[kPackedMaxArgs] = {Arg::of_number(r[4]), Arg::of_number(r[5])};
      std::unique_ptr<Call> call = make_call(env, registry[static_cast<size_t>(kernel)], args, static_cast<size_t>(argc));
      submissions.push_back({new Job(std::move(call), nullptr, &instance, static_cast<uint64_t>(id)), {}, lane, parallelism, false});
    }
    instance.submit(submissions);
  } catch (...) {
    for (auto& s : submissions) s.job->release();  // all or nothing: none was queued
    throw;
  }
  return env.Undefined();
}

// cancel(id) -> boolean: false when the job has already been delivered.
Napi::Value Cancel(const Napi::CallbackInfo& info) {
  auto id = static_cast<uint64_t>(integer_arg(info, 0, "id", 1, kMaxSafeInteger));
  return Napi::Boolean::New(info.Env(), Instance::of(info.Env()).cancel(id));
}

// openLane(cap) -> lane id: a queue for one Pool's jobs in the process-wide thread pool, of
// which at most `cap` threads run its jobs at once. closeLane(id) when the Pool is gone.
Napi::Value OpenLane(const Napi::CallbackInfo& info) {
  Instance& instance = Instance::of(info.Env());
  if (!instance.started()) throw Napi::Error::New(info.Env(), "spindle addon: start() must be called before openLane()");
  auto cap = static_cast<unsigned>(integer_arg(info, 0, "cap", 1, ThreadPool::kMaxThreads));
  return Napi::Number::New(info.Env(), instance.open_lane(cap));
}

Napi::Value CloseLane(const Napi::CallbackInfo& info) {
  auto id = static_cast<uint32_t>(integer_arg(info, 0, "lane", 1, Instance::kMaxLanes));
  Instance::of(info.Env()).close_lane(id);
  return info.Env().Undefined();
}

// laneStats(id) -> { cap, active, maxActive, queued, busyNs }: threads running the lane's jobs
// now, the most there ever were at once, tickets waiting, and thread time spent on its jobs.
Napi::Value LaneStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto id = static_cast<uint32_t>(integer_arg(info, 0, "lane", 1, Instance::kMaxLanes));
  ThreadPool::LaneStats stats = Instance::of(env).lane_stats(id);
  auto result = Napi::Object::New(env);
  result.Set("cap", Napi::Number::New(env, stats.cap));
  result.Set("active", Napi::Number::New(env, stats.active));
  result.Set("maxActive", Napi::Number::New(env, stats.max_active));
  result.Set("queued", Napi::Number::New(env, static_cast<double>(stats.queued)));
  result.Set("busyNs", Napi::Number::New(env, static_cast<double>(stats.busy_ns)));
  return result;
}

// reserve(threads) -> thread count: grows the process-wide pool (it never shrinks).
Napi::Value Reserve(const Napi::CallbackInfo& info) {
  auto n = static_cast<unsigned>(integer_arg(info, 0, "threads", 1, ThreadPool::kMaxThreads));
  ThreadPool::shared().reserve(n);
  return Napi::Number::New(info.Env(), ThreadPool::shared().thread_count());
}

Napi::Value ThreadCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), ThreadPool::shared().thread_count());
}

Napi::Value Pending(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(Instance::of(info.Env()).pending()));
}

Napi::Value CpuFeatures(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), cpu_features()); }

// sha256Path() -> "shani" | "avx2" | "portable": the SHA-256 code path kernels use in this
// process (the CPU's fastest, or SPINDLE_SHA256_PATH's choice, read once at first use).
Napi::Value Sha256PathName(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), sha256_path_name(sha256_best_path()));
}

// sortPath() -> "avx2" | "baseline": the code path sorts take in this process (the CPU's fastest,
// or baseline under SPINDLE_SORT_PATH=baseline, read once at first use).
Napi::Value SortPathName(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), sort::sort_path_name(sort::sort_best_path()));
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new Instance(env));
  exports.Set("kernels", Napi::Function::New(env, Kernels, "kernels"));
  exports.Set("start", Napi::Function::New(env, Start, "start"));
  exports.Set("submit", Napi::Function::New(env, Submit, "submit"));
  exports.Set("submitPacked", Napi::Function::New(env, SubmitPacked, "submitPacked"));
  exports.Set("submitBatch", Napi::Function::New(env, SubmitBatch, "submitBatch"));
  exports.Set("cancel", Napi::Function::New(env, Cancel, "cancel"));
  exports.Set("openLane", Napi::Function::New(env, OpenLane, "openLane"));
  exports.Set("closeLane", Napi::Function::New(env, CloseLane, "closeLane"));
  exports.Set("laneStats", Napi::Function::New(env, LaneStats, "laneStats"));
  exports.Set("reserve", Napi::Function::New(env, Reserve, "reserve"));
  exports.Set("threadCount", Napi::Function::New(env, ThreadCount, "threadCount"));
  exports.Set("pending", Napi::Function::New(env, Pending, "pending"));
  exports.Set("cpuFeatures", Napi::Function::New(env, CpuFeatures, "cpuFeatures"));
  exports.Set("sha256Path", Napi::Function::New(env, Sha256PathName, "sha256Path"));
  exports.Set("sortPath", Napi::Function::New(env, SortPathName, "sortPath"));
  exports.Set("napiVersion", Napi::Number::New(env, NAPI_VERSION));
  return exports;
}

}  // namespace spindle::addon

// The macro pastes the function's name into an identifier, so it needs an unqualified one.
static Napi::Object InitSpindle(Napi::Env env, Napi::Object exports) { return spindle::addon::Init(env, exports); }
NODE_API_MODULE(spindle, InitSpindle)
