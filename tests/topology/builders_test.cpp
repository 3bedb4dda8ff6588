// Every family for several sizes, including 1, 2 and odd n: shape, degrees, stochasticity,
// connectivity, and the properties each family promises.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

#include "gossamer/topology/analysis.h"
#include "gossamer/topology/exponential.h"
#include "gossamer/topology/gossip.h"
#include "gossamer/topology/graph_builders.h"
#include "gossamer/topology/spec.h"
#include "gossamer/topology/weights.h"

namespace gossamer::topology {
namespace {

using ::testing::HasSubstr;

bool is_power_of_two(int n) { return (n & (n - 1)) == 0; }

// Every name from topology_names() but edge-list (which needs a file: spec_and_edge_list_test.cpp)
// x sizes x lazy or not, through make_topology.
std::vector<std::string> names_without_files() {
  std::vector<std::string> out;
  for (const auto& n : topology_names())
    if (n != "edge-list") out.push_back(n);
  return out;
}

class EveryFamily : public ::testing::TestWithParam<std::tuple<std::string, int, bool>> {};

TEST_P(EveryFamily, BuildsAValidTopology) {
  const auto& [name, n, lazy] = GetParam();
  TopologySpec spec;
  spec.name = name;
  spec.workers = n;
  spec.weights.lazy = lazy;
  if (name == "erdos-renyi") spec.p = 0.6;
  if (name == "random-gossip") spec.period = 16;
  if (name == "hypercube" && !is_power_of_two(n)) {
    EXPECT_THAT([&] { make_topology(spec); },
                ::testing::ThrowsMessage<std::invalid_argument>(HasSubstr("power-of-two number of workers")));
    return;
  }
  const Topology t = make_topology(spec);
  EXPECT_EQ(t.size(), n);
  EXPECT_TRUE(is_doubly_stochastic(t)) << stochasticity_violation(t, true, true);
  EXPECT_TRUE(is_connected(t)) << connectivity_violation(t);
  EXPECT_NO_THROW(validate(t));
  const int d = diameter(t);
  EXPECT_GE(d, n == 1 ? 0 : 1);
  EXPECT_LE(d, n - 1);
  const double gap = spectral_gap(t);
  EXPECT_GT(gap, 0.0) << "a connected doubly stochastic topology with a positive diagonal mixes";
  EXPECT_LE(gap, 1.0 + 1e-12);
  for (int k = 0; k < t.period(); ++k)
    for (int i = 0; i < n; ++i) EXPECT_GT(t.self_weight(i, k), 0.0) << "rank " << i << " step " << k;
}

INSTANTIATE_TEST_SUITE_P(AllNames, EveryFamily,
                         ::testing::Combine(::testing::ValuesIn(names_without_files()),
                                            ::testing::Values(1, 2, 3, 5, 8, 16), ::testing::Bool()));

TEST(Ring, DegreesAndSmallCases) {
  EXPECT_EQ(ring_graph(1).num_edges(), 0);
  EXPECT_EQ(ring_graph(2).num_edges(), 1);  // both neighbours of a ring of 2 are the same rank
  EXPECT_EQ(ring_graph(3).num_edges(), 3);
  const Graph g = ring_graph(7);
  EXPECT_TRUE(g.is_regular());
  EXPECT_EQ(g.degree(0), 2);
  EXPECT_TRUE(g.has_edge(0, 6));
  EXPECT_TRUE(g.has_edge(3, 4));
}

TEST(Torus, ChoosesTheMostSquareShape) {
  EXPECT_EQ(torus_shape(16), std::make_pair(4, 4));
  EXPECT_EQ(torus_shape(12), std::make_pair(3, 4));
  EXPECT_EQ(torus_shape(7), std::make_pair(1, 7));  // a prime is a 1 x n torus, i.e. a ring
  EXPECT_EQ(torus_shape(1), std::make_pair(1, 1));
  EXPECT_EQ(torus_shape(12, 2), std::make_pair(2, 6));
  EXPECT_EQ(torus_shape(12, 0, 2), std::make_pair(6, 2));
  EXPECT_EQ(torus_shape(12, 6, 2), std::make_pair(6, 2));
}

TEST(Torus, NeighboursWrapAround) {
  const Graph g = torus_graph(16);
  EXPECT_TRUE(g.is_regular());
  EXPECT_EQ(g.degree(0), 4);
  EXPECT_TRUE(g.has_edge(0, 3));   // row wrap
  EXPECT_TRUE(g.has_edge(0, 12));  // column wrap
  EXPECT_TRUE(g.has_edge(5, 9));
  // A side of 2 gives one neighbour along it.
  const Graph thin = torus_graph(6, 2, 3);
  EXPECT_EQ(thin.degree(0), 3);
  // 1 x n is a ring.
  const Graph r = torus_graph(5);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(r.has_edge(i, (i + 1) % 5));
}

TEST(Torus, RejectsShapesThatDoNotFit) {
  EXPECT_THAT([] { torus_graph(7, 2); }, ::testing::ThrowsMessage<std::invalid_argument>(
                                             HasSubstr("7 workers cannot be split into rows of 2")));
  EXPECT_THAT([] { torus_graph(7, 2, 3); }, ::testing::ThrowsMessage<std::invalid_argument>(
                                                HasSubstr("rows x cols = 2 x 3 = 6 does not match 7 workers")));
}

TEST(Hypercube, NeighboursDifferInOneBit) {
  const Graph g = hypercube_graph(8);
  EXPECT_TRUE(g.is_regular());
  EXPECT_EQ(g.degree(5), 3);
  EXPECT_TRUE(g.has_edge(5, 4));
  EXPECT_TRUE(g.has_edge(5, 7));
  EXPECT_TRUE(g.has_edge(5, 1));
  EXPECT_FALSE(g.has_edge(5, 6));
  EXPECT_EQ(hypercube_graph(1).num_edges(), 0);
  EXPECT_EQ(hypercube_graph(2).num_edges(), 1);
}

TEST(Hypercube, RejectsNonPowersOfTwo) {
  EXPECT_THAT([] { hypercube_graph(6); },
              ::testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr("hypercube needs a power-of-two number of workers, got 6; use 4 or 8")));
}

TEST(StarAndComplete, Degrees) {
  const Graph s = star_graph(6);
  EXPECT_EQ(s.degree(0), 5);
  EXPECT_EQ(s.degree(3), 1);
  EXPECT_FALSE(s.is_regular());
  const Graph c = complete_graph(5);
  EXPECT_EQ(c.num_edges(), 10);
  EXPECT_TRUE(c.is_regular());
}

TEST(ErdosRenyi, SeededConnectedAndReproducible) {
  const Graph a = erdos_renyi_graph(20, 0.3, 7);
  const Graph b = erdos_renyi_graph(20, 0.3, 7);
  const Graph c = erdos_renyi_graph(20, 0.3, 8);
  EXPECT_TRUE(is_connected(a));
  bool same = true, differs = false;
  for (int i = 0; i < 20; ++i) {
    same = same && a.neighbors(i) == b.neighbors(i);
    differs = differs || a.neighbors(i) != c.neighbors(i);
  }
  EXPECT_TRUE(same);
  EXPECT_TRUE(differs);
  EXPECT_EQ(erdos_renyi_graph(6, 1.0, 0).num_edges(), 15);  // p = 1 is the complete graph
}

TEST(ErdosRenyi, GivesUpWithAClearMessage) {
  EXPECT_THAT([] { erdos_renyi_graph(50, 0.01, 3, 5); },
              ::testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr("erdos-renyi G(50, 0.01) was disconnected in all 5 samples from seed 3")));
  EXPECT_THAT([] { erdos_renyi_graph(5, 1.5, 0); },
              ::testing::ThrowsMessage<std::invalid_argument>(HasSubstr("p in (0, 1], got 1.5")));
}

