// SHA-256's front end: which path runs, padding, the one-shot and incremental hashers. The
// compression functions live in portable.cpp, shani.cpp, avx2.cpp and armv8.cpp; batches in
// many.cpp.
#include "sha256.hpp"

#include <cstdlib>
#include <cstring>

#include "compress.hpp"
#include "cpu.hpp"

namespace spindle {

using namespace sha256_detail;

const char* sha256_path_name(Sha256Path path) {
  switch (path) {
    case Sha256Path::Portable: return "portable";
    case Sha256Path::Avx2: return "avx2";
    case Sha256Path::ShaNi: return "shani";
    case Sha256Path::Armv8: return "armv8";
  }
  return "unknown";
}

Sha256Support sha256_support() {
  static const Sha256Support support = [] {
    Sha256Support s;
#if defined(__x86_64__) || defined(__i386__)
    s.avx2 = cpu_has_avx2() && cpu_has_bmi2();
    s.sha_ni = cpu_has_sha_ni();
#endif
#if defined(SPINDLE_SHA256_ARMV8)
    s.armv8 = cpu_has_arm_sha2();
#endif
    return s;
  }();
  return support;
}

static bool supports(Sha256Support support, Sha256Path path) {
  switch (path) {
    case Sha256Path::Portable: return true;
    case Sha256Path::Avx2: return support.avx2;
    case Sha256Path::ShaNi: return support.sha_ni;
    case Sha256Path::Armv8: return support.armv8;
  }
  return false;
}

bool sha256_path_supported(Sha256Path path) { return supports(sha256_support(), path); }

Sha256Path sha256_select_path(const char* requested, Sha256Support support) {
  const Sha256Path fastest = support.sha_ni ? Sha256Path::ShaNi
                             : support.armv8 ? Sha256Path::Armv8
                             : support.avx2  ? Sha256Path::Avx2
                                             : Sha256Path::Portable;
  if (requested == nullptr) return fastest;
  for (Sha256Path path : {Sha256Path::Portable, Sha256Path::Avx2, Sha256Path::ShaNi, Sha256Path::Armv8}) {
    if (path_name_matches(requested, sha256_path_name(path)) && supports(support, path)) return path;
  }
  return fastest;
}

Sha256Path sha256_best_path() {
  static const Sha256Path path = sha256_select_path(std::getenv("SPINDLE_SHA256_PATH"), sha256_support());
  return path;
}

namespace sha256_detail {

Sha256Path usable_path(Sha256Path path) { return sha256_path_supported(path) ? path : sha256_best_path(); }

PathKernels path_kernels(Sha256Path path) {
  switch (path) {
#if defined(__x86_64__) || defined(__i386__)
    case Sha256Path::ShaNi: return {compress_shani, compress_shani_lanes, kShaNiLanes, kShaNiLanes};
    case Sha256Path::Avx2: return {compress_avx2, compress_avx2_lanes, kAvx2Lanes, 3};
#endif
#if defined(SPINDLE_SHA256_ARMV8)
    case Sha256Path::Armv8: return {compress_armv8, nullptr, 1, 1};
#endif
    default: return {compress_portable, nullptr, 1, 1};
  }
}

size_t pad_tail(const uint8_t* rest, size_t rest_len, uint64_t message_len, uint8_t tail[2 * kBlockBytes]) {
  const size_t blocks = rest_len + 1 + 8 <= kBlockBytes ? 1 : 2;
  const size_t end = blocks * kBlockBytes;
  if (rest_len != 0) std::memcpy(tail, rest, rest_len);
  tail[rest_len] = 0x80;
  std::memset(tail + rest_len + 1, 0, end - 8 - (rest_len + 1));
  const uint64_t bits = message_len * 8;  // modulo 2^64
  for (int i = 0; i < 8; ++i) tail[end - 1 - i] = uint8_t(bits >> (8 * i));
  return blocks;
}

void store_digest(const uint32_t state[8], uint8_t out[kSha256DigestBytes]) {
  for (int i = 0; i < 8; ++i) {
    out[4 * i + 0] = uint8_t(state[i] >> 24);
    out[4 * i + 1] = uint8_t(state[i] >> 16);
    out[4 * i + 2] = uint8_t(state[i] >> 8);
    out[4 * i + 3] = uint8_t(state[i]);
  }
}

}  // namespace sha256_detail

Sha256::Sha256(Sha256Path path) : compress_(nullptr), path_(usable_path(path)), state_{}, buffer_{} {
  compress_ = path_kernels(path_).one;
  reset();
}

void Sha256::reset() {
  std::memcpy(state_, kInitialState, sizeof state_);
  length_ = 0;
  buffered_ = 0;
}

void Sha256::update(const uint8_t* data, size_t len) {
  if (len == 0) return;
  length_ += len;
  if (buffered_ != 0) {  // complete the partial block first
    const size_t take = len < kBlockBytes - buffered_ ? len : kBlockBytes - buffered_;
    std::memcpy(buffer_ + buffered_, data, take);
    buffered_ += take, data += take, len -= take;
    if (buffered_ < kBlockBytes) return;
    compress_(state_, buffer_, 1);
    buffered_ = 0;
  }
  const size_t whole = len / kBlockBytes;
  if (whole != 0) compress_(state_, data, whole);
  data += whole * kBlockBytes, len -= whole * kBlockBytes;
  if (len != 0) std::memcpy(buffer_, data, len);
  buffered_ = len;
}

void Sha256::final(uint8_t out[kSha256DigestBytes]) {
  uint8_t tail[2 * kBlockBytes];
  compress_(state_, tail, pad_tail(buffer_, buffered_, length_, tail));
  store_digest(state_, out);
  reset();
}

void sha256(const uint8_t* data, size_t len, uint8_t out[kSha256DigestBytes], Sha256Path path) {
  const CompressFn compress = path_kernels(usable_path(path)).one;
  uint32_t state[8];
  std::memcpy(state, kInitialState, sizeof state);
  const size_t whole = len / kBlockBytes;
  if (whole != 0) compress(state, data, whole);
  uint8_t tail[2 * kBlockBytes];
  compress(state, tail, pad_tail(data + whole * kBlockBytes, len - whole * kBlockBytes, len, tail));
  store_digest(state, out);
}

std::string sha256_hex(const uint8_t digest[kSha256DigestBytes]) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex(2 * kSha256DigestBytes, '0');
  for (size_t i = 0; i < kSha256DigestBytes; ++i) {
    hex[2 * i] = kDigits[digest[i] >> 4];
    hex[2 * i + 1] = kDigits[digest[i] & 15];
  }
  return hex;
}

}  // namespace spindle
