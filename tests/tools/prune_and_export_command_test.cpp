// The `gossamer` command end to end, as a user meets it in the first hour (issue 22): the size of
// the exported model.sparse and the summary line about it, `gossamer prune` without a method or a
// sparsity, over an earlier result, and on a file that is not a checkpoint, --help showing the
// defaults, and a mistyped command.
//
// Each test runs bin/gossamer (tests/cli_runner.h) on a tiny Fashion-MNIST run: LeNet-5, one
// worker, 512 training and 256 test images, trained once per suite into a temporary folder.
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
using gossamer::testing::read_text;
using gossamer::testing::run_gossamer;
using gossamer::testing::ToolResult;
using gossamer::testing::write_text;
using ::testing::HasSubstr;
using ::testing::Not;

// "<tmp>/gossamer_prune_cli_<pid>/<name>", removed if it existed.
std::string scratch(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("gossamer_prune_cli_" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  fs::create_directories(d.parent_path());
  return d.string();
}

// Removes a scratch folder, and the per-process folder above it once it is empty.
void remove_scratch(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  fs::remove(fs::path(path).parent_path(), ec);  // fails, harmlessly, while other tests' folders remain
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

// One dense run shared by the prune tests: RUN/checkpoint.pt, RUN/config.toml.
class PruneCommand : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!gossamer::testing::tool_built() || !gossamer::testing::have_fashion_mnist()) return;
    run_dir_ = scratch("dense_run");
    const ToolResult r = run_gossamer("train " + example("fashion_lenet.toml") + kTiny + " --set output.dir=\\\"" +
                                      run_dir_ + "\\\"");
    train_output_ = r.out;
    trained_ = r.status == 0 && fs::exists(run_dir_ + "/checkpoint.pt");
  }
  static void TearDownTestSuite() {
    if (!run_dir_.empty()) remove_scratch(run_dir_);
  }
  void SetUp() override {
    PRUNE_CLI_REQUIRE_TOOL_AND_DATA();
    ASSERT_TRUE(trained_) << "the tiny training run failed:\n" << train_output_;
  }
  static std::string checkpoint() { return run_dir_ + "/checkpoint.pt"; }

  static std::string run_dir_, train_output_;
  static bool trained_;
};
std::string PruneCommand::run_dir_, PruneCommand::train_output_;
bool PruneCommand::trained_ = false;

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
  remove_scratch(dir);
}

// ---- 2. gossamer prune ----------------------------------------------------------------------------

TEST_F(PruneCommand, MethodAndSparsityAreRequiredAndNamed) {
  const std::string out = scratch("no_flags");
  ToolResult r = run_gossamer("prune " + checkpoint() + " --out " + out);
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("--method is required: magnitude or woodfisher"));
  EXPECT_THAT(r.out, HasSubstr("--sparsity is required"));
  EXPECT_FALSE(fs::exists(out)) << "pruned without being asked how";

  r = run_gossamer("prune " + checkpoint() + " --method magnitude --out " + out);
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("--sparsity is required"));
  EXPECT_THAT(r.out, Not(HasSubstr("--method is required")));
  r = run_gossamer("prune " + checkpoint() + " --sparsity 0.5 --out " + out);
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("--method is required: magnitude or woodfisher"));
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(PruneCommand, RefusesToReplaceAnEarlierResultUnlessForced) {
  const std::string out = scratch("pruned");
  ToolResult r = run_gossamer("prune " + checkpoint() + " --method magnitude --sparsity 0.5 --out " + out);
  ASSERT_EQ(r.status, 0) << r.out;
  const std::string first = read_text(out + "/model.sparse");
  ASSERT_FALSE(first.empty());

  // Another sparsity into the same folder: refused, the first result intact.
  r = run_gossamer("prune " + checkpoint() + " --method magnitude --sparsity 0.7 --out " + out);
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr(out + " already holds pruned.pt and model.sparse"));
  EXPECT_THAT(r.out, HasSubstr("--out DIR"));
  EXPECT_THAT(r.out, HasSubstr("--force"));
  EXPECT_EQ(read_text(out + "/model.sparse"), first);

  // The default folder (pruned-METHOD-SPARSITY next to the checkpoint) is guarded the same way.
  r = run_gossamer("prune " + checkpoint() + " --method magnitude --sparsity 0.3");
  ASSERT_EQ(r.status, 0) << r.out;
  r = run_gossamer("prune " + checkpoint() + " --method magnitude --sparsity 0.3");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr(run_dir_ + "/pruned-magnitude-30 already holds"));

  r = run_gossamer("prune " + checkpoint() + " --method magnitude --sparsity 0.7 --out " + out + " --force");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(read_text(out + "/model.sparse"), first);
  remove_scratch(out);
  fs::remove_all(run_dir_ + "/pruned-magnitude-30");  // inside the suite's run folder
}

