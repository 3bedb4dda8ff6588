// The `gossamer` command end to end, as a user meets it in the first hour (issue 22): the size of
// the exported model.sparse and the summary line about it.
//
// Each test runs bin/gossamer (tests/cli_runner.h) on a tiny Fashion-MNIST run: LeNet-5, one
// worker, 512 training and 256 test images.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "test_paths.h"

namespace prune_cli_test {

namespace fs = std::filesystem;
using gossamer::testing::run_gossamer;
using gossamer::testing::ToolResult;
using ::testing::HasSubstr;
using ::testing::Not;

// "<tmp>/gossamer_prune_cli_<pid>/<name>", removed if it existed.
std::string scratch(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("gossamer_prune_cli_" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  fs::create_directories(d.parent_path());
  return d.string();
}

std::string example(const std::string& name) { return std::string(GOSSAMER_SOURCE_DIR) + "/examples/" + name; }

// The flags that make a run tiny: a few seconds on the 2-core machine.
const char* const kTiny =
    " --set data.train_limit=512 --set data.test_limit=256 --set train.epochs=1 --set train.threads=2"
    " --set output.progress=off";

// The summary's "sparse model" line, or "" if there is none.
std::string sparse_model_line(const std::string& out) {
  std::smatch m;
  return std::regex_search(out, m, std::regex("sparse model[^\n]*")) ? m.str() : "";
}

// Skips the calling test when the tool or the data set is not there.
#define PRUNE_CLI_REQUIRE_TOOL_AND_DATA()                                                                \
  do {                                                                                                 \
    if (!gossamer::testing::tool_built()) GTEST_SKIP() << gossamer::testing::tool_path() << " not built"; \
    if (!gossamer::testing::have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST not installed";        \
  } while (0)

// ---- 1. model.sparse: no larger than the dense weights, and the summary says what it is ----------

// A GaP run stopped mid-phase holds one partition dense (here fc1, 48000 of LeNet-5's 61706
// weights) and the others 80% sparse. Stored as CSR, the dense fc1 alone took 6 bytes a weight and
// the file was larger than the dense model (307.2 kB against 246.8 kB, "0.8x smaller").
TEST(ExportCommand, GapRunStoppedMidPhaseExportsNoMoreThanTheDenseWeights) {
  PRUNE_CLI_REQUIRE_TOOL_AND_DATA();
  const std::string dir = scratch("gap_stopped");
  const ToolResult r =
      run_gossamer("train " + example("fashion_lenet.toml") + kTiny +
                   " --set train.epochs=4 --set sparse.method=gap --set sparse.sparsity=0.8 --set sparse.gap_epochs=0.25"
                   " --set train.max_steps=3 --set sparse.kernels=dense --set output.dir=\\\"" + dir + "\\\"");
  ASSERT_EQ(r.status, 0) << r.out;
  // Phases of 2 steps (8 steps an epoch): step 3 lies in the second, where fc1 is the dense partition.
  ASSERT_THAT(r.out, HasSubstr("fc1.weight 0%, fc2.weight 80%")) << r.out;
  const std::string line = sparse_model_line(r.out);
  ASSERT_FALSE(line.empty()) << r.out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(line, m, std::regex(R"(([0-9.]+) kB of dense float32 weights)"))) << line;
  const double dense_kb = std::stod(m[1].str());
  const double file_bytes = static_cast<double>(fs::file_size(dir + "/model.sparse"));
  // At most the dense weights plus one bit per weight and the header; here, with 3 of 4 partitions
  // 80% sparse, well below the dense weights.
  EXPECT_LT(file_bytes, 1e3 * dense_kb) << line;

  // Honest wording for any ratio: a share of the dense bytes, never "Nx smaller" for N < 1.
  EXPECT_THAT(line, Not(HasSubstr("smaller")));
  ASSERT_TRUE(std::regex_search(line, m, std::regex(R"(: ([0-9.]+) kB \(([0-9.]+)% of the ([0-9.]+) kB of dense float32 weights\))")))
      << line;
  const double file_kb = std::stod(m[1].str()), percent = std::stod(m[2].str());
  EXPECT_NEAR(file_bytes / 1e3, file_kb, 0.05) << line;
  EXPECT_NEAR(percent, 100.0 * file_kb / dense_kb, 0.1) << line;

  // `gossamer infer` reads the masks back: the dense partition as values + bitmask, the others as
  // CSR, each layer at the sparsity the training run reported for it.
  const ToolResult inf = run_gossamer("infer " + dir + "/model.sparse --limit 64 --threads 1 --kernels sparse");
  ASSERT_EQ(inf.status, 0) << inf.out;
  EXPECT_THAT(inf.out, HasSubstr("stored as values + bitmask"));
  EXPECT_THAT(inf.out, HasSubstr("stored as CSR"));
  std::map<std::string, long> trained, inferred;
  const std::regex train_layer(R"(, ([a-z0-9]+\.weight) ([0-9]+)%)"), infer_layer(R"(layer +([a-z0-9]+\.weight) +\[[0-9, ]+\] +([0-9.]+)% sparse)");
  for (auto it = std::sregex_iterator(r.out.begin(), r.out.end(), train_layer); it != std::sregex_iterator(); ++it) {
    trained[(*it)[1].str()] = std::stol((*it)[2].str());
  }
  for (auto it = std::sregex_iterator(inf.out.begin(), inf.out.end(), infer_layer); it != std::sregex_iterator(); ++it) {
    inferred[(*it)[1].str()] = std::lround(std::stod((*it)[2].str()));
  }
  EXPECT_EQ(trained.size(), 5u) << r.out;
  EXPECT_EQ(inferred, trained) << inf.out;
  fs::remove_all(dir);
}

}  // namespace prune_cli_test
