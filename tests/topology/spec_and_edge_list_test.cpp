// make_topology's validation messages and the edge-list reader.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "gossamer/topology/analysis.h"
#include "gossamer/topology/edge_list.h"
#include "gossamer/topology/spec.h"
#include "test_helpers.h"

namespace gossamer::topology {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

TopologySpec spec_of(const std::string& name, int workers) {
  TopologySpec s;
  s.name = name;
  s.workers = workers;
  return s;
}

TEST(MakeTopology, RejectsBadInputsWithTheValueAndTheFix) {
  EXPECT_THAT([] { make_topology(spec_of("hypercube", 6)); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("hypercube needs a power-of-two number of workers, got 6")));
  EXPECT_THAT([] { make_topology(spec_of("mesh", 4)); },
              ThrowsMessage<std::invalid_argument>(AllOf(HasSubstr("unknown topology 'mesh'"), HasSubstr("ring, torus"))));
  EXPECT_THAT([] { make_topology(spec_of("ring", 0)); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("topology 'ring' needs at least 1 worker, got 0")));
  EXPECT_THAT([] { make_topology(spec_of("erdos-renyi", 8)); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("erdos-renyi needs an edge probability p")));
  EXPECT_THAT(
      [] {
        auto s = spec_of("ring", 8);
        s.p = 0.5;
        make_topology(s);
      },
      ThrowsMessage<std::invalid_argument>(HasSubstr("topology 'ring' does not use p (edge probability)")));
  EXPECT_THAT(
      [] {
        auto s = spec_of("torus", 7);
        s.rows = 2;
        s.cols = 3;
        make_topology(s);
      },
      ThrowsMessage<std::invalid_argument>(HasSubstr("rows x cols = 2 x 3 = 6 does not match 7 workers")));
  EXPECT_THAT(
      [] {
        auto s = spec_of("torus", 13);
        s.rows = 2;
        make_topology(s);
      },
      ThrowsMessage<std::invalid_argument>(HasSubstr("13 workers cannot be split into rows of 2")));
  // More workers than a topology may have (its matrices and analysis grow as workers²): refused
  // before anything is built, at every size past the bound.
  for (int n : {kMaxWorkers + 1, 1000000000}) {
    EXPECT_THAT([n] { make_topology(spec_of("complete", n)); },
                ThrowsMessage<std::invalid_argument>(HasSubstr("topology 'complete': " + std::to_string(n) +
                                                               " workers is more than the 4096 a topology may have")));
  }
  EXPECT_NO_THROW(make_topology(spec_of("ring", kMaxWorkers)));
}

TEST(MakeTopology, UniformWeightsOnAnIrregularGraphAreRefusedWithAReason) {
  auto s = spec_of("star", 6);
  s.weights = parse_weights("uniform");
  EXPECT_THAT([&] { make_topology(s); },
              ThrowsMessage<std::invalid_argument>(AllOf(HasSubstr("is not doubly stochastic: column 0 of W(0)"),
                                                         HasSubstr("use metropolis weights"),
                                                         HasSubstr("doubly stochastic only when every rank has the same degree"))));
  s.require_doubly_stochastic = false;  // analysis only
  EXPECT_FALSE(is_doubly_stochastic(make_topology(s)));
  s.weights = parse_weights("metropolis");
  s.require_doubly_stochastic = true;
  EXPECT_TRUE(is_doubly_stochastic(make_topology(s)));
}

TEST(MakeTopology, OptionsReachTheirFamily) {
  auto s = spec_of("random-gossip", 10);
  EXPECT_EQ(make_topology(s).period(), 64);
  s.period = 12;
  EXPECT_EQ(make_topology(s).period(), 12);
  auto torus = spec_of("torus", 12);
  torus.rows = 2;
  EXPECT_EQ(make_topology(torus).in_neighbors(0, 0).size(), 3u);  // 2 x 6: one vertical neighbour
  auto lazy = spec_of("ring", 4);
  lazy.weights = parse_weights("lazy-uniform");
  const Topology t = make_topology(lazy);
  EXPECT_EQ(t.name(), "lazy-ring");
  EXPECT_DOUBLE_EQ(t.self_weight(0, 0), 0.5 + 0.5 / 3);
}

TEST(EdgeList, ParsesCommentsBlankLinesAndInfersTheSize) {
  std::istringstream in("# a square with a diagonal\n0 1\n1 2   # trailing comment\n\n2 3\n3 0\n0 2\n");
  const EdgeList e = parse_edge_list(in, "square.txt");
  EXPECT_EQ(e.size, 4);
  EXPECT_FALSE(e.weighted);
  EXPECT_EQ(e.edges.size(), 5u);
  const Topology t = edge_list_topology(e, WeightScheme::Metropolis);
  EXPECT_TRUE(is_doubly_stochastic(t));
  EXPECT_DOUBLE_EQ(t.matrix(0).get(0, 2), 0.25);  // both ends have degree 3
}

TEST(EdgeList, WeightsFromTheFile) {
  std::istringstream in("0 1 0.5\n1 2 0.25\n");
  const EdgeList e = parse_edge_list(in, "w.txt", 3);
  ASSERT_TRUE(e.weighted);
  const Topology t = edge_list_topology(e, WeightScheme::Uniform);
  EXPECT_DOUBLE_EQ(t.matrix(0).get(1, 0), 0.5);
  EXPECT_DOUBLE_EQ(t.self_weight(1, 0), 0.25);
  EXPECT_DOUBLE_EQ(t.self_weight(2, 0), 0.75);
  EXPECT_TRUE(is_doubly_stochastic(t));
  EXPECT_TRUE(is_symmetric(t));
}

TEST(EdgeList, ErrorsNameTheFileAndLine) {
  auto parse = [](const std::string& text, int workers = 0) {
    std::istringstream in(text);
    parse_edge_list(in, "g.txt", workers);
  };
  EXPECT_THAT([&] { parse("0 1\n# ok\n0 x\n"); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("g.txt:3: ranks must be integers, got '0 x'")));
  EXPECT_THAT([&] { parse("0 1 2 3\n"); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("g.txt:1: expected 'i j' or 'i j w'")));
  EXPECT_THAT([&] { parse("0 1\n1 1\n"); }, ThrowsMessage<std::invalid_argument>(HasSubstr("g.txt:2: self-loop 1 1")));
  EXPECT_THAT([&] { parse("0 1\n1 0\n"); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("g.txt:2: edge 1 0 repeats line 1")));
  EXPECT_THAT([&] { parse("0 5\n", 4); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("g.txt:1: rank 5 outside 0..3 (4 workers)")));
  EXPECT_THAT([&] { parse("0 1 0.5\n1 2\n"); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("g.txt:2: has no weight but line 1 has one")));
  EXPECT_THAT([&] { parse("0 1 1.5\n"); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("g.txt:1: weight must be a number in (0, 1], got '1.5'")));
  EXPECT_THAT([&] { parse("0 1 0.75\n0 2 0.5\n"); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("g.txt: the weights of rank 0's edges sum to 1.25 > 1")));
  EXPECT_THAT([&] { parse("# nothing\n"); }, ThrowsMessage<std::invalid_argument>(HasSubstr("g.txt: no edges")));
  // A file that names a rank past the bound (its size is inferred from the largest rank).
  EXPECT_THAT([&] { parse("0 1\n1 1000000000\n"); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("g.txt:2: rank 1000000000 outside 0..4095 (at most 4096 workers)")));
}

TEST(EdgeList, ThroughMakeTopologyWithAFile) {
  const std::string path = testing::write_temp_file("ring4.txt", "0 1\n1 2\n2 3\n3 0\n");
  auto s = spec_of("edge-list", 0);
  s.edge_file = path;
  const Topology t = make_topology(s);
  EXPECT_EQ(t.size(), 4);
  EXPECT_EQ(diameter(t), 2);

  const std::string bad = testing::write_temp_file("bad.txt", "0 1\n1 2\n2 three\n");
  s.edge_file = bad;
  EXPECT_THAT([&] { make_topology(s); },
              ThrowsMessage<std::invalid_argument>(HasSubstr(bad + ":3: ranks must be integers, got '2 three'")));

  const std::string split = testing::write_temp_file("split.txt", "0 1\n2 3\n");
  s.edge_file = split;
  EXPECT_THAT([&] { make_topology(s); },
              ThrowsMessage<std::invalid_argument>(HasSubstr(
                  "edge file '" + split + "': topology 'edge-list' is disconnected: rank 2 cannot be reached from rank 0")));

  // More workers than the file mentions: the extra ranks are isolated.
  s.edge_file = path;
  s.workers = 5;
  EXPECT_THAT([&] { make_topology(s); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("rank 4 cannot be reached from rank 0")));

  s.edge_file = "/nonexistent/edges.txt";
  EXPECT_THAT([&] { make_topology(s); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("cannot open edge file '/nonexistent/edges.txt'")));
}

}  // namespace
}  // namespace gossamer::topology
