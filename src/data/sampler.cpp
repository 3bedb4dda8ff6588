#include "gossamer/data/sampler.h"

#include <algorithm>
#include <numeric>
#include <random>
#include <stdexcept>

namespace gossamer::data {

SampleOrder parse_sample_order(const std::string& name) {
  if (name == "reshuffle") return SampleOrder::Reshuffle;
  if (name == "shuffle-once") return SampleOrder::ShuffleOnce;
  if (name == "cyclic") return SampleOrder::Cyclic;
  throw std::invalid_argument("unknown sample order '" + name + "': use reshuffle, shuffle-once or cyclic");
}

std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch, SampleOrder order) {
  std::vector<int64_t> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  if (order == SampleOrder::Cyclic) return idx;
  const uint64_t e = order == SampleOrder::ShuffleOnce ? 0 : static_cast<uint64_t>(epoch);
  // SplitMix-style mixing so that consecutive (seed, epoch) pairs give unrelated streams.
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), static_cast<uint32_t>(e),
                    static_cast<uint32_t>(e >> 32), 0x5eedu};
  std::mt19937_64 rng(seq);
  std::shuffle(idx.begin(), idx.end(), rng);
  return idx;
}

}  // namespace gossamer::data
