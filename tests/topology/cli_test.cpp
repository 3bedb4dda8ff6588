// `gossamer topology` end to end: the report, the DOT file, and exit status 2 for bad arguments.
// test_topology links only the topology layer and does not depend on the tool target, so these
// tests skip (saying so) when bin/gossamer has not been built: `make gossamer_cli test_topology`.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

#include "cli_runner.h"
#include "test_helpers.h"

namespace {

using ::testing::HasSubstr;

using gossamer::testing::tool_path;
using gossamer::testing::ToolResult;

class TopologyCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!gossamer::testing::tool_built()) GTEST_SKIP() << tool_path() << " not built; make gossamer_cli";
  }
};

ToolResult gossamer(const std::string& args) { return gossamer::testing::run_gossamer(args); }

TEST_F(TopologyCommand, ReportsTheRing) {
  const ToolResult r = gossamer("topology ring --workers 8");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("topology            ring"));
  EXPECT_THAT(r.out, HasSubstr("workers             8"));
  EXPECT_THAT(r.out, HasSubstr("period              1 step"));
  EXPECT_THAT(r.out, HasSubstr("min 2, mean 2.00, max 2"));
  EXPECT_THAT(r.out, HasSubstr("spectral gap        0.195262"));  // 1 - (1/3 + 2/3 cos(pi/4))
  EXPECT_THAT(r.out, HasSubstr("diameter            4"));
  EXPECT_THAT(r.out, HasSubstr("doubly stochastic   yes"));
  EXPECT_THAT(r.out, HasSubstr("bytes/worker/step   800000 B (800.00 kB)"));  // kB, as every other command
  EXPECT_THAT(r.out, HasSubstr("default: a 100k-parameter float32 model"));
}

TEST_F(TopologyCommand, TimeVaryingAndModelBytes) {
  const ToolResult r = gossamer("topology one-peer-exponential --workers 16 --model-bytes 1000");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("period              4 steps"));
  EXPECT_THAT(r.out, HasSubstr("spectral gap        1.000000"));
  EXPECT_THAT(r.out, HasSubstr("bytes/worker/step   1000 B"));
}

TEST_F(TopologyCommand, SaysWhenAFamilyDegeneratesIntoAnother) {
  ToolResult r = gossamer("topology torus --workers 7");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("topology            torus (with 7 workers this is a ring)"));
  EXPECT_THAT(r.out, HasSubstr("shape               1 x 7"));
  r = gossamer("topology exponential --workers 3");
  EXPECT_THAT(r.out, HasSubstr("(with 3 workers this is the complete graph)"));
  r = gossamer("topology torus --workers 9");
  EXPECT_THAT(r.out, HasSubstr("topology            torus\n"));
}

TEST_F(TopologyCommand, SaysWhenUniformWeightsAreNotDoublyStochastic) {
  // Described, but refused for training (as gossamer train refuses it), and no spectral gap: for a W
  // that does not keep the mean, 1 - ||W - 11^T/n|| is meaningless (negative on a star of 8).
  for (const std::string n : {"5", "8"}) {
    const ToolResult r = gossamer("topology star --workers " + n + " --weights uniform");
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_THAT(r.out, HasSubstr("doubly stochastic   no (column 0 of W(0) sums to "));
    EXPECT_THAT(r.out, HasSubstr("spectral gap        not defined: W is not doubly stochastic"));
    EXPECT_THAT(r.out, HasSubstr("refused for training"));
    EXPECT_THAT(r.out, HasSubstr("Use --weights metropolis"));
  }
  const ToolResult ok = gossamer("topology star --workers 8");
  EXPECT_EQ(ok.status, 0) << ok.out;
  EXPECT_THAT(ok.out, HasSubstr("doubly stochastic   yes"));
}

TEST_F(TopologyCommand, WritesDot) {
  const std::string path = ::testing::TempDir() + "gossamer_topology_cli.dot";
  const ToolResult r = gossamer("topology torus --workers 9 --dot " + path);
  EXPECT_EQ(r.status, 0) << r.out;
  std::ifstream f(path);
  std::stringstream text;
  text << f.rdbuf();
  EXPECT_THAT(text.str(), HasSubstr("graph \"torus\" {"));
  EXPECT_THAT(text.str(), HasSubstr("0 -- 1 [label=\"0.2\"]"));
  EXPECT_THAT(r.out, HasSubstr("png "));  // either the PNG path or why it was skipped
}

TEST_F(TopologyCommand, BadArgumentsExitWithTwo) {
  for (const char* args : {"topology hypercube --workers 6", "topology ring --workers abc",
                                   "topology ring", "topology", "topology mesh --workers 4",
                                   "topology ring --workers 4 --weights best", "topology ring --workers 4 --frobnicate",
                                   "topology edge-list --edges /nonexistent.txt", "topology ring --workers 4097",
                                   "topology complete --workers 100000000000"}) {
    const ToolResult r = gossamer(std::string(args));
    EXPECT_EQ(r.status, 2) << args << "\n" << r.out;
    EXPECT_THAT(r.out, HasSubstr("gossamer topology: error:")) << args;
  }
  EXPECT_THAT(gossamer("topology hypercube --workers 6").out,
              HasSubstr("hypercube needs a power-of-two number of workers, got 6"));
  // Before the bound, --workers 1000000000 ended in std::bad_alloc and a complete graph of 100 000
  // ran for minutes.
  EXPECT_THAT(gossamer("topology complete --workers 100000").out,
              HasSubstr("--workers 100000 is more than the 4096 workers a topology may have (gossamer train takes as "
                        "many); use at most 4096"));
}

}  // namespace