TEST_F(PruneCommand, AFileThatIsNotACheckpointIsNamedWithWhatWasExpected) {
  const std::string dir = scratch("not_checkpoints");
  fs::create_directories(dir);
  // model.sparse from a prune, a config.toml, a truncated checkpoint, the run folder itself.
  ToolResult r = run_gossamer("prune " + checkpoint() + " --method magnitude --sparsity 0.5 --out " + dir + "/p");
  ASSERT_EQ(r.status, 0) << r.out;
  const std::string ckpt = read_text(checkpoint());
  ASSERT_GT(ckpt.size(), 4000u);
  write_text(dir + "/truncated.pt", ckpt.substr(0, ckpt.size() / 2));
  const std::string expected = "expected a checkpoint .pt written by gossamer train, e.g. RUN/checkpoint.pt or "
                               "RUN/checkpoint-rank0.pt";
  const std::map<std::string, std::string> cases{
      {dir + "/p/model.sparse", "it is an exported sparse model); " + expected +
                                    "; model.sparse is the exported model, for gossamer infer"},
      {run_dir_ + "/config.toml", "it is a text file"},
      {dir + "/truncated.pt", "a truncated archive of " + std::to_string(ckpt.size() / 2) + " bytes"},
  };
  for (const auto& [path, what] : cases) {
    r = run_gossamer("prune " + path + " --config " + run_dir_ + "/config.toml --method magnitude --sparsity 0.5 --out " +
                     dir + "/q");
    EXPECT_EQ(r.status, 4) << r.out;
    EXPECT_THAT(r.out, HasSubstr("gossamer prune: " + path + " is not a checkpoint (")) << path;
    EXPECT_THAT(r.out, HasSubstr(what)) << path;
    EXPECT_THAT(r.out, HasSubstr(expected)) << path;
    EXPECT_THAT(r.out, Not(HasSubstr("zip"))) << path;
    EXPECT_THAT(r.out, Not(HasSubstr("PytorchStreamReader"))) << path;
    EXPECT_FALSE(fs::exists(dir + "/q")) << path;
  }
  // The run folder instead of a file in it: the checkpoint inside is named.
  r = run_gossamer("prune " + run_dir_ + " --method magnitude --sparsity 0.5 --out " + dir + "/q");
  EXPECT_EQ(r.status, 4) << r.out;
  EXPECT_THAT(r.out, HasSubstr(run_dir_ + " is a directory; " + expected + "; there is one at " + checkpoint()));
  remove_scratch(dir);
}

// The clear error lives in the checkpoint loader, so `gossamer train` gets it too. Its exit status
// is train's business (4 from main.cpp here; a configuration check before the data loads may
// report it as a config error, 2): only that it fails with the message is tested.
TEST_F(PruneCommand, TrainInitFromANonCheckpointGetsTheSameMessage) {
  const std::string dir = scratch("init_from_config");
  const ToolResult r = run_gossamer("train " + example("fashion_lenet.toml") + kTiny + " --set train.max_steps=1" +
                                    " --set train.init_from=\\\"" + run_dir_ + "/config.toml\\\" --set output.dir=\\\"" +
                                    dir + "\\\"");
  EXPECT_NE(r.status, 0) << r.out;
  EXPECT_NE(r.status, 1) << r.out;  // not the catch-all "unexpected error"
  EXPECT_THAT(r.out, HasSubstr(run_dir_ + "/config.toml is not a checkpoint (it is a text file"));
  EXPECT_THAT(r.out, Not(HasSubstr("zip")));
  remove_scratch(dir);
}

