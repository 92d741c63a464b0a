// The AVX2 path, for x86 CPUs without the SHA extensions (Intel before Ice Lake/Goldmont, AMD
// before Zen). It has two compression functions, because one stream and many streams want
// different shapes:
//
// - compress_avx2, one stream: the rounds stay scalar (one round depends on the one before, so
//   a vector has nothing to work on in parallel) but compiled with BMI2, whose three-operand
//   rotates save the register copies, while the message schedule runs four words at a time
//   in SSE registers, interleaved with the rounds so the two use different execution ports.
//   Measured about 15-20 % faster than the portable code.
//
// - compress_avx2_lanes, eight streams: each 32-bit lane of a 256-bit register is one message,
//   so every instruction does the same round for eight messages. This is the fast path for
//   batches (sha256_many): measured about 3x the single-stream speed in total. AVX2 has no
//   vector rotate, so each rotate is two shifts and an or.
//
// Every function here carries a target attribute, so the file needs no -m flags; callers check
// the CPU first (AVX2 and BMI2). x86 is little-endian: the byte shuffles below turn each
// big-endian message word into a host word.
#include "compress.hpp"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#define SHA256_AVX2_TARGET __attribute__((target("avx2,bmi,bmi2")))

namespace spindle::sha256_detail {

namespace {

// ---------------------------------------------------------------------------------------------
// One stream: scalar rounds, SSE message schedule.
// ---------------------------------------------------------------------------------------------

SHA256_AVX2_TARGET inline __m128i rotr4(__m128i x, int n) {
  return _mm_or_si128(_mm_srli_epi32(x, n), _mm_slli_epi32(x, 32 - n));
}

SHA256_AVX2_TARGET inline __m128i sigma1_4(__m128i x) {
  return _mm_xor_si128(_mm_xor_si128(rotr4(x, 17), rotr4(x, 19)), _mm_srli_epi32(x, 10));
}

// W[t .. t+3] from the four groups before it: w16 = W[t-16 ..], w12, w8, w4 likewise.
SHA256_AVX2_TARGET inline __m128i schedule4(__m128i w16, __m128i w12, __m128i w8, __m128i w4) {
  const __m128i w15 = _mm_alignr_epi8(w12, w16, 4);  // W[t-15 .. t-12]
  const __m128i w7 = _mm_alignr_epi8(w4, w8, 4);     // W[t-7 .. t-4]
  const __m128i s0 = _mm_xor_si128(_mm_xor_si128(rotr4(w15, 7), rotr4(w15, 18)), _mm_srli_epi32(w15, 3));
  const __m128i partial = _mm_add_epi32(_mm_add_epi32(w16, s0), w7);
  // sigma1 needs W[t-2] and W[t-1]: for W[t], W[t+1] they are the top two words of w4; for
  // W[t+2], W[t+3] they are the two words just computed. Hence two halves.
  const __m128i low = _mm_add_epi32(partial, _mm_move_epi64(sigma1_4(_mm_shuffle_epi32(w4, _MM_SHUFFLE(3, 2, 3, 2)))));
  return _mm_add_epi32(low, _mm_slli_si128(sigma1_4(_mm_shuffle_epi32(low, _MM_SHUFFLE(1, 0, 1, 0))), 8));
}

// Computes message group q (W[4q .. 4q+3]) into w[q % 4], which held group q-4, and publishes
// K + W for it into kw. Groups 0..3 are loaded, not computed, so q must be in 4..15.
SHA256_AVX2_TARGET inline void schedule_group(__m128i w[4], uint32_t kw[64], int q) {
  w[q & 3] = schedule4(w[q & 3], w[(q + 1) & 3], w[(q + 2) & 3], w[(q + 3) & 3]);
  const __m128i k = _mm_load_si128(reinterpret_cast<const __m128i*>(kRoundConstants + 4 * q));
  _mm_store_si128(reinterpret_cast<__m128i*>(kw + 4 * q), _mm_add_epi32(w[q & 3], k));
}

// ---------------------------------------------------------------------------------------------
// Eight streams: one message per 32-bit lane.
// ---------------------------------------------------------------------------------------------

SHA256_AVX2_TARGET inline __m256i rotr8(__m256i x, int n) {
  return _mm256_or_si256(_mm256_srli_epi32(x, n), _mm256_slli_epi32(x, 32 - n));
}

// Transposes an 8x8 matrix of 32-bit words held as eight rows: afterwards r[j] lane i is the old
// r[i] lane j. Turns eight messages' words (one message per register) into word-per-register,
// message-per-lane form, and states back and forth.
SHA256_AVX2_TARGET inline void transpose8(__m256i r[8]) {
  __m256i t[8], u[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 2; ++i) {
    u[4 * i + 0] = _mm256_unpacklo_epi64(t[4 * i + 0], t[4 * i + 2]);
    u[4 * i + 1] = _mm256_unpackhi_epi64(t[4 * i + 0], t[4 * i + 2]);
    u[4 * i + 2] = _mm256_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
    u[4 * i + 3] = _mm256_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
  }
  // u[k] (k < 4) holds columns k and k+4 of rows 0-3, u[k+4] the same of rows 4-7, in its two
  // 128-bit halves.
  for (int k = 0; k < 4; ++k) {
    r[k] = _mm256_permute2x128_si256(u[k], u[k + 4], 0x20);
    r[k + 4] = _mm256_permute2x128_si256(u[k], u[k + 4], 0x31);
  }
}

SHA256_AVX2_TARGET inline void round8(__m256i a, __m256i b, __m256i c, __m256i& d, __m256i e, __m256i f, __m256i g,
                                      __m256i& h, __m256i kw) {
  const __m256i s1 = _mm256_xor_si256(_mm256_xor_si256(rotr8(e, 6), rotr8(e, 11)), rotr8(e, 25));
  const __m256i ch = _mm256_xor_si256(g, _mm256_and_si256(e, _mm256_xor_si256(f, g)));
  const __m256i t1 = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(h, kw), ch), s1);
  const __m256i s0 = _mm256_xor_si256(_mm256_xor_si256(rotr8(a, 2), rotr8(a, 13)), rotr8(a, 22));
  const __m256i maj = _mm256_or_si256(_mm256_and_si256(a, b), _mm256_and_si256(c, _mm256_or_si256(a, b)));
  d = _mm256_add_epi32(d, t1);
  h = _mm256_add_epi32(t1, _mm256_add_epi32(s0, maj));
}