TEST(Exponential, OutNeighboursArePowersOfTwoAhead) {
  const Topology t = exponential_topology(12);  // tau = ceil(log2 12) = 4: offsets 1, 2, 4, 8
  EXPECT_EQ(exponential_degree(12), 4);
  EXPECT_EQ(exponential_degree(16), 4);
  EXPECT_EQ(exponential_degree(1), 0);
  const auto out = t.out_neighbors(3, 0);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].rank, 4);
  EXPECT_EQ(out[1].rank, 5);
  EXPECT_EQ(out[2].rank, 7);
  EXPECT_EQ(out[3].rank, 11);
  for (const auto& nb : out) EXPECT_DOUBLE_EQ(nb.weight, 0.2);
  EXPECT_DOUBLE_EQ(t.self_weight(3, 0), 0.2);
  EXPECT_TRUE(is_doubly_stochastic(t));
  EXPECT_FALSE(is_symmetric(t));
}

TEST(OnePeerExponential, OnePeerPerStepCyclingThroughPowersOfTwo) {
  const Topology t = one_peer_exponential_topology(8);
  ASSERT_EQ(t.period(), 3);
  for (int k = 0; k < 6; ++k) {
    const auto out = t.out_neighbors(5, k);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].rank, (5 + (1 << (k % 3))) % 8);
    EXPECT_DOUBLE_EQ(out[0].weight, 0.5);
    EXPECT_DOUBLE_EQ(t.self_weight(5, k), 0.5);
  }
  EXPECT_EQ(one_peer_exponential_topology(5).period(), 3);  // ceil(log2 5)
  EXPECT_EQ(one_peer_exponential_topology(1).period(), 1);
  EXPECT_EQ(one_peer_exponential_topology(2).period(), 1);
}

