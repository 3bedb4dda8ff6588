// Every `gossamer` command reports a failure the same way (tools/gossamer/errors.h): one line
// "gossamer CMD: <message>", the exit status of its kind, and no C++ exception text.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "cli_runner.h"

namespace error_reporting_test {

using ::testing::HasSubstr;
using ::testing::Not;
using gossamer::testing::run_gossamer;
using gossamer::testing::ToolResult;

struct Failure {
  std::string command;  // the subcommand, as its message prefix names it
  std::string args;     // what follows `gossamer`
  int status;
  std::string says;  // a part of the message
};

// The lines of `text` that start with `prefix`.
size_t lines_starting_with(const std::string& text, const std::string& prefix) {
  size_t n = 0, at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    if (text.compare(at, prefix.size(), prefix) == 0) ++n;
    at = end + 1;
  }
  return n;
}

class ErrorReporting : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!gossamer::testing::tool_built()) GTEST_SKIP() << gossamer::testing::tool_path() << " not built";
    dir_ = std::filesystem::temp_directory_path() / ("gossamer_errors_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ / "empty");
    text_ = (dir_ / "notes.txt").string();
    gossamer::testing::write_text(text_, "not a checkpoint\n");
    // A run folder whose checkpoint is not one, for --resume.
    std::filesystem::create_directories(dir_ / "broken");
    gossamer::testing::write_text((dir_ / "broken" / "config.toml").string(),
                                  "[data]\ntrain_limit = 64\n[output]\ndir = \"" + (dir_ / "broken").string() + "\"\n");
    gossamer::testing::write_text((dir_ / "broken" / "checkpoint.pt").string(), "junk\n");
    config_ = (dir_ / "run.toml").string();
    gossamer::testing::write_text(config_, "[data]\ntrain_limit = 64\ntest_limit = 64\n[output]\ndir = \"" +
                                               (dir_ / "run").string() + "\"\n");
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  std::filesystem::path dir_;
  std::string text_, config_;
};

TEST_F(ErrorReporting, EveryCommandSaysWhatWentWrongInOneLineWithTheStatusOfItsKind) {
  const std::string empty = (dir_ / "empty").string();
  const std::vector<Failure> failures = {
      {"train", "train " + config_ + " --set optimizer.lr=-1", 2, "optimizer.lr = -1"},
      {"train", "train " + config_ + " --set data.path=" + empty, 3, "data error: "},
      {"train", "train " + config_ + " --set train.init_from=" + text_, 4, "is not a checkpoint"},
      // (this one used to escape the command and read "gossamer: error: ...")
      {"train", "train --resume " + (dir_ / "broken").string(), 4, "checkpoint.pt is not a checkpoint"},
      {"prune", "prune " + text_ + " --method magnitude --sparsity 0.5 --config " + config_, 4, text_},
      {"infer", "infer " + text_, 3, text_},
      {"topology", "topology ring --workers many", 2, "--workers"},
  };
  for (const Failure& f : failures) {
    // stderr only: `gossamer train` also prints a banner "gossamer train: CONFIG ..." on stdout.
    const ToolResult r = run_gossamer(f.args + " 2>&1 >/dev/null");
    EXPECT_EQ(r.status, f.status) << f.args << "\n" << r.out;
    EXPECT_EQ(lines_starting_with(r.out, "gossamer " + f.command + ": "), 1u) << f.args << "\n" << r.out;
    EXPECT_THAT(r.out, HasSubstr(f.says)) << f.args;
    EXPECT_THAT(r.out, Not(HasSubstr("what():"))) << f.args;
    EXPECT_THAT(r.out, Not(HasSubstr("terminate called"))) << f.args;
    EXPECT_THAT(r.out, Not(HasSubstr("gossamer: error:"))) << f.args << ": reported outside the command";
  }
}

// A run folder whose checkpoint is not one is refused before the data set loads (it used to load
// Fashion-MNIST first and fail afterwards).
TEST_F(ErrorReporting, AResumeFromAFileThatIsNotACheckpointStopsBeforeTheData) {
  const ToolResult r = run_gossamer("train --resume " + (dir_ / "broken").string());
  EXPECT_EQ(r.status, 4) << r.out;
  EXPECT_THAT(r.out, HasSubstr("checkpoint.pt is not a checkpoint"));
  EXPECT_THAT(r.out, Not(HasSubstr("loading Fashion-MNIST"))) << r.out;
}

}  // namespace error_reporting_test