// K[t] + W[t] for eight messages. For t >= 16 it computes W[t] in place in the ring of the last
// 16 words (w[t % 16] holds W[t - 16] until then).
SHA256_AVX2_TARGET inline __m256i kw8(__m256i w[16], int t) {
  if (t >= 16) {
    const __m256i w15 = w[(t - 15) & 15], w2 = w[(t - 2) & 15];
    const __m256i s0 = _mm256_xor_si256(_mm256_xor_si256(rotr8(w15, 7), rotr8(w15, 18)), _mm256_srli_epi32(w15, 3));
    const __m256i s1 = _mm256_xor_si256(_mm256_xor_si256(rotr8(w2, 17), rotr8(w2, 19)), _mm256_srli_epi32(w2, 10));
    w[t & 15] = _mm256_add_epi32(_mm256_add_epi32(w[t & 15], s0), _mm256_add_epi32(w[(t - 7) & 15], s1));
  }
  return _mm256_add_epi32(_mm256_set1_epi32(int(kRoundConstants[t])), w[t & 15]);
}

}  // namespace

SHA256_AVX2_TARGET void compress_avx2(uint32_t state[8], const uint8_t* blocks, size_t nblocks) {
  const __m128i byteswap = _mm_setr_epi8(3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12);
  for (; nblocks != 0; --nblocks, blocks += kBlockBytes) {
    // kw[t] = K[t] + W[t], written by the vector side and read by the scalar rounds. The vector
    // side runs four groups (16 rounds) ahead: group q is computed just before round 4q - 16.
    // Computing all of it before the rounds instead measured 25 % slower: interleaved, the
    // schedule's vector work hides in the rounds' scalar dependency chain.
    alignas(16) uint32_t kw[64];
    __m128i w[4];  // w[q % 4] = W[4q .. 4q+3]
    for (int q = 0; q < 4; ++q) {
      w[q] = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blocks + 16 * q)), byteswap);
      const __m128i k = _mm_load_si128(reinterpret_cast<const __m128i*>(kRoundConstants + 4 * q));
      _mm_store_si128(reinterpret_cast<__m128i*>(kw + 4 * q), _mm_add_epi32(w[q], k));
    }
    uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
    uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
