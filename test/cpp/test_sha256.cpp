// SHA-256 (sha256/): the NIST CAVP byte-oriented vectors (SHA256ShortMsg.rsp, SHA256LongMsg.rsp;
// the directory is argv[1], which CMake passes) and the FIPS 180-4 examples, on every path this
// CPU supports, through the one-shot function, the incremental hasher fed at random split points
// and sha256_many; every path against the portable one on random messages; the path selection
// rule and SPINDLE_SHA256_PATH. Under a sanitizer the heaviest cases shrink (see kFull).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "check.hpp"
#include "sha256/sha256.hpp"

using namespace spindle;

namespace {

using check::kFull;

// main() sets SPINDLE_SHA256_PATH to this before any SHA-256 call, so that the test of the
// variable sees it on the first, cached, evaluation. It picks a path that is never the default
// on a CPU with SHA-NI or AVX2, and is spelled in capitals to cover case-insensitivity.
constexpr const char* kForcedPath = "Portable";

std::string g_vector_dir;

using Digest = std::vector<uint8_t>;
using Bytes = std::vector<uint8_t>;

constexpr Sha256Path kAllPaths[] = {Sha256Path::Portable, Sha256Path::Avx2, Sha256Path::ShaNi, Sha256Path::Armv8};

std::vector<Sha256Path> supported_paths() {
  std::vector<Sha256Path> paths;
  for (Sha256Path p : kAllPaths) {
    if (sha256_path_supported(p)) paths.push_back(p);
  }
  return paths;
}

Bytes from_hex(const std::string& hex) {
  Bytes out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) out[i] = uint8_t(std::stoul(hex.substr(2 * i, 2), nullptr, 16));
  return out;
}

Bytes text(const std::string& s) { return Bytes(s.begin(), s.end()); }

std::string one_shot(const Bytes& m, Sha256Path path) {
  uint8_t d[32];
  sha256(m.data(), m.size(), d, path);
  return sha256_hex(d);
}

// Feeds `m` to a Sha256 in pieces cut at random points (including empty pieces).
std::string incremental(const Bytes& m, Sha256Path path, std::mt19937_64& rng) {
  Sha256 h(path);
  size_t at = 0;
  while (at < m.size()) {
    const size_t limit = std::uniform_int_distribution<int>(0, 3)(rng) == 0 ? 3 * kSha256BlockBytes : 17;
    const size_t piece = std::min(m.size() - at, std::uniform_int_distribution<size_t>(0, limit)(rng));
    h.update(m.data() + at, piece);
    at += piece;
  }
  CHECK(h.length() == m.size());
  uint8_t d[32];
  h.final(d);
  return sha256_hex(d);
}

std::vector<std::string> many(const std::vector<Bytes>& ms, Sha256Path path) {
  std::vector<const uint8_t*> data;
  std::vector<size_t> lens;
  for (const Bytes& m : ms) data.push_back(m.empty() ? nullptr : m.data()), lens.push_back(m.size());
  std::vector<uint8_t> out(32 * ms.size());
  sha256_many(data.data(), lens.data(), ms.size(), reinterpret_cast<uint8_t(*)[32]>(out.data()), path);
  std::vector<std::string> hex;
  for (size_t i = 0; i < ms.size(); ++i) hex.push_back(sha256_hex(out.data() + 32 * i));
  return hex;
}

struct Vector {
  Bytes message;
  std::string digest;
};

// Reads a CAVP .rsp file: "Len = <bits>", "Msg = <hex>", "MD = <hex>" records. Len counts bits,
// and the Len = 0 record carries "Msg = 00" for the empty message.
std::vector<Vector> read_rsp(const std::string& name) {
  std::ifstream in(g_vector_dir + "/" + name);
  std::vector<Vector> out;
  size_t bits = 0;
  Bytes msg;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto value = [&line] { return line.substr(line.find('=') + 2); };
    if (line.rfind("Len = ", 0) == 0) bits = std::stoul(value());
    if (line.rfind("Msg = ", 0) == 0) msg = from_hex(value()), msg.resize(bits / 8);
    if (line.rfind("MD = ", 0) == 0) out.push_back({msg, value()});
  }
  return out;
}

