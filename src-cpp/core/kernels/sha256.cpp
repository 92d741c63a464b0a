// sha256(data, encoding): the SHA-256 digest of a byte view, as 32 bytes. The encoding (hex,
// base64 or a Buffer) is applied in JS by the descriptor's fromBytes(); C++ only checks that it
// is one of the codes src-ts/kernels/sha256.ts defines. The JS twin is node:crypto.
//
// One Call hashes a list of messages: one for an apply, every message of the chunk for a map
// chunk (KernelInfo::make_batch). Its units are groups of consecutive messages, each hashed with
// sha256_many, which interleaves two (SHA-NI) or eight (AVX2) messages per thread: for small
// messages that is several times faster than hashing them one by one. A message of
// kLongMessage bytes or more is a unit of its own, hashed in slices with a cancellation check
// between slices (a single message's hash is sequential, so it cannot be shared out).
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "../kernel.hpp"
#include "../sha256/sha256.hpp"

namespace spindle {

namespace {

// Cancellation is checked between units and between slices of a long message, so what runs
// between two checks is bounded by bytes, chosen so that it is bounded in time on the slowest
// path (portable, ~250 MB/s): a slice is 256 KiB (~1 ms portable, ~0.15 ms SHA-NI); a group of
// small messages closes once it holds kGroupBytes, and a message of kLongMessage bytes or more is
// sliced alone, so a group holds under kGroupBytes + kLongMessage = 768 KiB (~3 ms portable,
// ~0.4 ms SHA-NI).
constexpr size_t kSliceBytes = size_t(256) << 10;
constexpr size_t kLongMessage = size_t(512) << 10;
// A group closes once it holds this many bytes or messages: small enough that a chunk spreads
// over every thread and a cancellation is seen within a fraction of a millisecond, large enough
// that sha256_many keeps its lanes full and claiming a unit costs nothing in comparison.
constexpr size_t kGroupBytes = size_t(256) << 10;
constexpr size_t kGroupMessages = 256;

// The encodings src-ts/kernels/sha256.ts passes: 0 hex, 1 base64, 2 buffer.
constexpr double kEncodings = 3;

class Sha256Call final : public Call {
 public:
  // data[i], sizes[i]: message i, borrowed (the addon keeps the views alive until completion).
  Sha256Call(std::vector<const uint8_t*> data, std::vector<size_t> sizes)
      : data_(std::move(data)), sizes_(std::move(sizes)), digests_(kSha256DigestBytes * data_.size()) {
    plan_units();
  }

  uint64_t units() const override { return unit_begin_.size() - 1; }

  void run(uint64_t unit, const CallContext& ctx) override {
    const size_t begin = unit_begin_[unit];
    const size_t end = unit_begin_[unit + 1];
    if (end - begin == 1 && sizes_[begin] >= kLongMessage) {
      hash_in_slices(begin, ctx);
      return;
    }
    sha256_many(data_.data() + begin, sizes_.data() + begin, end - begin, digest_at(begin));
    size_t bytes = 0;
    for (size_t i = begin; i < end; ++i) bytes += sizes_[i];
    ctx.add_progress(static_cast<int64_t>(bytes));
  }

  Result finish() override { return Result::of_bytes(std::move(digests_)); }

 private:
  // Cuts the messages into units: runs of consecutive small messages up to kGroupBytes or
  // kGroupMessages, and each long message alone. Always at least one unit (empty for no
  // messages), as the Call contract requires.
  void plan_units() {
    unit_begin_.push_back(0);
    size_t group_bytes = 0;
    for (size_t i = 0; i < sizes_.size(); ++i) {
      const size_t open = i - unit_begin_.back();  // messages in the group being filled
      const bool long_message = sizes_[i] >= kLongMessage;
      if (open > 0 && (long_message || group_bytes >= kGroupBytes || open == kGroupMessages)) {
        unit_begin_.push_back(i);
        group_bytes = 0;
      }
      group_bytes += sizes_[i];
      if (long_message) {
        unit_begin_.push_back(i + 1);
        group_bytes = 0;
      }
    }
    if (unit_begin_.size() == 1 || unit_begin_.back() != sizes_.size()) unit_begin_.push_back(sizes_.size());
  }

  void hash_in_slices(size_t message, const CallContext& ctx) {
    Sha256 hasher;
    const uint8_t* data = data_[message];
    const size_t size = sizes_[message];
    for (size_t at = 0; at < size; at += kSliceBytes) {
      if (ctx.cancelled()) return;  // the job's result is discarded
      const size_t slice = size - at < kSliceBytes ? size - at : kSliceBytes;
      hasher.update(data + at, slice);
      ctx.add_progress(static_cast<int64_t>(slice));
    }
    hasher.final(*digest_at(message));
  }

