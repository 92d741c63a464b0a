// The portable compression function: the reference every other path is tested against. Plain
// C++20: correct on any host byte order (message words are assembled byte by byte) and any
// alignment.
#include "compress.hpp"

namespace spindle::sha256_detail {

namespace {

inline uint32_t load_be32(const uint8_t* p) {
  // Compilers turn this into one load and a byte swap (a plain load on big-endian hosts).
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

// K[t] + W[t]. For t >= 16 it computes W[t] in place in the ring of the last 16 words
// (w[t % 16] holds W[t - 16] until then).
inline uint32_t kw(uint32_t w[16], int t) {
  if (t >= 16) {
    const uint32_t w15 = w[(t - 15) & 15], w2 = w[(t - 2) & 15];
    const uint32_t s0 = std::rotr(w15, 7) ^ std::rotr(w15, 18) ^ (w15 >> 3);
    const uint32_t s1 = std::rotr(w2, 17) ^ std::rotr(w2, 19) ^ (w2 >> 10);
    w[t & 15] += s1 + w[(t - 7) & 15] + s0;
  }
  return kRoundConstants[t] + w[t & 15];
}

}  // namespace

void compress_portable(uint32_t state[8], const uint8_t* block, size_t nblocks) {
  for (; nblocks != 0; --nblocks, block += kBlockBytes) {
    uint32_t w[16];
    for (int i = 0; i < 16; ++i) w[i] = load_be32(block + 4 * i);
    uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
    uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
    // Eight rounds per iteration, so that the variables are back in their places after each;
    // fully unrolled, every W index is a constant and the ring can live in registers.
#pragma GCC unroll 8
    for (int t = 0; t < 64; t += 8) {
      scalar_round(a, b, c, d, e, f, g, h, kw(w, t + 0));
      scalar_round(h, a, b, c, d, e, f, g, kw(w, t + 1));
      scalar_round(g, h, a, b, c, d, e, f, kw(w, t + 2));
      scalar_round(f, g, h, a, b, c, d, e, kw(w, t + 3));
      scalar_round(e, f, g, h, a, b, c, d, kw(w, t + 4));
      scalar_round(d, e, f, g, h, a, b, c, kw(w, t + 5));
      scalar_round(c, d, e, f, g, h, a, b, kw(w, t + 6));
      scalar_round(b, c, d, e, f, g, h, a, kw(w, t + 7));
    }
    state[0] += a, state[1] += b, state[2] += c, state[3] += d;
    state[4] += e, state[5] += f, state[6] += g, state[7] += h;
  }
}

}  // namespace spindle::sha256_detail
