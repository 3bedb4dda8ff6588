// The order in which a worker visits its samples. A pure function of (seed, epoch), so a resumed
// run sees exactly the batches the uninterrupted run would have seen.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gossamer::data {

enum class SampleOrder { Reshuffle, ShuffleOnce, Cyclic };

SampleOrder parse_sample_order(const std::string& name);  // "reshuffle" | "shuffle-once" | "cyclic"

// Permutation of [0, n) for `epoch`: a fresh shuffle per epoch (random reshuffling), one shuffle
// reused every epoch, or the identity.
std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch, SampleOrder order = SampleOrder::Reshuffle);

}  // namespace gossamer::data
