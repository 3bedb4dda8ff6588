// A key's default is the same whether a run comes from a config file or from C++: every config
// default equals the default of the option struct it is copied into (one place to read a default).
#include <gtest/gtest.h>

#include "gossamer/compress/compressor.h"
#include "gossamer/compress/layerwise.h"
#include "gossamer/config/config.h"
#include "gossamer/optim/factory.h"
#include "gossamer/optim/powersgd_averaging.h"
#include "gossamer/robust/aggregator.h"
#include "gossamer/sparse/pruner.h"
#include "gossamer/sparse/woodfisher.h"
#include "gossamer/topology/spec.h"
#include "gossamer/topology/weights.h"

namespace defaults_test {

using namespace gossamer;

TEST(Defaults, OptimizerKeysMatchTheAlgorithmsOptions) {
  const config::OptimizerConfig c;
  const optim::AlgorithmOptions o;
  EXPECT_EQ(c.period, o.local_sgd.period);
  EXPECT_EQ(c.period, o.gossip_pga.period);
  EXPECT_EQ(c.period, o.diloco.period);
  EXPECT_EQ(c.outer_lr, o.diloco.outer_lr);
  EXPECT_EQ(c.outer_momentum, o.diloco.outer_momentum);
  EXPECT_EQ(c.group_size, o.wagma.group_size);
  EXPECT_EQ(c.global_period, o.wagma.global_period);
  EXPECT_EQ(c.beta1, o.dadam.beta1);
  EXPECT_EQ(c.beta2, o.dadam.beta2);
  EXPECT_EQ(c.eps, o.dadam.eps);
  EXPECT_EQ(c.tracking, o.dadam.tracking);
  EXPECT_EQ(c.form == "atc", o.dadam.adapt_then_combine);
  EXPECT_EQ(c.accumulation, o.dadam.accumulation);
  EXPECT_EQ(c.consensus_step, o.choco.consensus_step);
}

TEST(Defaults, SparseKeysMatchThePruneSpecAndWoodFisher) {
  const config::SparseConfig c;
  const sparse::PruneSpec p;
  const sparse::WoodFisherOptions w;
  EXPECT_EQ(c.sparsity, p.sparsity);
  EXPECT_EQ(c.update_every, p.update_every);
  EXPECT_EQ(c.initial_sparsity, p.initial_sparsity);
  EXPECT_EQ(c.drop_fraction, p.drop_fraction);
  EXPECT_EQ(c.gap_partitions, p.gap_partitions);
  EXPECT_EQ(c.gap_rewarm, p.gap_rewarm);
  EXPECT_EQ(c.srste_lambda, p.srste_lambda);
  EXPECT_EQ(c.woodfisher_samples, p.woodfisher_samples);
  EXPECT_EQ(c.woodfisher_block, w.block_size);
  EXPECT_EQ(c.woodfisher_damping, w.damping);
  EXPECT_EQ(c.woodfisher_block, p.woodfisher.block_size);
  EXPECT_EQ(c.woodfisher_damping, p.woodfisher.damping);
}

TEST(Defaults, CompressKeysMatchTheCompressorsOptions) {
  const config::CompressConfig c;
  const compress::CompressorOptions o;
  const optim::PowerSgdOptions p;
  const compress::LayerwiseOptions l;
  EXPECT_EQ(c.density, o.density);
  EXPECT_EQ(c.levels, o.levels);
  EXPECT_EQ(c.bucket, o.bucket);
  EXPECT_EQ(c.rank, p.rank);
  EXPECT_EQ(c.start_step, p.start_step);
  EXPECT_EQ(c.error_feedback, p.error_feedback);
  EXPECT_EQ(c.layerwise_every, l.every);
}

TEST(Defaults, RobustKeysMatchTheAggregatorsOptions) {
  const config::RobustConfig c;
  const robust::AggregatorOptions o;
  EXPECT_EQ(c.f, o.f);
  EXPECT_EQ(c.trim, o.trim);
  EXPECT_EQ(c.select, o.select);
  EXPECT_EQ(c.radius, o.radius);
  EXPECT_EQ(c.cc_iterations, o.cc_iterations);
  EXPECT_EQ(c.geomed_iterations, o.geomed_iterations);
  EXPECT_EQ(c.pre, o.pre);
  EXPECT_EQ(c.bucket_size, o.bucket_size);
  EXPECT_EQ(c.safeguard_window0, o.safeguard.window0);
  EXPECT_EQ(c.safeguard_window1, o.safeguard.window1);
  EXPECT_EQ(c.safeguard_threshold0, o.safeguard.threshold0);
  EXPECT_EQ(c.safeguard_threshold1, o.safeguard.threshold1);
  EXPECT_EQ(c.safeguard_readmit, o.safeguard.readmit);
}

TEST(Defaults, ClusterKeysMatchTheTopologySpec) {
  const config::ClusterConfig c;
  const topology::TopologySpec s;
  EXPECT_EQ(c.topology, s.name);
  const topology::Weights w = topology::parse_weights(c.weights);
  EXPECT_EQ(w.scheme, s.weights.scheme);
  EXPECT_EQ(w.lazy, s.weights.lazy);
}

}  // namespace defaults_test