  uint8_t (*digest_at(size_t message))[kSha256DigestBytes] {
    return reinterpret_cast<uint8_t(*)[kSha256DigestBytes]>(digests_.data() + kSha256DigestBytes * message);
  }

  const std::vector<const uint8_t*> data_;
  const std::vector<size_t> sizes_;
  std::vector<size_t> unit_begin_;  // unit u hashes messages [unit_begin_[u], unit_begin_[u + 1])
  std::vector<uint8_t> digests_;    // message i's digest at 32 * i; units write disjoint ranges
};

// Checks one tuple, (data, encoding?), as src-ts/kernels/sha256.ts normalizes it, and appends
// its message. `call` is the tuple's index in a map chunk, or -1 for a single call; messages
// name it.
void add_message(long call, const Arg* args, size_t count, std::vector<const uint8_t*>& data, std::vector<size_t>& sizes) {
  using T = ArgumentError::Type;
  auto where = [call] { return call < 0 ? std::string("sha256") : "sha256: call " + std::to_string(call); };
  if (count < 1 || count > 2) {
    throw ArgumentError(T::TypeError, where() + " takes 1 to 2 arguments (data, encoding?), got " + std::to_string(count));
  }
  if (args[0].kind != Arg::Kind::View) throw ArgumentError(T::TypeError, where() + ": data must be a TypedArray or DataView");
  if (count == 2 && args[1].kind != Arg::Kind::Undefined) {
    const double e = args[1].number;
    if (args[1].kind != Arg::Kind::Number || !(e >= 0 && e < kEncodings) || std::trunc(e) != e) {
      throw ArgumentError(T::RangeError, where() + ": encoding must be 0 (hex), 1 (base64) or 2 (buffer)");
    }
  }
  data.push_back(args[0].data);
  sizes.push_back(args[0].size);
}

}  // namespace

// sha256Packed(bytes, ends): a map chunk of small messages as the JS side packs them (see
// packBatch in src-ts/kernels/sha256.ts): message i is bytes[ends[i - 1], ends[i]) (ends[-1] = 0),
// with `ends` a Float64Array. One view for the whole chunk instead of one per message, because
// converting a view costs the JS thread more than hashing 64 bytes costs a pool thread.
std::unique_ptr<Call> make_sha256_packed(const Arg* args, size_t count) {
  using T = ArgumentError::Type;
  if (count != 2 || args[0].kind != Arg::Kind::View || args[1].kind != Arg::Kind::View || args[1].size % sizeof(double) != 0) {
    throw ArgumentError(T::TypeError, "sha256Packed takes (bytes: Uint8Array, ends: Float64Array)");
  }
  const size_t n = args[1].size / sizeof(double);
  const uint8_t* raw_ends = args[1].data;
  std::vector<const uint8_t*> data;
  std::vector<size_t> sizes;
  data.reserve(n);
  sizes.reserve(n);
  size_t begin = 0;
  for (size_t i = 0; i < n; ++i) {
    double end_value;
    std::memcpy(&end_value, raw_ends + i * sizeof(double), sizeof(double));  // the view may be unaligned
    if (!(end_value >= double(begin) && end_value <= double(args[0].size)) || std::trunc(end_value) != end_value) {
      throw ArgumentError(T::RangeError, "sha256Packed: ends must rise within the bytes, at message " + std::to_string(i));
    }
    const size_t end = static_cast<size_t>(end_value);
    data.push_back(args[0].data + begin);
    sizes.push_back(end - begin);
    begin = end;
  }
  return std::make_unique<Sha256Call>(std::move(data), std::move(sizes));
}

std::unique_ptr<Call> make_sha256(const Arg* args, size_t count) {
  std::vector<const uint8_t*> data;
  std::vector<size_t> sizes;
  add_message(-1, args, count, data, sizes);
  return std::make_unique<Sha256Call>(std::move(data), std::move(sizes));
}

std::unique_ptr<Call> make_sha256_batch(const ArgTuple* tuples, size_t count) {
  std::vector<const uint8_t*> data;
  std::vector<size_t> sizes;
  data.reserve(count);
  sizes.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    add_message(static_cast<long>(i), tuples[i].args, tuples[i].count, data, sizes);
  }
  return std::make_unique<Sha256Call>(std::move(data), std::move(sizes));
}

}  // namespace spindle
