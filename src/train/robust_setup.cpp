#include "gossamer/train/robust_setup.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "gossamer/data/dataset.h"
#include "gossamer/optim/distributed_optimizer.h"
#include "gossamer/optim/robust_mixing.h"
#include "gossamer/topology/topology.h"

namespace gossamer::train {

bool robust_enabled(const config::Config& cfg) {
  return cfg.robust.aggregator != "none" || cfg.attack.kind != "none";
}

std::vector<int> attacker_ranks(const config::Config& cfg) {
  std::vector<int> r;
  if (cfg.attack.kind == "none") return r;
  for (int64_t k : cfg.attack.ranks) r.push_back(static_cast<int>(k));
  std::sort(r.begin(), r.end());
  return r;
}

namespace {

// [robust] as the aggregator's options for `world` senders. "none" (an attack without a rule) is
// the mean; with clipped-gossip any global average of the same run (gossip-pga) uses centered
// clipping with the configured radius.
robust::AggregatorOptions aggregator_options(const config::Config& cfg, int world) {
  const config::RobustConfig& k = cfg.robust;
  robust::AggregatorOptions a;
  a.rule = k.aggregator == "none" ? "mean" : k.aggregator == "clipped-gossip" ? "cc" : k.aggregator;
  a.f = k.f;
  a.trim = k.trim;
  a.select = k.select;
  a.radius = k.radius;
  a.cc_iterations = k.cc_iterations;
  a.geomed_iterations = k.geomed_iterations;
  a.pre = k.pre;
  a.bucket_size = k.bucket_size;
  a.seed = static_cast<uint64_t>(cfg.train.seed);
  a.safeguard.world = world;
  a.safeguard.window0 = k.safeguard_window0;
  a.safeguard.window1 = k.safeguard_window1;
  a.safeguard.threshold0 = k.safeguard_threshold0;
  a.safeguard.threshold1 = k.safeguard_threshold1;
  a.safeguard.readmit = k.safeguard_readmit;
  return a;
}

}  // namespace

void check_robust_topology(const config::Config& cfg, const topology::Topology& topology) {
  const config::RobustConfig& k = cfg.robust;
  if (k.aggregator == "none" || k.aggregator == "mean" || k.aggregator == "clipped-gossip") return;
  const robust::AggregatorOptions a = aggregator_options(cfg, topology.size());
  // The rule runs on each neighbourhood: check the smallest one now rather than at the first step.
  const int64_t need = robust::make_aggregator(a)->min_inputs();
  for (int64_t step = 0; step < topology.period(); ++step) {
    for (int r = 0; r < topology.size(); ++r) {
      const int64_t have = static_cast<int64_t>(topology.in_neighbors(r, step).size()) + 1;
      if (have < need) {
        throw config::ConfigError("config: robust.aggregator = \"" + k.aggregator + "\" with robust.f = " +
                                  std::to_string(k.f) + " needs " + std::to_string(need) +
                                  " inputs per neighbourhood, and rank " + std::to_string(r) + " has " +
                                  std::to_string(have) + " (itself included) on cluster.topology = \"" +
                                  cfg.cluster.topology + "\": use a topology with more neighbours, a smaller "
                                  "robust.f, or robust.aggregator = \"clipped-gossip\"");
      }
    }
  }
}

void install_robustness(const config::Config& cfg, int world, int64_t numel, const topology::Topology* topology,
                        optim::DistributedOptimizer& optimizer) {
  const config::RobustConfig& k = cfg.robust;
  optim::RobustMixingOptions o;
  o.aggregator = aggregator_options(cfg, world);
  if (k.aggregator == "clipped-gossip") {
    o.gossip = "clipped";
  } else if (k.aggregator == "none" || k.aggregator == "mean") {
    o.gossip = "mean";
  } else {
    o.gossip = "aggregator";
  }
  o.gossip_radius = k.gossip_radius;
  o.worker_momentum = k.worker_momentum;
  o.attackers = attacker_ranks(cfg);
  o.attack.kind = robust::parse_attack(cfg.attack.kind);
  o.attack.scale = cfg.attack.scale;
  o.attack.sigma = cfg.attack.sigma;
  o.attack.z = cfg.attack.z;
  o.attack.epsilon = cfg.attack.epsilon;
  o.attack.seed = static_cast<uint64_t>(cfg.train.seed) * 7 + 3;
  o.attack.world = world;
  o.attack.byzantine = static_cast<int64_t>(o.attackers.size());
  o.numel = numel;
  if (topology && optimizer.gossips()) check_robust_topology(cfg, *topology);
  optimizer.set_mixing(std::make_unique<optim::RobustMixing>(std::move(o)));
}

void flip_labels(data::Dataset& shard) {
  if (shard.num_classes < 2) {
    throw std::invalid_argument("attack.kind = \"label-flip\" needs class labels; this dataset is a regression");
  }
  shard.targets = (shard.num_classes - 1) - shard.targets;
}

}  // namespace gossamer::train
