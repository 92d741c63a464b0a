// SHA-256 (FIPS 180-4): one-shot, incremental and batched, on the fastest code path the CPU has.
// This is the algorithm only: no threads, no N-API. The sha256 kernels split their work across
// pool threads and call these.
//
// Paths. Every function takes a Sha256Path; all paths give identical digests.
//   Portable  plain C++, any platform and byte order; the reference.
//   Avx2      x86 with AVX2 and BMI2 but no SHA extensions: a BMI2/SSE single-stream compression,
//             and eight messages at once, one per 32-bit lane of a 256-bit register, in batches.
//   ShaNi     x86 SHA extensions: one message per stream, or two with their instructions
//             interleaved in batches, so each fills the other's waits on sha256rnds2.
//   Armv8     the ARMv8 SHA-2 crypto extension (HWCAP_SHA2 on Linux): one message per stream.
// Passing a path the CPU (or this build: the x86 paths exist only on x86, the ARMv8 one only on
// AArch64) lacks never executes an unsupported instruction: such a path is replaced by
// sha256_best_path().
//
// Memory. Inputs may have any alignment and may be shared read-only between threads. Nothing
// here allocates. All functions are thread-safe; a Sha256 object is not (use one per thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace spindle {

inline constexpr size_t kSha256DigestBytes = 32;
inline constexpr size_t kSha256BlockBytes = 64;

enum class Sha256Path : uint8_t { Portable, Avx2, ShaNi, Armv8 };

// "portable", "avx2", "shani" or "armv8": the names SPINDLE_SHA256_PATH accepts.
const char* sha256_path_name(Sha256Path path);

// What this CPU and build offer beyond the portable path.
struct Sha256Support {
  bool avx2 = false;    // AVX2 and BMI2, with the OS saving the 256-bit registers
  bool sha_ni = false;  // SHA extensions, with SSE4.1
  bool armv8 = false;   // the ARMv8 SHA-2 instructions (AArch64 HWCAP_SHA2)
};
Sha256Support sha256_support();  // detected once, then cached
bool sha256_path_supported(Sha256Path path);

// The path selection rule, pure so that it can be tested for any CPU. `requested` is the value
// of SPINDLE_SHA256_PATH (nullptr when unset):
//   - unset or empty: the fastest path `support` has: ShaNi or Armv8 (no CPU has both), else
//     Avx2, else Portable;
//   - a path name (compared ASCII case-insensitively, surrounding whitespace not allowed) whose
//     path `support` has: that path;
//   - anything else, i.e. an unknown name or a path the CPU lacks: the fastest path, exactly as
//     if unset. Nothing is printed; sha256_path_name(sha256_best_path()) shows what runs, so a
//     caller can report a request that was not honoured.
Sha256Path sha256_select_path(const char* requested, Sha256Support support);

// The path to use by default: sha256_select_path(getenv("SPINDLE_SHA256_PATH"), sha256_support()),
// evaluated on the first call and cached for the life of the process (set the variable before
// the first SHA-256 call; later changes are not seen).
Sha256Path sha256_best_path();

// The incremental hasher: reset, any number of updates, final. Lets a caller feed a file in
// large reads and check a cancel flag or report progress between them. Whole blocks of an
// update are compressed straight from the caller's memory; only a partial block is copied.
class Sha256 {
 public:
  explicit Sha256(Sha256Path path = sha256_best_path());

  // Starts a new message (the constructor and final() do this too).
  void reset();
  // Appends `len` bytes; `data` may be null when len is 0.
  void update(const uint8_t* data, size_t len);
  // Writes the digest of everything appended since the last reset, then resets.
  void final(uint8_t out[kSha256DigestBytes]);

  // The path actually used (after the unsupported-path fallback).
  Sha256Path path() const { return path_; }
  // Bytes appended since the last reset.
  uint64_t length() const { return length_; }

 private:
  using Compress = void (*)(uint32_t state[8], const uint8_t* blocks, size_t nblocks);
  Compress compress_;
  Sha256Path path_;
  uint32_t state_[8];
  uint64_t length_ = 0;  // bytes; the message length in bits is taken modulo 2^64, as FIPS 180-4 bounds it
  uint8_t buffer_[kSha256BlockBytes];
  size_t buffered_ = 0;  // bytes in buffer_, always < kSha256BlockBytes between calls
};

// The digest of data[0 .. len). `data` may be null when len is 0.
void sha256(const uint8_t* data, size_t len, uint8_t out[kSha256DigestBytes], Sha256Path path = sha256_best_path());

// out[i] = sha256(data[i], lens[i]) for i < n. On the ShaNi and Avx2 paths several messages are
// compressed at once (2 or 8), which is faster than hashing them one by one, above all for many
// small messages; lengths may differ freely. data[i] may be null when lens[i] is 0. `out` must
// not overlap the inputs. Runs on the calling thread: split a large batch across threads by
// calling this per slice.
void sha256_many(const uint8_t* const* data, const size_t* lens, size_t n, uint8_t (*out)[kSha256DigestBytes],
                 Sha256Path path = sha256_best_path());

// Lower-case hex, 64 characters, as sha256sum prints it.
std::string sha256_hex(const uint8_t digest[kSha256DigestBytes]);

}  // namespace spindle
