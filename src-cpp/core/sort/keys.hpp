// Order-preserving keys: each element type maps to an unsigned integer of its width whose
// unsigned order is V8's sort order for that type, so that a radix sort on the keys sorts the
// elements. The map is invertible except for NaN, which V8 treats as one value.
//
// - Unsigned integers (Uint8Clamped included) are their own keys.
// - Signed integers: flip the sign bit.
// - Floats: flip the sign bit of non-negatives and every bit of negatives, so -Inf < ... < -0
//   < +0 < ... < +Inf; every NaN (either sign, any payload) maps to the all-ones key, above +Inf,
//   because V8 puts all NaNs last. The inverse of that key is the quiet NaN 0x7fff...f: a NaN's
//   payload is not kept, which JS cannot tell (Object.is(NaN, NaN)).
#pragma once

#include <cstdint>
#include <type_traits>

namespace spindle::sort {

template <class K>
struct UnsignedKeys {
  using Key = K;
  static K key(K raw) { return raw; }
  static K value(K key) { return key; }
};

template <class K>
struct SignedKeys {
  using Key = K;
  static constexpr K kSign = K(K(1) << (8 * sizeof(K) - 1));
  static K key(K raw) { return K(raw ^ kSign); }
  static K value(K key) { return K(key ^ kSign); }
};

// K: uint32_t for Float32, uint64_t for Float64, holding the float's bits.
template <class K>
struct FloatKeys {
  using Key = K;
  static constexpr K kSign = K(1) << (8 * sizeof(K) - 1);
  // +Inf's bits: exponent all ones, mantissa zero. A magnitude above it is a NaN.
  static constexpr K kInf = sizeof(K) == 8 ? K(0x7ff0000000000000ull) : K(0x7f800000u);
  // Branch-free, with signed compares only (magnitudes are below 2^63), so that loops over
  // keys vectorize: AVX2 has no unsigned 64-bit compare.
  static K key(K raw) {
    using S = std::make_signed_t<K>;
    const K flip = K(K(S(raw) >> (8 * sizeof(K) - 1)) | kSign);  // every bit of a negative, else the sign
    const K nan = K(K(0) - K(S(raw & ~kSign) > S(kInf)));       // all ones for a NaN
    return K((raw ^ flip) | nan);
  }
  static K value(K key) { return (key & kSign) != 0 ? K(key ^ kSign) : K(~key); }
};

}  // namespace spindle::sort
