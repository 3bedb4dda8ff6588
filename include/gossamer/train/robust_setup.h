// Turning [robust] and [attack] into the optimizer's mixing rule (optim::RobustMixing) and the
// label flip of attacking ranks (docs/robust.md).
#pragma once

#include <vector>

#include "gossamer/config/config.h"

namespace gossamer::data {
struct Dataset;
}
namespace gossamer::optim {
class DistributedOptimizer;
}
namespace gossamer::topology {
class Topology;
}

namespace gossamer::train {

// Whether the run needs the robust seam: an aggregator other than none, or any attack.
bool robust_enabled(const config::Config& cfg);
// The attacking ranks (sorted); empty without an attack.
std::vector<int> attacker_ranks(const config::Config& cfg);

// For a gossip algorithm: throws config::ConfigError when a neighbourhood of `topology` (itself
// included) is smaller than robust.aggregator needs (Krum 2f + 3, ...). run_training calls it before
// loading any data; install_robustness calls it too.
void check_robust_topology(const config::Config& cfg, const topology::Topology& topology);

// Installs optim::RobustMixing on `optimizer` for this worker (`world` workers, messages of
// `numel` values). With an attack but robust.aggregator = "none" the rule aggregates with the
// mean (the W-weighted mean in gossip): what an unprotected run does, with the attack injected.
// Throws config::ConfigError when a neighbourhood of `topology` (gossip) is too small for the rule.
void install_robustness(const config::Config& cfg, int world, int64_t numel, const topology::Topology* topology,
                        optim::DistributedOptimizer& optimizer);

// attack.kind = "label-flip" on an attacking rank: y -> classes - 1 - y in `shard`.
void flip_labels(data::Dataset& shard);

}  // namespace gossamer::train
