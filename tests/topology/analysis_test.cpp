// Stochasticity, connectivity, diameter, degree and traffic numbers, and validate()'s messages.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gossamer/topology/analysis.h"
#include "gossamer/topology/exponential.h"
#include "gossamer/topology/gossip.h"
#include "gossamer/topology/graph_builders.h"
#include "gossamer/topology/weights.h"

namespace gossamer::topology {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

Topology metropolis(const Graph& g, const std::string& name) {
  return Topology(name, {mixing_matrix(g, WeightScheme::Metropolis)});
}

TEST(Stochasticity, ColumnOnlyAndRowOnly) {
  MixingMatrix col(2);  // columns sum to 1, rows do not (1.5 and 0.5): push-sum style
  col.set(0, 0, 0.5);
  col.set(0, 1, 1.0);
  col.set(1, 0, 0.5);
  EXPECT_TRUE(is_column_stochastic(col));
  EXPECT_FALSE(is_row_stochastic(col));
  EXPECT_FALSE(is_doubly_stochastic(col));
  EXPECT_FALSE(is_symmetric(col));
  const Topology t("push", {col});
  EXPECT_NO_THROW(validate(t, /*allow_column_stochastic=*/true));
  EXPECT_THAT([&] { validate(t); }, ThrowsMessage<std::invalid_argument>(
                                        HasSubstr("topology 'push' is not doubly stochastic: row 0 of W(0) sums to 1.5")));
}

TEST(Validate, NamesTheWorstColumn) {
  const Topology star("star", {mixing_matrix(star_graph(5), WeightScheme::Uniform)});
  // Column 0 (the hub) collects 1/5 from itself and 1/2 from each of 4 leaves: 2.2.
  EXPECT_THAT([&] { validate(star); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("column 0 of W(0) sums to 2.2")));
}

TEST(Validate, NamesAnUnreachableRank) {
  Graph g(4);
  g.add_edge(0, 1);
  g.add_edge(2, 3);
  const Topology t = metropolis(g, "split");
  EXPECT_FALSE(is_connected(t));
  EXPECT_EQ(diameter(t), -1);
  EXPECT_THAT([&] { validate(t); }, ThrowsMessage<std::invalid_argument>(HasSubstr(
                                        "topology 'split' is disconnected: rank 2 cannot be reached from rank 0")));
}

TEST(Validate, DirectedReachabilityBothWays) {
  // 0 -> 1 -> 2 only (i receives from i-1): 0 reaches everyone, nobody reaches 0.
  MixingMatrix w(3);
  w.set(0, 0, 1.0);
  w.set(1, 0, 0.5);
  w.set(1, 1, 0.5);
  w.set(2, 1, 0.5);
  w.set(2, 2, 0.5);
  EXPECT_EQ(connectivity_violation(Topology("chain", {w})), "rank 0 cannot be reached from rank 1");
}

TEST(Validate, TimeVaryingUsesTheUnionOverOnePeriod) {
  // Each step alone is disconnected; together they connect.
  MixingMatrix a(3), b(3);
  for (int i = 0; i < 3; ++i) {
    a.set(i, i, 1.0);
    b.set(i, i, 1.0);
  }
  a.set(0, 0, 0.5); a.set(1, 1, 0.5); a.set(0, 1, 0.5); a.set(1, 0, 0.5);
  b.set(1, 1, 0.5); b.set(2, 2, 0.5); b.set(1, 2, 0.5); b.set(2, 1, 0.5);
  EXPECT_FALSE(is_connected(Topology("a", {a})));
  const Topology t("ab", {a, b});
  EXPECT_TRUE(is_connected(t));
  EXPECT_EQ(diameter(t), 2);
  EXPECT_NO_THROW(validate(t));
}

TEST(Diameter, KnownValues) {
  EXPECT_EQ(diameter(metropolis(ring_graph(1), "r")), 0);
  EXPECT_EQ(diameter(metropolis(ring_graph(2), "r")), 1);
  EXPECT_EQ(diameter(metropolis(ring_graph(9), "r")), 4);
  EXPECT_EQ(diameter(metropolis(ring_graph(16), "r")), 8);
  EXPECT_EQ(diameter(metropolis(torus_graph(16), "t")), 4);
  EXPECT_EQ(diameter(metropolis(hypercube_graph(32), "h")), 5);
  EXPECT_EQ(diameter(metropolis(star_graph(7), "s")), 2);
  EXPECT_EQ(diameter(metropolis(complete_graph(7), "c")), 1);
  EXPECT_EQ(diameter(exponential_topology(16)), 4);  // binary digits of the distance
  EXPECT_EQ(diameter(one_peer_exponential_topology(16)), 4);
}

TEST(Degrees, UnionOutDegrees) {
  const auto star = union_degree_stats(metropolis(star_graph(5), "s"));
  EXPECT_EQ(star.min, 1);
  EXPECT_EQ(star.max, 4);
  EXPECT_DOUBLE_EQ(star.mean, 8.0 / 5);
  const auto one_peer = union_degree_stats(one_peer_exponential_topology(16));
  EXPECT_EQ(one_peer.min, 4);  // one peer per step, four different ones over the period
  EXPECT_EQ(one_peer.max, 4);
}

TEST(Sends, PerStepAveragedOverThePeriod) {
  EXPECT_DOUBLE_EQ(sends_per_step(exponential_topology(16)).mean, 4.0);
  EXPECT_DOUBLE_EQ(sends_per_step(one_peer_exponential_topology(16)).mean, 1.0);
  EXPECT_DOUBLE_EQ(sends_per_step(metropolis(ring_graph(16), "r")).mean, 2.0);
  const auto star = sends_per_step(metropolis(star_graph(5), "s"));
  EXPECT_DOUBLE_EQ(star.mean, 8.0 / 5);
  EXPECT_DOUBLE_EQ(star.max, 4.0);
  // Odd gossip: one of 7 workers idles every step.
  EXPECT_DOUBLE_EQ(sends_per_step(random_gossip_topology(7, 10, 3)).mean, 6.0 / 7);
}

}  // namespace
}  // namespace gossamer::topology
