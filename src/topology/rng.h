// Private to src/topology: a seeded random source whose output is fixed by the C++ standard.
//
// std::mt19937_64's sequence is specified, but std::uniform_*_distribution and std::shuffle are
// not, so the same seed could give a different Erdős–Rényi graph or gossip schedule on another
// standard library. Every worker must build the same topology from the same seed, so the two
// draws we need are written out here.
#pragma once

#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace gossamer::topology::detail {

class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}

  // Uniform in [0, 1): the top 53 bits of one 64-bit draw.
  double uniform() { return static_cast<double>(engine_() >> 11) * (1.0 / 9007199254740992.0); }

  // Uniform in [0, bound), bound >= 1, without modulo bias (rejection sampling).
  uint64_t below(uint64_t bound) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    uint64_t x;
    do {
      x = engine_();
    } while (x >= limit);
    return x % bound;
  }

  // Fisher–Yates.
  template <typename T>
  void shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(i)]);
  }

 private:
  std::mt19937_64 engine_;
};

}  // namespace gossamer::topology::detail
