// The contract between the thread pool and the compute kernels.
//
// A kernel turns validated arguments into a Call. A Call splits its work into `units()`
// independent work units; the pool runs units on any thread, possibly several at once,
// checking the job's cancel flag between units, and calls `finish()` once, on one thread,
// after every unit has run. Kernels never see threads, queues or N-API.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "recycler.hpp"

namespace spindle {

// One argument as the addon hands it over: plain values are copied; a View points into JS
// memory (a TypedArray, possibly on a SharedArrayBuffer) that the addon keeps alive until
// the job has completed.
struct Arg {
  enum class Kind : uint8_t { Undefined, Number, BigInt, View };
  Kind kind = Kind::Undefined;
  double number = 0;       // Kind::Number
  int64_t bigint = 0;      // Kind::BigInt
  uint8_t* data = nullptr;  // Kind::View: first byte of the view (byteOffset applied)
  size_t size = 0;          // Kind::View: byteLength

  static Arg of_number(double v) { Arg a; a.kind = Kind::Number; a.number = v; return a; }
  static Arg of_bigint(int64_t v) { Arg a; a.kind = Kind::BigInt; a.bigint = v; return a; }
  static Arg of_view(void* p, size_t n) {
    Arg a; a.kind = Kind::View; a.data = static_cast<uint8_t*>(p); a.size = n; return a;
  }
};

// Thrown by a kernel's factory when its arguments are invalid. The addon turns it into a
// JS TypeError or RangeError at the submitting call, before anything is queued.
class ArgumentError : public std::invalid_argument {
 public:
  enum class Type : uint8_t { TypeError, RangeError };
  ArgumentError(Type type, const std::string& message) : std::invalid_argument(message), type(type) {}
  Type type;
};

// Thrown by a running unit when a system call fails (opening or reading a file). The job fails
// with a Result that keeps errno, the call's name and the path, so that JS can build the error
// Node's own fs functions would throw: code 'ENOENT', errno -2, syscall 'open', path.
class SystemError : public std::runtime_error {
 public:
  // what(): "No such file or directory, open '/x'", the C library's text; JS rebuilds Node's.
  SystemError(int errnum, std::string syscall, std::string path)
      : std::runtime_error(std::system_category().message(errnum) + ", " + syscall + " '" + path + "'"),
        errnum(errnum), syscall(std::move(syscall)), path(std::move(path)) {}
  int errnum;           // the errno value, positive as C has it
  std::string syscall;  // "open", "read", ...
  std::string path;     // the file's path, as opened
};

// Why a call failed, for a Result of Kind::Error.
struct ErrorInfo {
  std::string name;     // the JS class to construct: "Error", "RangeError", "TypeError"
  std::string message;
  // From a SystemError: errno (> 0), the system call and the path; errnum is 0 otherwise.
  int errnum = 0;
  std::string syscall;
  std::string path;
};

// What one call produced. Errors carry the JS class name to construct ("Error",
// "RangeError", ...) so that a kernel failure reads the same on both backends.
//
// Every Job holds a Result inline, so the rare error details live behind a pointer: a Result is
// a few words, not five strings.
struct Result {
  enum class Kind : uint8_t { Number, Bytes, Error };
  Kind kind = Kind::Number;
  double number = 0;           // Kind::Number
  std::vector<uint8_t> bytes;  // Kind::Bytes: e.g. a digest; the TS descriptor's fromBytes() decodes it
  std::shared_ptr<const ErrorInfo> error;  // Kind::Error; shared so that Results copy cheaply

  static Result of_number(double v) { Result r; r.number = v; return r; }
  static Result of_bytes(std::vector<uint8_t> bytes) {
    Result r; r.kind = Kind::Bytes; r.bytes = std::move(bytes);
    return r;
  }
  static Result of_error(std::string name, std::string message) {
    return of_error_info(ErrorInfo{std::move(name), std::move(message), 0, {}, {}});
  }
  static Result of_system_error(const SystemError& e) {
    return of_error_info(ErrorInfo{"Error", e.what(), e.errnum, e.syscall, e.path});
  }

 private:
  static Result of_error_info(ErrorInfo info) {
    Result r; r.kind = Kind::Error; r.error = std::make_shared<const ErrorInfo>(std::move(info));
    return r;
  }
};

// What a running unit may look at: the job's cancel flag and its progress counter.
// Both may be read or written from many threads at once.
class CallContext {
 public:
  CallContext(const std::atomic<bool>* cancelled, int64_t* progress)
      : cancelled_(cancelled), progress_(progress) {}

  // True once the job was cancelled (abort, timeout, terminate, env teardown). Long units
  // should poll it every millisecond or so and return early; the result is discarded.
  bool cancelled() const { return cancelled_ != nullptr && cancelled_->load(std::memory_order_relaxed); }

  // Adds units of work done (numbers sieved, bytes hashed) to the caller's SharedCounter,
  // a 64-bit slot on a SharedArrayBuffer. No-op when the call has no progress counter.
  void add_progress(int64_t n) const {
    if (progress_ != nullptr) __atomic_fetch_add(progress_, n, __ATOMIC_RELAXED);
  }

  // The same cancellation, no progress: for work a call does that is not the work its progress
  // counts (countPrimes building its table of sieving primes).
  CallContext without_progress() const { return CallContext(cancelled_, nullptr); }

 private:
  const std::atomic<bool>* cancelled_;
  int64_t* progress_;
};

// One kernel invocation, created on the submitting thread, run on pool threads. Made and
// dropped once per task, so its storage is recycled (recycler.hpp).
class Call : public Recyclable {
 public:
  virtual ~Call() = default;
  // Number of independent work units; at least 1. Constant for the life of the call.
  virtual uint64_t units() const { return 1; }
  // Runs one unit. Different units may run concurrently on different threads; each unit
  // runs at most once. May throw: the job then fails with that error.
  virtual void run(uint64_t unit, const CallContext& ctx) = 0;
  // Combines the units' work into the result. Called once, after every unit has run,
  // and only if the job was neither cancelled nor failed.
  virtual Result finish() = 0;
};

// One argument tuple of a map chunk, as KernelInfo::make_batch receives them.
struct ArgTuple {
  const Arg* args;
  size_t count;
};

// A kernel as the registry lists it. `make` validates the arguments and throws
// ArgumentError naming the bad one.
//
// `make_batch` (optional) builds one Call for a whole map chunk instead of one Call per tuple,
// for kernels that do the chunk's work faster together than apart (sha256 hashes several small
// messages at once). Its finish() must return a Bytes result holding every tuple's result, in
// tuple order, back to back and all of one length: the same bytes the per-tuple Calls' Bytes
// results would give concatenated, which is how the addon delivers a chunk of Bytes results
// either way. Without it, the addon makes one Call per tuple.
struct KernelInfo {
  const char* name;
  std::unique_ptr<Call> (*make)(const Arg* args, size_t count);
  std::unique_ptr<Call> (*make_batch)(const ArgTuple* tuples, size_t count) = nullptr;
};

// Every kernel the core provides, in a fixed order (the addon exposes them by index).
const std::vector<KernelInfo>& kernel_registry();

}  // namespace spindle
