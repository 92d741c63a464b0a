// Internal to sha256/: the SHA-256 constants and the block-compression functions of every path.
// Nothing outside src-cpp/core/sha256 includes this; the public API is sha256.hpp.
//
// A compression function folds whole 64-byte blocks into a state. The state is the eight
// working words a..h in host order, exactly as FIPS 180-4 writes H0..H7; a block is 64 message
// bytes, read big-endian, at any alignment. The paths differ only in how they compute this
// function; padding, buffering and lane scheduling live in the callers, written once.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>

#include "sha256.hpp"

namespace spindle::sha256_detail {

inline constexpr size_t kBlockBytes = kSha256BlockBytes;

// FIPS 180-4 §5.3.3: the initial hash value.
inline constexpr uint32_t kInitialState[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

// FIPS 180-4 §4.2.2: the round constants. The SIMD paths load four at a time with aligned
// loads, hence the alignment.
alignas(64) inline constexpr uint32_t kRoundConstants[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

// Folds the `nblocks` consecutive blocks starting at `blocks` into `state`, one after another.
using CompressFn = void (*)(uint32_t state[8], const uint8_t* blocks, size_t nblocks);

// Folds `nblocks` consecutive blocks into each of several independent states at once ("lanes"):
// lane i folds the blocks starting at blocks[i] into states[i]. The lane count is fixed per
// function. Lanes only read their input, so two lanes may point at the same bytes (the batch
// driver does that to fill idle lanes). Exists because independent streams can share the
// CPU's execution units where one stream alone leaves them waiting on its own dependency chain.
using CompressLanesFn = void (*)(uint32_t (*states)[8], const uint8_t* const* blocks, size_t nblocks);

// The reference: portable C++, any endianness, any alignment.
void compress_portable(uint32_t state[8], const uint8_t* blocks, size_t nblocks);

#if defined(__x86_64__) || defined(__i386__)
// x86 paths. Each is compiled with a target attribute for its own instruction set, so the files
// need no -m flags and the rest of the library stays baseline; callers must check the CPU first
// (sha256_path_supported). x86 is little-endian, which their byte-swapping loads assume.
void compress_shani(uint32_t state[8], const uint8_t* blocks, size_t nblocks);
inline constexpr size_t kShaNiLanes = 2;
void compress_shani_lanes(uint32_t (*states)[8], const uint8_t* const* blocks, size_t nblocks);

void compress_avx2(uint32_t state[8], const uint8_t* blocks, size_t nblocks);
inline constexpr size_t kAvx2Lanes = 8;
void compress_avx2_lanes(uint32_t (*states)[8], const uint8_t* const* blocks, size_t nblocks);
#endif

// The ARMv8 path exists on little-endian AArch64 with NEON (every arm64 Linux target); the same
// condition guards armv8.cpp. Compiled with a target attribute like the x86 paths; callers must
// check HWCAP_SHA2 first (sha256_path_supported).
#if defined(__aarch64__) && defined(__ARM_NEON) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define SPINDLE_SHA256_ARMV8 1
void compress_armv8(uint32_t state[8], const uint8_t* blocks, size_t nblocks);
#endif

// What the one-shot, incremental and batch code needs from a path (sha256.cpp).
struct PathKernels {
  CompressFn one;                 // always set
  CompressLanesFn lanes;          // null where the path has no multi-stream form
  size_t lane_count;              // lanes per `lanes` call
  // The batch driver keeps using `lanes` while at least this many lanes have work; with fewer,
  // it finishes them one by one with `one`, which is then faster (idle lanes cost as much as busy
  // ones). Measured, see many.cpp.
  size_t min_busy_lanes;
};
// `path` must be supported; see usable_path.
PathKernels path_kernels(Sha256Path path);
// `path` if this CPU and build support it, else sha256_best_path().
Sha256Path usable_path(Sha256Path path);

// Writes the padded end of a message (FIPS 180-4 §5.1.1): the last `rest_len` < 64 bytes, 0x80,
// zeros and the 64-bit big-endian bit length of the whole `message_len`-byte message. Returns
// the number of blocks written to `tail`: 1, or 2 when rest_len > 55.
size_t pad_tail(const uint8_t* rest, size_t rest_len, uint64_t message_len, uint8_t tail[2 * kBlockBytes]);

// The digest: the state words, big-endian.
void store_digest(const uint32_t state[8], uint8_t out[kSha256DigestBytes]);

// ---------------------------------------------------------------------------------------------
// The scalar round, shared by the portable path and the AVX2 path's single-stream compression
// (which compiles the very same code with BMI2's three-operand rotates).
//
// Internal linkage (static) on purpose: each file that includes this compiles its own copy for
// its own target. An inline function with external linkage would be merged by the linker across
// files, and the portable path could end up running the BMI2 copy on a CPU without BMI2.
// ---------------------------------------------------------------------------------------------

// One round (FIPS 180-4 §6.2.2 step 3) without the rotation of the eight variables: the caller
// passes them rotated instead, so only d and h change. `kw` is K[t] + W[t].
[[gnu::always_inline]] static inline void scalar_round(uint32_t a, uint32_t b, uint32_t c, uint32_t& d, uint32_t e,
                                                       uint32_t f, uint32_t g, uint32_t& h, uint32_t kw) {
  const uint32_t t1 = h + (std::rotr(e, 6) ^ std::rotr(e, 11) ^ std::rotr(e, 25)) + (g ^ (e & (f ^ g))) + kw;
  const uint32_t t2 = (std::rotr(a, 2) ^ std::rotr(a, 13) ^ std::rotr(a, 22)) + ((a & b) | (c & (a | b)));
  d += t1;
  h = t1 + t2;
}

}  // namespace spindle::sha256_detail
