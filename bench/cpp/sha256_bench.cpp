// Times the SHA-256 core (src-cpp/core/sha256) on one thread, per path the CPU supports:
//   - one large buffer through sha256() (MB/s), and the same bytes as 8 equal messages through
//     sha256_many, which shows what the multi-stream compressions add on large inputs;
//   - a batch of small messages: sha256() in a loop against sha256_many (messages/s).
// Each figure is the median of RUNS runs (min and max alongside). Compare with
// `openssl speed -evp sha256 -bytes 16384` on the same machine.
//   g++ -std=c++20 -O3 -Isrc-cpp/core bench/cpp/sha256_bench.cpp src-cpp/core/sha256/*.cpp
//       src-cpp/core/cpu.cpp -o build/sha256_bench
//   build/sha256_bench [MIB=256] [MESSAGES=200000] [MESSAGE_BYTES=64] [RUNS=5]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "cpu.hpp"
#include "sha256/sha256.hpp"

using namespace spindle;

namespace {

struct Stats {
  double median, min, max;
};

// Runs `body` `runs` times after one warm-up run; returns `units` per second for each run.
Stats rate(int runs, double units, const std::function<void()>& body) {
  body();
  std::vector<double> rates;
  for (int r = 0; r < runs; ++r) {
    const auto start = std::chrono::steady_clock::now();
    body();
    rates.push_back(units / std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(rates.begin(), rates.end());
  return {rates[rates.size() / 2], rates.front(), rates.back()};
}

void print(const char* path, const char* what, Stats s, double scale, const char* unit) {
  std::printf("%-9s %-34s %9.1f %s  (min %.1f, max %.1f)\n", path, what, s.median / scale, unit, s.min / scale,
              s.max / scale);
}

}  // namespace

int main(int argc, char** argv) {
  const size_t mib = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 256;
  const size_t messages = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 200'000;
  const size_t message_bytes = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 64;
  const int runs = std::max(1, argc > 4 ? std::atoi(argv[4]) : 5);

  std::vector<uint8_t> big(mib << 20);
  for (size_t i = 0; i < big.size(); ++i) big[i] = uint8_t(i * 131 + (i >> 12));
  std::vector<uint8_t> small(messages * message_bytes);
  for (size_t i = 0; i < small.size(); ++i) small[i] = uint8_t(i * 7 + (i >> 8));
  std::vector<const uint8_t*> data(messages);
  std::vector<size_t> lens(messages, message_bytes);
  for (size_t i = 0; i < messages; ++i) data[i] = small.data() + i * message_bytes;
  // The same messages visited in a random order, as a batch of separately allocated buffers
  // would be: no hardware prefetcher can follow that.
  std::vector<const uint8_t*> shuffled(data);
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937_64(42));
  std::vector<uint8_t> out(32 * messages);
  auto* digests = reinterpret_cast<uint8_t(*)[32]>(out.data());

  std::printf("cpu: %s; default path: %s\n", cpu_features().c_str(), sha256_path_name(sha256_best_path()));
  std::printf("%zu MiB buffer, %zu messages of %zu bytes, median of %d runs, one thread\n", mib, messages,
              message_bytes, runs);
  for (Sha256Path path : {Sha256Path::Portable, Sha256Path::Avx2, Sha256Path::ShaNi}) {
    if (!sha256_path_supported(path)) continue;
    const char* name = sha256_path_name(path);
    uint8_t d[32];
    print(name, "sha256(buffer)", rate(runs, double(big.size()), [&] { sha256(big.data(), big.size(), d, path); }), 1e6,
          "MB/s");
    const uint8_t* eighths[8];
    size_t eighth_lens[8];
    for (int i = 0; i < 8; ++i) eighths[i] = big.data() + i * (big.size() / 8), eighth_lens[i] = big.size() / 8;
    uint8_t eight_out[8][32];
    print(name, "sha256_many(buffer as 8 messages)",
          rate(runs, double(big.size()), [&] { sha256_many(eighths, eighth_lens, 8, eight_out, path); }), 1e6, "MB/s");
    print(name, "sha256() loop over messages", rate(runs, double(messages), [&] {
            for (size_t i = 0; i < messages; ++i) sha256(data[i], lens[i], digests[i], path);
          }), 1e6, "M msgs/s");
    print(name, "sha256_many(messages)",
          rate(runs, double(messages), [&] { sha256_many(data.data(), lens.data(), messages, digests, path); }), 1e6,
          "M msgs/s");
    print(name, "sha256() loop, shuffled", rate(runs, double(messages), [&] {
            for (size_t i = 0; i < messages; ++i) sha256(shuffled[i], lens[i], digests[i], path);
          }), 1e6, "M msgs/s");
    print(name, "sha256_many(messages), shuffled",
          rate(runs, double(messages), [&] { sha256_many(shuffled.data(), lens.data(), messages, digests, path); }), 1e6,
          "M msgs/s");
  }
}
