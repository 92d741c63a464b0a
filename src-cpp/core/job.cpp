#include "job.hpp"

#include "clock.hpp"

#include <algorithm>
#include <exception>
#include <new>

namespace spindle {

Job::Job(std::vector<std::unique_ptr<Call>> calls, int64_t* progress, CompletionSink* sink, uint64_t tag)
    : progress_(progress), sink_(sink), tag_(tag) {
  calls_.reserve(calls.size());
  for (auto& call : calls) calls_.push_back(std::move(call));
  count_units();
}

Job::Job(std::unique_ptr<Call> call, int64_t* progress, CompletionSink* sink, uint64_t tag)
    : progress_(progress), sink_(sink), tag_(tag) {
  calls_.push_back(std::move(call));
  count_units();
}

void Job::count_units() {
  bool one_unit_each = true;
  for (const auto& call : calls_) one_unit_each = one_unit_each && call->units() == 1;
  if (one_unit_each) {
    // An empty batch still has one (empty) unit, so that it completes like any other job.
    total_units_ = std::max<uint64_t>(calls_.size(), 1);
  } else {
    first_unit_.reserve(calls_.size());
    for (const auto& call : calls_) {
      first_unit_.push_back(total_units_);
      total_units_ += std::max<uint64_t>(call->units(), 1);
    }
  }
}

void Job::release() {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

std::pair<size_t, uint64_t> Job::locate(uint64_t unit) const {
  if (first_unit_.empty()) return {static_cast<size_t>(unit), 0};
  auto next = std::upper_bound(first_unit_.begin(), first_unit_.end(), unit);
  size_t call = static_cast<size_t>(next - first_unit_.begin()) - 1;
  return {call, unit - first_unit_[call]};
}

void Job::cancel() {
  cancelled_.store(true, std::memory_order_relaxed);
  drop_unclaimed();
}

void Job::work(int64_t now_ns) {
  int64_t unset = 0;
  if (started_ns_.load(std::memory_order_relaxed) == 0) {
    started_ns_.compare_exchange_strong(unset, now_ns, std::memory_order_relaxed);
  }
  for (;;) {
    if (cancelled_.load(std::memory_order_relaxed)) {
      drop_unclaimed();
      return;
    }
    uint64_t unit = next_unit_.fetch_add(1, std::memory_order_relaxed);
    if (unit >= total_units_) return;
    run_unit(unit);
    if (finish_units(1)) return;
  }
}

void Job::drop_unclaimed() {
  const uint64_t first = next_unit_.exchange(total_units_, std::memory_order_relaxed);
  if (first < total_units_) finish_units(total_units_ - first);
}

bool Job::finish_units(uint64_t n) {
  // acq_rel: the completer must see every unit's writes (results live in the Calls).
  if (finished_units_.fetch_add(n, std::memory_order_acq_rel) + n != total_units_) return false;
  complete();
  return true;
}

void Job::run_unit(uint64_t unit) {
  if (calls_.empty()) return;
  auto [call, local] = locate(unit);
  CallContext ctx(&cancelled_, progress_);
  try {
    calls_[call]->run(local, ctx);
  } catch (const SystemError& e) {
    record_failure(Result::of_system_error(e));
  } catch (const ArgumentError& e) {
    record_failure(Result::of_error(e.type == ArgumentError::Type::TypeError ? "TypeError" : "RangeError", e.what()));
  } catch (const std::bad_alloc&) {
    record_failure(Result::of_error("RangeError", "out of memory in a native kernel"));
  } catch (const std::exception& e) {
    record_failure(Result::of_error("Error", e.what()));
  } catch (...) {
    record_failure(Result::of_error("Error", "unknown failure in a native kernel"));
  }
}

void Job::record_failure(Result error) {
  if (!failed_.exchange(true, std::memory_order_relaxed)) failure_ = std::move(error);
  // The job's outcome is decided: the units nobody has started are dropped when this thread
  // (or another) next looks at the flag. Not cancel(): this unit is not finished yet.
  cancelled_.store(true, std::memory_order_relaxed);
}

void Job::complete() {
  if (failed_.load(std::memory_order_relaxed)) {
    status_ = Status::Failed;
    results_.push_back(std::move(failure_));
  }
  if (status_ == Status::Running && cancelled_.load(std::memory_order_relaxed)) status_ = Status::Cancelled;
  if (status_ == Status::Running) {
    results_.reserve(calls_.size());
    for (const auto& call : calls_) {
      Result r;
      try {
        r = call->finish();
      } catch (const std::exception& e) {
        r = Result::of_error("Error", e.what());
      }
      if (r.kind == Result::Kind::Error) {
        status_ = Status::Failed;
        results_.clear();
        results_.push_back(std::move(r));
        break;
      }
      results_.push_back(std::move(r));
    }
    if (status_ == Status::Running) status_ = Status::Ok;
  }
  const int64_t started = started_ns_.load(std::memory_order_relaxed);
  if (started != 0) run_ns_ = monotonic_ns() - started;
  sink_->job_done(*this);
}

}  // namespace spindle