// ---- --help shows every default, typed -------------------------------------------------------------

TEST(HelpCommand, EveryCommandShowsItsDefaultsAndNumberTypes) {
  if (!gossamer::testing::tool_built()) GTEST_SKIP() << gossamer::testing::tool_path() << " not built";
  // CLI11 2.1 shows a default as TYPE=VALUE.
  const std::map<std::string, std::vector<std::string>> expected{
      {"train", {"--set TEXT", "--resume TEXT"}},
      {"launch", {"--master-addr TEXT=127.0.0.1", "--grace-ms INT=5000", "]=0"}},
      {"topology", {"--workers INT", "--weights TEXT=metropolis", "--model-bytes INT=400000", "--seed INT=0",
                    "--p FLOAT", "--period INT=64"}},
      {"prune", {"--sparsity FLOAT", "--method TEXT", "--force", "default: pruned-METHOD-SPARSITY"}},
      {"infer", {"--batch INT:POSITIVE=256", "=auto", "--data TEXT=/usr/share/datasets/fashion-mnist",
                 "--bench-seconds FLOAT:POSITIVE=1", "--limit INT:NONNEGATIVE=0", "=1 16 64 256"}},
  };
  for (const auto& [command, shown] : expected) {
    const ToolResult r = run_gossamer(command + " --help");
    EXPECT_EQ(r.status, 0) << r.out;
    for (const auto& s : shown) EXPECT_THAT(r.out, HasSubstr(s)) << "gossamer " << command << " --help";
  }
  // Required values have no default to show.
  const ToolResult launch = run_gossamer("launch --help");
  EXPECT_THAT(launch.out, Not(HasSubstr("=1 REQUIRED")));
  EXPECT_THAT(run_gossamer("prune --help").out, Not(HasSubstr("FLOAT in [0 - 1]=")));
}

// ---- a mistyped or missing command -------------------------------------------------------------------

TEST(UnknownCommand, IsNamedWithTheListAndTheClosestOne) {
  if (!gossamer::testing::tool_built()) GTEST_SKIP() << gossamer::testing::tool_path() << " not built";
  auto expect_list = [](const ToolResult& r) {
    for (const char* c : {"train", "launch", "topology", "prune", "infer"}) {
      EXPECT_THAT(r.out, HasSubstr(std::string("\n  ") + c + " ")) << r.out;
    }
    EXPECT_THAT(r.out, Not(HasSubstr("comm-selftest")));  // a hidden test helper
  };
  ToolResult r = run_gossamer("trian examples/quickstart.toml");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("gossamer: unknown command 'trian'; did you mean 'train'?"));
  expect_list(r);
  r = run_gossamer("prnue x.pt");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("unknown command 'prnue'; did you mean 'prune'?"));
  r = run_gossamer("inferr");
  EXPECT_THAT(r.out, HasSubstr("did you mean 'infer'?"));
  r = run_gossamer("xyzzy");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("gossamer: unknown command 'xyzzy'"));
  EXPECT_THAT(r.out, Not(HasSubstr("did you mean")));
  expect_list(r);
  // No command at all: the same list, exit status 2.
  r = run_gossamer("");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("gossamer: a command is required"));
  expect_list(r);
  // A known command still works, and --version is not a command.
  EXPECT_EQ(run_gossamer("--version").status, 0);
  EXPECT_EQ(run_gossamer("topology ring --workers 4").status, 0);
}

}  // namespace prune_cli_test
