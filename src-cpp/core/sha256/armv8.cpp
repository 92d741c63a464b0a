// The ARMv8 path: the SHA-2 crypto extension (sha256h, sha256h2, sha256su0, sha256su1), which
// nearly every 64-bit ARM server and phone core has (Cortex-A53 and later, Neoverse, Graviton,
// Apple), though it is optional in the architecture: sha256_support() checks HWCAP_SHA2.
//
// Register layout. sha256h/sha256h2 do four rounds on a state held as two registers, lanes 0..3
// = (A, B, C, D) and (E, F, G, H), exactly the order of the state words, so loading and storing
// the state needs no shuffles (unlike SHA-NI's ABEF/CDGH). Each takes K[t] + W[t] for its four
// rounds in one register. The message words W[4g .. 4g+3] of group g live in one register,
// computed from the four groups before it by sha256su0 (the sigma0 half) and sha256su1 (the
// sigma1 half and the W[t-7] term).
//
// One stream only: the multi-stream interleave that pays on SHA-NI (see shani.cpp) has not been
// measured on ARM hardware, and this machine can run this code only under emulation, whose
// timings say nothing about a real core. Batches use the one-stream function per message.
//
// Every function here carries a target attribute for the crypto extension, so the file needs
// no -march flags and the rest of the library stays baseline ARMv8-A; callers check HWCAP_SHA2
// first. The byte reversal below turns each big-endian message word into a host word, which
// little-endian AArch64 (every Linux arm64 system) needs; a big-endian build gets no ARMv8 path.
#include "compress.hpp"

#if defined(SPINDLE_SHA256_ARMV8)

#include <arm_neon.h>

// GCC spells the extension "+crypto"; clang (and so zig c++) takes the feature name alone.
#if defined(__clang__)
#define SHA256_ARMV8_TARGET __attribute__((target("crypto")))
#else
#define SHA256_ARMV8_TARGET __attribute__((target("+crypto")))
#endif

namespace spindle::sha256_detail {

SHA256_ARMV8_TARGET void compress_armv8(uint32_t state[8], const uint8_t* blocks, size_t nblocks) {
  uint32x4_t abcd = vld1q_u32(state);
  uint32x4_t efgh = vld1q_u32(state + 4);

  for (; nblocks != 0; --nblocks, blocks += kBlockBytes) {
    const uint32x4_t abcd_saved = abcd, efgh_saved = efgh;
    uint32x4_t w[4];  // w[g % 4] = W[4g .. 4g+3]
    for (int i = 0; i < 4; ++i) w[i] = vreinterpretq_u32_u8(vrev32q_u8(vld1q_u8(blocks + 16 * i)));

#pragma GCC unroll 16
    for (int g = 0; g < 16; ++g) {
      const uint32x4_t wk = vaddq_u32(w[g & 3], vld1q_u32(kRoundConstants + 4 * g));
      if (g < 12) {
        // W[t] = sigma1(W[t-2]) + W[t-7] + sigma0(W[t-15]) + W[t-16] for the group g + 4, whose
        // slot w[g % 4] holds W[t-16..] once wk has been taken from it; w[g+1], w[g+2], w[g+3]
        // hold the groups t-12, t-8, t-4.
        w[g & 3] = vsha256su1q_u32(vsha256su0q_u32(w[g & 3], w[(g + 1) & 3]), w[(g + 2) & 3], w[(g + 3) & 3]);
      }
      // sha256h2 needs the ABCD from before sha256h updated it.
      const uint32x4_t abcd_before = abcd;
      abcd = vsha256hq_u32(abcd, efgh, wk);
      efgh = vsha256h2q_u32(efgh, abcd_before, wk);
    }
    abcd = vaddq_u32(abcd, abcd_saved);
    efgh = vaddq_u32(efgh, efgh_saved);
  }
  vst1q_u32(state, abcd);
  vst1q_u32(state + 4, efgh);
}

}  // namespace spindle::sha256_detail

#endif
