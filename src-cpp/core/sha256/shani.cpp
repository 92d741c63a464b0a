// The SHA-NI path: the x86 SHA extensions (sha256rnds2, sha256msg1, sha256msg2).
//
// Register layout. sha256rnds2 does two rounds on a state split across two registers, in
// lanes 3..0: "ABEF" = (A, B, E, F) and "CDGH" = (C, D, G, H), and takes K[t] + W[t] for its two
// rounds from lanes 0 and 1 of a third register. The message words W[4g .. 4g+3] live in one
// register each group g of four rounds, lane i = W[4g+i], computed from the four groups before
// it by sha256msg1 (the sigma0 half), an add of W[t-7..t-4] and sha256msg2 (the sigma1 half).
//
// Why lanes: each sha256rnds2 needs the result of the one before it, so one message runs at the
// latency of that chain while the SHA unit sits idle between results. A second, independent
// message fills those gaps; compress_shani_lanes runs kShaNiLanes messages with their
// instructions interleaved group by group. Measured on Zen 4, 16 MiB per message: one stream
// 1.8 GB/s, two 3.45 GB/s in total, three 3.56, four 3.8 (four states and their message words
// no longer fit in the 16 xmm registers that legacy-encoded SHA instructions can use). Two it
// is: nearly all of the gain, and batches lose less to idle lanes at their end.
//
// Every function here carries target("sha,sse4.1") (sse4.1 brings ssse3's pshufb/palignr with
// it), so the file needs no -m flags; callers check the CPU first. x86 is little-endian: the
// byte shuffle below turns each big-endian message word into a host word.
#include "compress.hpp"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#define SHA256_SHANI_TARGET __attribute__((target("sha,sse4.1")))

namespace spindle::sha256_detail {

namespace {

// The state of one message in rnds2's layout. (Comments on vectors below list lanes 0..3.)
struct ShaNiState {
  __m128i abef, cdgh;
};

SHA256_SHANI_TARGET inline ShaNiState load_state(const uint32_t s[8]) {
  const __m128i abcd = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s));      // lanes 0..3 = A B C D
  const __m128i efgh = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + 4));  // lanes 0..3 = E F G H
  const __m128i badc = _mm_shuffle_epi32(abcd, _MM_SHUFFLE(2, 3, 0, 1));          // B A D C
  const __m128i hgfe = _mm_shuffle_epi32(efgh, _MM_SHUFFLE(0, 1, 2, 3));          // H G F E
  return {_mm_alignr_epi8(badc, hgfe, 8),                                          // F E B A
          _mm_blend_epi16(hgfe, badc, 0xF0)};                                      // H G D C
}

SHA256_SHANI_TARGET inline void store_state(const ShaNiState& st, uint32_t s[8]) {
  const __m128i abef = _mm_shuffle_epi32(st.abef, _MM_SHUFFLE(0, 1, 2, 3));  // A B E F
  const __m128i ghcd = _mm_shuffle_epi32(st.cdgh, _MM_SHUFFLE(2, 3, 0, 1));  // G H C D
  _mm_storeu_si128(reinterpret_cast<__m128i*>(s), _mm_blend_epi16(abef, ghcd, 0xF0));  // A B C D
  _mm_storeu_si128(reinterpret_cast<__m128i*>(s + 4), _mm_alignr_epi8(ghcd, abef, 8));  // E F G H
}

// Compresses `nblocks` blocks of each of N messages, the N instruction streams interleaved
// one four-round group at a time. N = 1 is the plain single-stream compression.
template <size_t N>
SHA256_SHANI_TARGET inline void compress_n(uint32_t* const states[N], const uint8_t* const blocks[N], size_t nblocks) {
  const __m128i byteswap = _mm_setr_epi8(3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12);
  ShaNiState st[N];
  for (size_t s = 0; s < N; ++s) st[s] = load_state(states[s]);

  for (size_t offset = 0; nblocks != 0; --nblocks, offset += kBlockBytes) {
    ShaNiState saved[N];
    __m128i w[N][4];  // w[s][g % 4] = W[4g .. 4g+3] of message s
    for (size_t s = 0; s < N; ++s) saved[s] = st[s];

#pragma GCC unroll 16
    for (int g = 0; g < 16; ++g) {
      const __m128i k = _mm_load_si128(reinterpret_cast<const __m128i*>(kRoundConstants + 4 * g));
#pragma GCC unroll 4
      for (size_t s = 0; s < N; ++s) {
        __m128i& cur = w[s][g & 3];
        if (g < 4) {
          cur = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blocks[s] + offset + 16 * g)),
                                 byteswap);
        } else {
          // W[t] = sigma1(W[t-2]) + W[t-7] + sigma0(W[t-15]) + W[t-16], four at a time: cur
          // holds W[t-16..], w[g+1], w[g+2], w[g+3] hold the groups t-12, t-8, t-4.
          const __m128i& w12 = w[s][(g + 1) & 3];
          const __m128i& w8 = w[s][(g + 2) & 3];
          const __m128i& w4 = w[s][(g + 3) & 3];
          const __m128i partial = _mm_add_epi32(_mm_sha256msg1_epu32(cur, w12), _mm_alignr_epi8(w4, w8, 4));
          cur = _mm_sha256msg2_epu32(partial, w4);
        }
        const __m128i wk = _mm_add_epi32(cur, k);
        st[s].cdgh = _mm_sha256rnds2_epu32(st[s].cdgh, st[s].abef, wk);  // rounds 4g, 4g+1
        st[s].abef = _mm_sha256rnds2_epu32(st[s].abef, st[s].cdgh,       // rounds 4g+2, 4g+3
                                           _mm_shuffle_epi32(wk, _MM_SHUFFLE(1, 0, 3, 2)));
        // The first rnds2 left the new ABEF in the cdgh register, while the old ABEF, two rounds
        // on, is the new CDGH; the second swapped them back. So after the pair each register
        // again holds what its name says.
      }
    }
    for (size_t s = 0; s < N; ++s) {
      st[s].abef = _mm_add_epi32(st[s].abef, saved[s].abef);
      st[s].cdgh = _mm_add_epi32(st[s].cdgh, saved[s].cdgh);
    }
  }
  for (size_t s = 0; s < N; ++s) store_state(st[s], states[s]);
}

}  // namespace

SHA256_SHANI_TARGET void compress_shani(uint32_t state[8], const uint8_t* blocks, size_t nblocks) {
  uint32_t* const states[1] = {state};
  const uint8_t* const data[1] = {blocks};
  compress_n<1>(states, data, nblocks);
}

SHA256_SHANI_TARGET void compress_shani_lanes(uint32_t (*states)[8], const uint8_t* const* blocks, size_t nblocks) {
  uint32_t* ptrs[kShaNiLanes];
  for (size_t s = 0; s < kShaNiLanes; ++s) ptrs[s] = states[s];
  compress_n<kShaNiLanes>(ptrs, blocks, nblocks);
}

}  // namespace spindle::sha256_detail

#endif