TEST(RandomGossip, EachStepIsAMatching) {
  for (int n : {1, 2, 7, 10}) {
    const Topology t = random_gossip_topology(n, 20, 42);
    ASSERT_EQ(t.period(), 20);
    for (int k = 0; k < t.period(); ++k) {
      int idle = 0;
      for (int i = 0; i < n; ++i) {
        const auto in = t.in_neighbors(i, k);
        ASSERT_LE(in.size(), 1u);
        if (in.empty()) {
          ++idle;
          EXPECT_DOUBLE_EQ(t.self_weight(i, k), 1.0);
        } else {
          EXPECT_DOUBLE_EQ(in[0].weight, 0.5);
          EXPECT_EQ(t.in_neighbors(in[0].rank, k).at(0).rank, i) << "pairs are mutual";
        }
      }
      EXPECT_EQ(idle, n % 2) << "perfect matching for even n, one idle worker for odd n";
    }
    EXPECT_TRUE(is_symmetric(t));
    EXPECT_TRUE(is_doubly_stochastic(t));
  }
}

TEST(RandomGossip, SameSeedSameScheduleOtherSeedOther) {
  const Topology a = random_gossip_topology(10, 8, 1), b = random_gossip_topology(10, 8, 1),
                 c = random_gossip_topology(10, 8, 2);
  bool differs = false;
  for (int k = 0; k < 8; ++k)
    for (int i = 0; i < 10; ++i) {
      EXPECT_EQ(a.in_neighbors(i, k).at(0).rank, b.in_neighbors(i, k).at(0).rank);
      differs = differs || a.in_neighbors(i, k).at(0).rank != c.in_neighbors(i, k).at(0).rank;
    }
  EXPECT_TRUE(differs);
}

TEST(RandomGossip, TooShortAPeriodCannotConnect) {
  EXPECT_THAT([] { random_gossip_topology(16, 1, 0); },
              ::testing::ThrowsMessage<std::invalid_argument>(HasSubstr("use a longer period")));
}

TEST(Weights, UniformIsDoublyStochasticOnlyOnRegularGraphs) {
  const auto ring = mixing_matrix(ring_graph(6), WeightScheme::Uniform);
  EXPECT_TRUE(is_doubly_stochastic(ring));
  const auto star = mixing_matrix(star_graph(6), WeightScheme::Uniform);
  EXPECT_TRUE(is_row_stochastic(star));
  EXPECT_FALSE(is_column_stochastic(star));
  const auto er = erdos_renyi_graph(12, 0.4, 5);
  ASSERT_FALSE(er.is_regular());
  EXPECT_FALSE(is_doubly_stochastic(mixing_matrix(er, WeightScheme::Uniform)));
}

TEST(Weights, MetropolisValues) {
  const auto w = mixing_matrix(star_graph(4), WeightScheme::Metropolis);  // hub degree 3, leaves 1
  EXPECT_DOUBLE_EQ(w.get(0, 1), 0.25);
  EXPECT_DOUBLE_EQ(w.get(1, 0), 0.25);
  EXPECT_DOUBLE_EQ(w.get(0, 0), 0.25);
  EXPECT_DOUBLE_EQ(w.get(1, 1), 0.75);
  EXPECT_TRUE(is_doubly_stochastic(w));
  EXPECT_TRUE(is_symmetric(w));
  // On a regular graph metropolis is uniform.
  const auto m = mixing_matrix(torus_graph(9), WeightScheme::Metropolis);
  const auto u = mixing_matrix(torus_graph(9), WeightScheme::Uniform);
  for (int i = 0; i < 9; ++i)
    for (int j = 0; j < 9; ++j) EXPECT_DOUBLE_EQ(m.get(i, j), u.get(i, j));
}

TEST(Weights, LazyHalvesTowardsTheIdentity) {
  const auto w = mixing_matrix(ring_graph(5), WeightScheme::Uniform);
  const auto l = make_lazy(w);
  EXPECT_DOUBLE_EQ(l.get(0, 0), 0.5 + 0.5 / 3);
  EXPECT_DOUBLE_EQ(l.get(0, 1), 0.5 / 3);
  EXPECT_TRUE(is_doubly_stochastic(l));
  EXPECT_EQ(make_lazy(one_peer_exponential_topology(8)).name(), "lazy-one-peer-exponential");
}

TEST(Weights, ParseAndName) {
  for (const auto& name : weights_names()) EXPECT_EQ(weights_name(parse_weights(name)), name);
  EXPECT_TRUE(parse_weights("lazy-uniform").lazy);
  EXPECT_THAT([] { parse_weights("optimal"); },
              ::testing::ThrowsMessage<std::invalid_argument>(HasSubstr(
                  "unknown weight scheme 'optimal'; use one of: uniform, metropolis, lazy-uniform, lazy-metropolis")));
}

}  // namespace
}  // namespace gossamer::topology