void check_vectors(const std::vector<Vector>& vectors, size_t expected_count) {
  CHECK(vectors.size() == expected_count);
  std::mt19937_64 rng(vectors.size());
  std::vector<Bytes> messages;
  for (const Vector& v : vectors) messages.push_back(v.message);
  for (Sha256Path path : supported_paths()) {
    int failed = 0;
    for (const Vector& v : vectors) {
      failed += one_shot(v.message, path) != v.digest;
      failed += incremental(v.message, path, rng) != v.digest;
    }
    const auto batch = many(messages, path);
    for (size_t i = 0; i < vectors.size(); ++i) failed += batch[i] != vectors[i].digest;
    if (failed != 0) std::printf("  %s: %d mismatches\n", sha256_path_name(path), failed);
    CHECK(failed == 0);
  }
}

// The feature line Linux reports in /proc/cpuinfo ("flags" on x86, "Features" on ARM), or ""
// where there is none: detection must find every path it promises. (Under qemu-user,
// /proc/cpuinfo is the host's, so an AArch64 build finds no "Features" line and checks nothing.)
[[maybe_unused]] std::string proc_cpu_flags(const char* key) {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key, 0) == 0) return line + " ";
  }
  return "";
}

TEST_CASE("paths: names, support, and detection agrees with /proc/cpuinfo") {
  CHECK(std::string(sha256_path_name(Sha256Path::Portable)) == "portable");
  CHECK(std::string(sha256_path_name(Sha256Path::Avx2)) == "avx2");
  CHECK(std::string(sha256_path_name(Sha256Path::ShaNi)) == "shani");
  CHECK(std::string(sha256_path_name(Sha256Path::Armv8)) == "armv8");
  CHECK(sha256_path_supported(Sha256Path::Portable));
#if defined(__x86_64__) || defined(__i386__)
  const std::string flags = proc_cpu_flags("flags");
  auto flag = [&flags](const char* name) { return flags.find(std::string(" ") + name + " ") != std::string::npos; };
  if (flag("sha_ni") && flag("sse4_1")) CHECK(sha256_support().sha_ni);
  if (flag("avx2") && flag("bmi2")) CHECK(sha256_support().avx2);
  CHECK(!sha256_support().armv8);
#elif defined(__aarch64__)
  const std::string flags = proc_cpu_flags("Features");
  if (!flags.empty()) CHECK(sha256_support().armv8 == (flags.find(" sha2 ") != std::string::npos));
  CHECK(!sha256_support().sha_ni && !sha256_support().avx2);
#else
  CHECK(!sha256_support().sha_ni && !sha256_support().avx2 && !sha256_support().armv8);
#endif
  std::string tested;
  for (Sha256Path p : supported_paths()) tested += std::string(" ") + sha256_path_name(p);
  std::printf("  paths this CPU supports, all tested below:%s\n", tested.c_str());
}

TEST_CASE("path selection rule") {
  const Sha256Support none{false, false}, avx2{true, false}, shani{false, true}, both{true, true};
  const Sha256Support armv8{false, false, true};
  // Unset or empty: the fastest available.
  CHECK(sha256_select_path(nullptr, none) == Sha256Path::Portable);
  CHECK(sha256_select_path(nullptr, avx2) == Sha256Path::Avx2);
  CHECK(sha256_select_path(nullptr, shani) == Sha256Path::ShaNi);
  CHECK(sha256_select_path(nullptr, both) == Sha256Path::ShaNi);
  CHECK(sha256_select_path("", both) == Sha256Path::ShaNi);
  // A supported path by name, in any case.
  CHECK(sha256_select_path("portable", both) == Sha256Path::Portable);
  CHECK(sha256_select_path("PORTABLE", none) == Sha256Path::Portable);
  CHECK(sha256_select_path("avx2", both) == Sha256Path::Avx2);
  CHECK(sha256_select_path("AVX2", avx2) == Sha256Path::Avx2);
  CHECK(sha256_select_path("shani", both) == Sha256Path::ShaNi);
  CHECK(sha256_select_path("ShaNi", shani) == Sha256Path::ShaNi);
  // A path the CPU lacks: the fastest available.
  CHECK(sha256_select_path("shani", avx2) == Sha256Path::Avx2);
  CHECK(sha256_select_path("shani", none) == Sha256Path::Portable);
  CHECK(sha256_select_path("avx2", shani) == Sha256Path::ShaNi);
  CHECK(sha256_select_path("avx2", none) == Sha256Path::Portable);
  // ARMv8: the fastest where present, by name in any case, and an x86 name falls back to it.
  CHECK(sha256_select_path(nullptr, armv8) == Sha256Path::Armv8);
  CHECK(sha256_select_path("ARMv8", armv8) == Sha256Path::Armv8);
  CHECK(sha256_select_path("portable", armv8) == Sha256Path::Portable);
  CHECK(sha256_select_path("shani", armv8) == Sha256Path::Armv8);
  CHECK(sha256_select_path("avx2", armv8) == Sha256Path::Armv8);
  CHECK(sha256_select_path("armv8", both) == Sha256Path::ShaNi);
  CHECK(sha256_select_path("armv8", none) == Sha256Path::Portable);
  // Unknown names, near misses included: the fastest available.
  for (const char* bad : {"sha-ni", "sha_ni", "avx", "avx512", " portable", "portable ", "portabl", "portablex", "x",
                          "arm", "armv8-ce", "sha2"}) {
    CHECK(sha256_select_path(bad, both) == Sha256Path::ShaNi);
    CHECK(sha256_select_path(bad, armv8) == Sha256Path::Armv8);
    CHECK(sha256_select_path(bad, avx2) == Sha256Path::Avx2);
    CHECK(sha256_select_path(bad, none) == Sha256Path::Portable);
  }
}