#pragma GCC unroll 8
    for (int t = 0; t < 64; t += 8) {
      const int q = t / 4 + 4;
      if (q < 16) schedule_group(w, kw, q);
      scalar_round(a, b, c, d, e, f, g, h, kw[t + 0]);
      scalar_round(h, a, b, c, d, e, f, g, kw[t + 1]);
      scalar_round(g, h, a, b, c, d, e, f, kw[t + 2]);
      scalar_round(f, g, h, a, b, c, d, e, kw[t + 3]);
      if (q + 1 < 16) schedule_group(w, kw, q + 1);
      scalar_round(e, f, g, h, a, b, c, d, kw[t + 4]);
      scalar_round(d, e, f, g, h, a, b, c, kw[t + 5]);
      scalar_round(c, d, e, f, g, h, a, b, kw[t + 6]);
      scalar_round(b, c, d, e, f, g, h, a, kw[t + 7]);
    }
    state[0] += a, state[1] += b, state[2] += c, state[3] += d;
    state[4] += e, state[5] += f, state[6] += g, state[7] += h;
  }
}

SHA256_AVX2_TARGET void compress_avx2_lanes(uint32_t (*states)[8], const uint8_t* const* blocks, size_t nblocks) {
  static_assert(kAvx2Lanes == 8, "one lane per 32-bit element of a 256-bit register");
  const __m256i byteswap = _mm256_setr_epi8(3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12,  //
                                            3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12);
  __m256i s[8];  // s[j] lane i = states[i][j]
  for (int i = 0; i < 8; ++i) s[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(states[i]));
  transpose8(s);

  for (size_t offset = 0; nblocks != 0; --nblocks, offset += kBlockBytes) {
    __m256i w[16];  // w[t] lane i = W[t] of message i; then a ring of the last 16 words
    for (int half = 0; half < 2; ++half) {
      __m256i* rows = w + 8 * half;
      for (int i = 0; i < 8; ++i) {
        const auto* src = reinterpret_cast<const __m256i*>(blocks[i] + offset + 32 * half);
        rows[i] = _mm256_shuffle_epi8(_mm256_loadu_si256(src), byteswap);
      }
      transpose8(rows);
    }
    __m256i a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];
#pragma GCC unroll 8
    for (int t = 0; t < 64; t += 8) {
      round8(a, b, c, d, e, f, g, h, kw8(w, t + 0));
      round8(h, a, b, c, d, e, f, g, kw8(w, t + 1));
      round8(g, h, a, b, c, d, e, f, kw8(w, t + 2));
      round8(f, g, h, a, b, c, d, e, kw8(w, t + 3));
      round8(e, f, g, h, a, b, c, d, kw8(w, t + 4));
      round8(d, e, f, g, h, a, b, c, kw8(w, t + 5));
      round8(c, d, e, f, g, h, a, b, kw8(w, t + 6));
      round8(b, c, d, e, f, g, h, a, kw8(w, t + 7));
    }
    s[0] = _mm256_add_epi32(s[0], a), s[1] = _mm256_add_epi32(s[1], b);
    s[2] = _mm256_add_epi32(s[2], c), s[3] = _mm256_add_epi32(s[3], d);
    s[4] = _mm256_add_epi32(s[4], e), s[5] = _mm256_add_epi32(s[5], f);
    s[6] = _mm256_add_epi32(s[6], g), s[7] = _mm256_add_epi32(s[7], h);
  }

  transpose8(s);
  for (int i = 0; i < 8; ++i) _mm256_storeu_si256(reinterpret_cast<__m256i*>(states[i]), s[i]);
}

}  // namespace spindle::sha256_detail

#endif