TEST_CASE("SPINDLE_SHA256_PATH is honoured (set by main before the first call)") {
  CHECK(sha256_best_path() == sha256_select_path(kForcedPath, sha256_support()));
  CHECK(sha256_best_path() == Sha256Path::Portable);
  CHECK(Sha256().path() == Sha256Path::Portable);  // the hasher's default is the selected path
  // A path the CPU lacks falls back to the selected one, never to an unsupported instruction.
  for (Sha256Path p : kAllPaths) CHECK(Sha256(p).path() == (sha256_path_supported(p) ? p : sha256_best_path()));
}

TEST_CASE("FIPS 180-4 examples on every path") {
  const Bytes million_a(1'000'000, 'a');
  const std::pair<Bytes, std::string> examples[] = {
      {text(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
      {text("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
      {text("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
      {text("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs"
            "mnopqrstnopqrstu"),
       "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
      {million_a, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
  };
  std::mt19937_64 rng(180);
  for (Sha256Path path : supported_paths()) {
    std::vector<Bytes> batch;
    for (const auto& [message, digest] : examples) {
      CHECK(one_shot(message, path) == digest);
      CHECK(incremental(message, path, rng) == digest);
      batch.push_back(message);
    }
    const auto got = many(batch, path);
    for (size_t i = 0; i < batch.size(); ++i) CHECK(got[i] == examples[i].second);
    // The million 'a's in 1000-byte updates, the way the standard states it.
    Sha256 h(path);
    for (int i = 0; i < 1000; ++i) h.update(million_a.data(), 1000);
    uint8_t d[32];
    h.final(d);
    CHECK(sha256_hex(d) == examples[4].second);
  }
}

TEST_CASE("NIST CAVP SHA256ShortMsg.rsp on every path") { check_vectors(read_rsp("SHA256ShortMsg.rsp"), 65); }

TEST_CASE("NIST CAVP SHA256LongMsg.rsp on every path") { check_vectors(read_rsp("SHA256LongMsg.rsp"), 64); }

TEST_CASE("the hasher: final resets, null with zero length, byte at a time") {
  for (Sha256Path path : supported_paths()) {
    Sha256 h(path);
    uint8_t d[32];
    h.update(nullptr, 0);
    h.final(d);
    CHECK(sha256_hex(d) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(h.length() == 0);
    const Bytes abc = text("abc");
    for (uint8_t byte : abc) h.update(&byte, 1);
    h.final(d);
    CHECK(sha256_hex(d) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    h.update(abc.data(), 3);
    h.reset();
    h.final(d);
    CHECK(sha256_hex(d) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    uint8_t e[32];
    sha256(nullptr, 0, e, path);
    CHECK(std::memcmp(d, e, 32) == 0);
  }
}

TEST_CASE("every path equals portable at every length 0..1100 and odd alignments") {
  std::mt19937_64 rng(1100);
  Bytes buffer(1100 + 64);
  for (uint8_t& b : buffer) b = uint8_t(rng());
  for (size_t len = 0; len <= 1100; ++len) {
    const size_t offset = len % 61;  // misaligned inputs
    const Bytes m(buffer.begin() + offset, buffer.begin() + offset + len);
    const std::string expected = one_shot(m, Sha256Path::Portable);
    for (Sha256Path path : supported_paths()) {
      uint8_t d[32];
      sha256(buffer.data() + offset, len, d, path);
      CHECK(sha256_hex(d) == expected);
      if (len % 7 == 0) CHECK(incremental(m, path, rng) == expected);
    }
  }
}

// Random batches: sizes around each lane count, lengths 0..300 with a few long messages, some
// messages repeated by pointer, all against the portable one-shot.
TEST_CASE("sha256_many: random batches agree with the portable one-shot") {
  std::mt19937_64 rng(256);
  const size_t sizes[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 100, kFull ? 2000u : 300u};
  for (size_t n : sizes) {
    for (int round = 0; round < 3; ++round) {
      std::vector<Bytes> storage(n);
      for (size_t i = 0; i < n; ++i) {
        size_t len = std::uniform_int_distribution<size_t>(0, 300)(rng);
        if (round == 1 && i % 5 == 0) len = std::uniform_int_distribution<size_t>(1000, kFull ? 300'000 : 20'000)(rng);
        if (round == 2) len = 64;  // equal lengths: every lane finishes in the same step
        storage[i].resize(len + 1);
        for (uint8_t& b : storage[i]) b = uint8_t(rng());
      }
      std::vector<const uint8_t*> data(n);
      std::vector<size_t> lens(n);
      std::vector<std::string> expected(n);
      for (size_t i = 0; i < n; ++i) {
        // Every 7th message points into the previous one (overlapping, read-only inputs);
        // the rest start one byte in, so that inputs are misaligned.
        const bool alias = i % 7 == 6;
        data[i] = alias ? storage[i - 1].data() : storage[i].data() + 1;
        lens[i] = alias ? storage[i - 1].size() - 1 : storage[i].size() - 1;
        uint8_t d[32];
        sha256(data[i], lens[i], d, Sha256Path::Portable);
        expected[i] = sha256_hex(d);
      }
      for (Sha256Path path : supported_paths()) {
        std::vector<uint8_t> out(32 * n + 1);
        sha256_many(data.data(), lens.data(), n, reinterpret_cast<uint8_t(*)[32]>(out.data()), path);
        int failed = 0;
        for (size_t i = 0; i < n; ++i) failed += sha256_hex(out.data() + 32 * i) != expected[i];
        if (failed != 0) std::printf("  %s n=%zu round=%d: %d mismatches\n", sha256_path_name(path), n, round, failed);
        CHECK(failed == 0);
        CHECK(out[32 * n] == 0);  // nothing written past the last digest
      }
    }
  }
}

TEST_CASE("threads hash at once, sharing inputs") {
  Bytes input(100'000);
  for (size_t i = 0; i < input.size(); ++i) input[i] = uint8_t(i * 7);
  uint8_t expected[32];
  sha256(input.data(), input.size(), expected, Sha256Path::Portable);
  std::vector<int> ok(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      const Sha256Path path = supported_paths()[size_t(t) % supported_paths().size()];
      const uint8_t* data[8];
      size_t lens[8];
      for (int i = 0; i < 8; ++i) data[i] = input.data(), lens[i] = input.size();
      uint8_t out[8][32];
      sha256_many(data, lens, 8, out, path);
      int good = 0;
      for (auto& d : out) good += std::memcmp(d, expected, 32) == 0;
      ok[size_t(t)] = good;
    });
  }
  for (auto& t : threads) t.join();
  for (int good : ok) CHECK(good == 8);
}

TEST_CASE("sha256_hex") {
  uint8_t d[32];
  for (int i = 0; i < 32; ++i) d[i] = uint8_t(i * 8 + 7);
  CHECK(sha256_hex(d) == "070f171f272f373f474f575f676f777f878f979fa7afb7bfc7cfd7dfe7eff7ff");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <directory with SHA256ShortMsg.rsp and SHA256LongMsg.rsp>\n", argv[0]);
    return 2;
  }
  g_vector_dir = argv[1];
  setenv("SPINDLE_SHA256_PATH", kForcedPath, 1);
  return check::run_all();
}
