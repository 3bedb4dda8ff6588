// `gossamer train` end to end, as a user meets it: runs that stop and resume say what happened and
// log what they evaluated; configuration mistakes are all reported at once, in config keys, with
// exit status 2, before the data loads.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cli_runner.h"

namespace train_command_test {

using ::testing::HasSubstr;
using ::testing::Not;
using gossamer::testing::run_gossamer;
using gossamer::testing::ToolResult;

constexpr const char* kLoading = "loading Fashion-MNIST";

// 256 training samples, batch 32: 8 steps an epoch, 2 epochs, one worker by default.
std::string tiny_config(const std::string& dir) {
  return "[data]\ntrain_limit = 256\ntest_limit = 200\n"
         "[train]\nepochs = 2\nbatch_size = 32\nlog_every = 2\nthreads = 1\n"
         "[optimizer]\nlr = 0.05\n"
         "[output]\nprogress = \"lines\"\ndir = \"" + dir + "\"\n";
}

class TrainCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!gossamer::testing::tool_built()) GTEST_SKIP() << gossamer::testing::tool_path() << " not built";
    if (!gossamer::testing::have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST not installed";
    root_ = std::filesystem::temp_directory_path() /
            ("gossamer_train_cmd_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) +
             "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
    run_dir_ = (root_ / "run").string();
    config_ = (root_ / "run.toml").string();
    gossamer::testing::write_text(config_, tiny_config(run_dir_));
  }
  void TearDown() override {
    if (!root_.empty()) std::filesystem::remove_all(root_);
  }
  ToolResult train(const std::string& extra) { return run_gossamer("train " + config_ + " " + extra); }
  std::vector<nlohmann::json> metrics() const {
    std::vector<nlohmann::json> rows;
    std::ifstream in(run_dir_ + "/metrics.jsonl");
    std::string line;
    while (std::getline(in, line)) rows.push_back(nlohmann::json::parse(line));
    return rows;
  }
  std::vector<nlohmann::json> events(const std::string& kind) const {
    std::vector<nlohmann::json> out;
    for (const auto& r : metrics()) {
      if (r["event"] == kind) out.push_back(r);
    }
    return out;
  }

  std::filesystem::path root_;
  std::string run_dir_, config_;
};

TEST_F(TrainCommand, MaxStepsStopSaysSoLogsItsEvaluationAndResumeContinuesToTheEnd) {
  ToolResult r = train("--set train.max_steps=3");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("steps            3 / 16"));
  EXPECT_THAT(r.out, HasSubstr("stopped          at train.max_steps = 3; continue to the end with: gossamer train "
                               "--resume " + run_dir_));
  EXPECT_THAT(r.out, Not(HasSubstr("interrupted")));
  // The evaluation the summary prints is in the metrics, marked as made at the stop.
  auto evals = events("eval");
  ASSERT_EQ(evals.size(), 1u) << gossamer::testing::read_text(run_dir_ + "/metrics.jsonl");
  EXPECT_EQ(evals[0]["step"], 3);
  EXPECT_EQ(evals[0]["at_stop"], 1.0);

  r = run_gossamer("train --resume " + run_dir_);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("resuming " + run_dir_ + " from step 3 of 16 (epoch 1 of 2); train.max_steps = 3 "
                               "was reached, so training continues to the end"));
  EXPECT_THAT(r.out, HasSubstr("steps            16 / 16 (resumed at step 3)"));
  EXPECT_THAT(r.out, Not(HasSubstr("stopped ")));
  // The file now reads as an uninterrupted run's: the stop's evaluation is gone, the epochs' are there.
  evals = events("eval");
  ASSERT_EQ(evals.size(), 2u);
  EXPECT_EQ(evals[0]["step"], 8);
  EXPECT_EQ(evals[1]["step"], 16);
  for (const auto& e : evals) EXPECT_FALSE(e.contains("at_stop") && e["at_stop"] != 0.0);
}

TEST_F(TrainCommand, ResumeBeforeTheLimitStopsAtItAgain) {
  // A run with max_steps = 6 interrupted at 3 (here: stopped by a smaller limit) goes on to 6 only.
  ASSERT_EQ(train("--set train.max_steps=3").status, 0);
  const ToolResult r = run_gossamer("train --resume " + run_dir_ + " --set train.max_steps=6");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("from step 3 of 16 (epoch 1 of 2); stopping at train.max_steps = 6"));
  EXPECT_THAT(r.out, HasSubstr("steps            6 / 16 (resumed at step 3)"));
  EXPECT_THAT(r.out, HasSubstr("step 6/6 (train.max_steps)"));
}

TEST_F(TrainCommand, InterruptSaysInterruptedNotMaxSteps) {
  // SIGINT: the run stops at the next step with a checkpoint and exit status 130.
  // 1000 epochs of 8 steps would take minutes: the signal is what ends it. It is sent once the
  // banner is out (printed after the handler is installed; a fixed 1 s sleep raced a slow start on
  // a loaded machine), and 1 s later, so that training has begun; the wait is bounded to 60 s.
  const std::string log = run_dir_ + ".log";
  const ToolResult r = gossamer::testing::run_shell(
      gossamer::testing::tool_path() + " train " + config_ + " --set train.epochs=1000 > " + log + " 2>&1 & pid=$!; " +
      "for i in $(seq 600); do grep -q 'gossamer train: ' " + log + " && break; sleep 0.1; done; sleep 1; " +
      "kill -INT $pid; wait $pid; echo exit=$?; cat " + log);
  EXPECT_THAT(r.out, HasSubstr("exit=130")) << r.out;
  EXPECT_THAT(r.out, HasSubstr("stopped          interrupted at step "));
  EXPECT_THAT(r.out, HasSubstr("continue with: gossamer train --resume " + run_dir_));
  EXPECT_THAT(r.out, Not(HasSubstr("train.max_steps")));
}

TEST_F(TrainCommand, MetricsSayWhatProducedThemAndEvalEveryAddsEvaluations) {
  const ToolResult r = train("--set train.eval_every=3 --set train.seed=7");
  ASSERT_EQ(r.status, 0) << r.out;
  const auto rows = metrics();
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows[0]["event"], "run");
  EXPECT_EQ(rows[0]["seed"], "7");
  EXPECT_EQ(rows[0]["model"], "lenet5");
  EXPECT_EQ(rows[0]["sparse"], "none");
  EXPECT_TRUE(rows[0].contains("algorithm"));
  EXPECT_TRUE(rows[0].contains("topology"));
  std::vector<int> steps;
  for (const auto& e : events("eval")) steps.push_back(e["step"].get<int>());
  EXPECT_EQ(steps, (std::vector<int>{3, 6, 8, 9, 12, 15, 16}));
  EXPECT_THAT(r.out, HasSubstr("step 3 (epoch 1): test accuracy "));
}

TEST_F(TrainCommand, ProgressLineCountsTowardTheStopAndShowsTheLoggedMeans) {
  const ToolResult r = train("--set train.max_steps=4 --set cluster.workers=2");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("step 4/4 (train.max_steps)"));
  // The loss shown at step 4 is metrics.jsonl's (the workers' mean over the window), to 4 digits.
  const auto train_rows = events("train");
  ASSERT_EQ(train_rows.size(), 2u);
  char loss[32];
  std::snprintf(loss, sizeof loss, "loss %.4f", train_rows[1]["loss"].get<double>());
  EXPECT_THAT(r.out, HasSubstr(std::string("step 4/4 (train.max_steps)  ") + loss));
  EXPECT_THAT(r.out, HasSubstr("samples/s over the whole run"));
  EXPECT_THAT(r.out, HasSubstr("samples/s in training steps"));
}

TEST_F(TrainCommand, SavedConfigWritesNumbersAsTheUserWouldType) {
  ASSERT_EQ(train("--set train.max_steps=1 --set optimizer.lr=0.1").status, 0);
  const std::string saved = gossamer::testing::read_text(run_dir_ + "/config.toml");
  EXPECT_THAT(saved, HasSubstr("lr = 0.1\n"));
  EXPECT_THAT(saved, HasSubstr("outer_lr = 0.7\n"));
  EXPECT_THAT(saved, Not(HasSubstr("0000000000")));
}

// ---- mistakes caught before the data loads ---------------------------------------------------

TEST_F(TrainCommand, EveryProblemOfACombinationAtOnceInConfigKeys) {
  // An output.dir below a file cannot be created, whoever runs the test (root passes permission checks).
  gossamer::testing::write_text((root_ / "a_file").string(), "x");
  const std::string out_dir = (root_ / "a_file" / "run").string();
  const ToolResult r = train(
      "--set cluster.workers=4 --set optimizer.algorithm=d2 --set optimizer.momentum=0.9 "
      "--set train.init_from=" + (root_ / "missing.pt").string() + " --set output.dir=" + out_dir);
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("config: 4 problems; fix all of them:"));
  EXPECT_THAT(r.out, HasSubstr("set optimizer.nesterov = false"));
  EXPECT_THAT(r.out, HasSubstr("set optimizer.momentum = 0"));
  EXPECT_THAT(r.out, HasSubstr("train.init_from = \"" + (root_ / "missing.pt").string() + "\" does not exist"));
  EXPECT_THAT(r.out, HasSubstr("output.dir = \"" + out_dir + "\" cannot be written"));
  EXPECT_THAT(r.out, Not(HasSubstr(kLoading)));
  EXPECT_THAT(r.out, Not(HasSubstr("rank ")));
}

TEST_F(TrainCommand, AlgorithmNeedsAreCheckedWithTheRestOfTheConfiguration) {
  struct Case {
    std::string set, expect;
  };
  const std::vector<Case> cases{
      {"--set optimizer.algorithm=dadam --set optimizer.name=adamw",
       "optimizer.algorithm = \"dadam\" defines its own update"},
      {"--set optimizer.algorithm=gradient-tracking --set optimizer.momentum=0 --set optimizer.nesterov=false "
       "--set sparse.method=gap --set sparse.gap_mode=parallel --set sparse.gap_partitions=2",
       "sparse.gap_mode = \"parallel\" gives each worker its own mask"},
      {"--set optimizer.algorithm=d2 --set optimizer.momentum=0 --set optimizer.nesterov=false "
       "--set cluster.topology=star --set cluster.weights=uniform",
       "cluster.topology = \"star\" with cluster.workers = 4 and cluster.weights = \"uniform\""},
      {"--set optimizer.algorithm=dsgd --set cluster.topology=hypercube --set cluster.workers=6",
       "hypercube needs a power-of-two number of workers"},
      {"--set optimizer.algorithm=choco --set compress.method=sign --set cluster.topology=one-peer-exponential",
       "optimizer.algorithm = \"choco\" needs one fixed mixing matrix"},
      {"--set optimizer.algorithm=wagma --set cluster.workers=6 --set optimizer.group_size=4",
       "optimizer.algorithm = \"wagma\" forms butterfly groups over the rank bits and needs a power-of-two "
       "cluster.workers; it is 6"},
      {"--set cluster.backend=gloo", "cluster.backend = \"gloo\" runs one process per worker and none was started "
                                     "by a launcher (no WORLD_SIZE): run gossamer launch --workers 4"},
      // Only a constructor (the pruner's) knows this one: the dry build finds it before the data loads.
      {"--set sparse.method=rigl --set sparse.allocation=global",
       "this configuration cannot run (optimizer.algorithm = \"parallel-sgd\", cluster.workers = 4): "
       "sparse.allocation = \"global\" ranks trained weights, but rigl starts from a random sparse model"},
  };
  for (const auto& c : cases) {
    const ToolResult r = train("--set cluster.workers=4 " + c.set);
    EXPECT_EQ(r.status, 2) << c.set << "\n" << r.out;
    EXPECT_THAT(r.out, HasSubstr(c.expect)) << c.set;
    EXPECT_THAT(r.out, Not(HasSubstr(kLoading))) << c.set;
  }
}

TEST_F(TrainCommand, SeveralBadValuesAreReportedTogether) {
  const ToolResult r = train("--set train.epochs=0 --set optimizer.lr=-1 --set data.order=sorted");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("config: 3 problems"));
  EXPECT_THAT(r.out, HasSubstr("train.epochs = 0"));
  EXPECT_THAT(r.out, HasSubstr("optimizer.lr = -1"));
  EXPECT_THAT(r.out, HasSubstr("data.order = \"sorted\""));
}

TEST_F(TrainCommand, ValuesThatBelongElsewhereSaySo) {
  ToolResult r = run_gossamer("train --resume " + root_.string());
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("--resume " + root_.string() + ": not a run folder (it has no config.toml)"));
  r = train("--set optimizer.algorithm=sgd");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("the local optimizer, sgd or adamw, is optimizer.name"));
  r = train("--set cluster.workers=4 --set optimizer.algorithm=dsgd --set cluster.topology=mesh");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("cluster.topology = \"mesh\": unknown topology 'mesh'; use one of: ring"));
  EXPECT_THAT(r.out, Not(HasSubstr("gossamer topology mesh")));
}

TEST_F(TrainCommand, NotesKeysThatDoNotApplyAndTopologiesThatDegenerate) {
  ToolResult r = train("--set train.max_steps=1 --set cluster.workers=2 --set optimizer.algorithm=local-sgd "
                       "--set cluster.topology=torus");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("note: cluster.topology is not used: optimizer.algorithm = \"local-sgd\" averages"));
  r = train("--set train.max_steps=1 --set cluster.workers=7 --set optimizer.algorithm=dsgd "
            "--set cluster.topology=torus");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("note: cluster.topology = \"torus\" with 7 workers builds a ring"));
}

TEST_F(TrainCommand, TransformerSizesThatDoNotFitAreConfigErrorsNamingTheKeyTheValueAndTheFix) {
  ToolResult r = train("--set model.name=vit --set model.patch=5");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("vit: model.patch = 5 does not divide the 28-pixel image side: choose one of 1, 2, 4, 7, "
                               "14, 28"));
  EXPECT_THAT(r.out, Not(HasSubstr(kLoading)));
  r = train("--set model.name=ceit --set model.dim=60 --set model.heads=8 --set cluster.workers=2");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("ceit: model.dim = 60 is not divisible by model.heads = 8: use heads that divide the "
                               "width (e.g. 6) or a width that is a multiple of the heads (e.g. 64)"));
  r = train("--set model.name=ceit --set model.patch=8");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("so patch must be 4 times a divisor of 7: choose one of 4, 28"));
  r = train("--set model.name=vit --set model.heads=0");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("model.heads"));
  // 8.6 billion parameters (about 275 GB): refused before any model is built, not left to the
  // kernel's out-of-memory killer.
  r = train("--set model.name=vit --set model.dim=4096 --set model.depth=64 --set model.heads=64");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("model.name = \"vit\" with model.dim = 4096, model.depth = 64, model.heads = 64, "
                               "model.patch = 4 (49 tokens, 8.59e+09 parameters) needs about"));
  EXPECT_THAT(r.out, HasSubstr("GB of memory available: choose a smaller model.dim or model.depth"));
  EXPECT_THAT(r.out, Not(HasSubstr(kLoading)));
  // Keys of another architecture are noted, and the run goes on.
  r = train("--set train.max_steps=1 --set model.dim=32 --set model.width=8");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("note: model.dim is not used by model.name = \"lenet5\""));
  EXPECT_THAT(r.out, HasSubstr("note: model.width is not used by model.name = \"lenet5\""));
  EXPECT_THAT(r.out, Not(HasSubstr("transformers are trained with")));
  r = train("--set train.max_steps=1 --set model.name=vit --set model.depth=1 --set model.stem_channels=4");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("note: model.stem_channels is not used by model.name = \"vit\""));
  EXPECT_THAT(r.out, HasSubstr("note: model.name = \"vit\" trains with the default optimizer.name = \"sgd\"; "
                               "transformers are trained with adamw"));
}

// Sizes no worker of this kind of machine can hold stop within seconds, before the data loads,
// naming the keys to change; before the memory check they ran for a minute and ended in an
// allocator's stack trace, a std::bad_alloc or the out-of-memory killer. Each needs hundreds of GB
// at least (the estimate, README "Memory"), so the test holds on any machine with less than that.
TEST_F(TrainCommand, SizesThatCannotFitStopBeforeTheData) {
  // 1.01e10 parameters: 323 GB of weights and optimizer state for one worker.
  ToolResult r = train("--set model.name=mlp --set 'model.hidden=[100000, 100000]'");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("model.name = \"mlp\" with model.hidden = [100000, 100000] (1.01e+10 parameters) "
                               "needs about"));
  EXPECT_THAT(r.out, HasSubstr("GB of memory available: choose smaller model.hidden layers or a smaller "
                               "train.batch_size (README, Memory)"));
  EXPECT_THAT(r.out, Not(HasSubstr("frame #")));
  EXPECT_THAT(r.out, Not(HasSubstr(kLoading)));
  // A ResNet-20 1024 channels wide (1.1e9 parameters) on 8 workers.
  r = train("--set model.name=resnet20 --set model.width=1024 --set cluster.workers=8");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("model.name = \"resnet20\" with model.width = 1024 ("));
  EXPECT_THAT(r.out, HasSubstr("for 8 workers on this machine"));
  EXPECT_THAT(r.out, HasSubstr("choose a smaller model.width, a smaller train.batch_size or fewer cluster.workers"));
  EXPECT_THAT(r.out, Not(HasSubstr(kLoading)));
  // A small model with a batch of a million: the activations (about 150 GB a LeNet-5 worker).
  r = train("--set train.batch_size=1048576 --set data.train_limit=0 --set cluster.workers=4");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("model.name = \"lenet5\" (6.17e+04 parameters) needs about"));
  EXPECT_THAT(r.out, HasSubstr("train.batch_size = 1048576; per worker about"));
  EXPECT_THAT(r.out, Not(HasSubstr(kLoading)));
  // Thousands of workers of a mid-sized model, and too few samples for them: both at once.
  r = train("--set model.name=mlp --set 'model.hidden=[4096, 4096]' --set cluster.workers=4096 "
            "--set cluster.topology=ring");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("for 4096 workers on this machine"));
  EXPECT_THAT(r.out, HasSubstr("256 training samples (data.train_limit = 256) over cluster.workers = 4096 leave some "
                               "workers without a sample: every worker needs at least one; raise data.train_limit to "
                               "at least 4096 (0 takes all 60000) or lower cluster.workers to at most 256"));
  EXPECT_THAT(r.out, Not(HasSubstr(kLoading)));
}

// Too few samples for the workers, or a batch larger than a worker's share, is a config error
// before the data loads (the first used to stop after loading, in the partitioner's words; the
// second ran, every batch holding samples several times, and a batch of a million took 7 GB).
TEST_F(TrainCommand, TheDataSplitIsCheckedAgainstTheWorkers) {
  ToolResult r = train("--set data.train_limit=3 --set cluster.workers=8");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("3 training samples (data.train_limit = 3) over cluster.workers = 8 leave some workers "
                               "without a sample"));
  EXPECT_THAT(r.out, Not(HasSubstr(kLoading)));
  r = train("--set train.batch_size=200 --set cluster.workers=2");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("train.batch_size = 200 is larger than the 128 samples a worker holds (256 training "
                               "samples (data.train_limit = 256) over cluster.workers = 2): choose train.batch_size <= "
                               "128, more data (data.train_limit) or fewer cluster.workers"));
  EXPECT_THAT(r.out, Not(HasSubstr(kLoading)));
  r = train("--set train.max_steps=1 --set train.batch_size=128 --set cluster.workers=2");  // exactly the share
  EXPECT_EQ(r.status, 0) << r.out;
  r = train("--set train.batch_size=1048576 --set data.train_limit=0");  // one worker, all 60 000 samples
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("train.batch_size = 1048576 is larger than the 60000 samples a worker holds (60000 "
                               "training samples (all of Fashion-MNIST's) over cluster.workers = 1)"));
  EXPECT_THAT(r.out, Not(HasSubstr(kLoading)));
}

TEST_F(TrainCommand, ResumeWithAnotherWorkerCountNamesBoth) {
  ASSERT_EQ(train("--set train.max_steps=1 --set cluster.workers=2").status, 0);
  ToolResult r = run_gossamer("train --resume " + run_dir_ + " --set cluster.workers=4");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("holds 2 workers' checkpoints (checkpoint-rank0.pt .. rank1.pt) but cluster.workers = "
                               "4; resume with the run's own worker count (--set cluster.workers=2)"));
  EXPECT_THAT(r.out, Not(HasSubstr(kLoading)));
  std::filesystem::remove(run_dir_ + "/checkpoint-rank0.pt");
  std::filesystem::remove(run_dir_ + "/checkpoint-rank1.pt");
  r = run_gossamer("train --resume " + run_dir_);
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("holds no checkpoint"));
}

// Gloo processes on one machine share its cores by default (they used to take every core each:
// 4 processes on 2 cores trained 8x slower than with one thread each).
TEST_F(TrainCommand, LaunchedGlooWorkersShareTheCoresByDefault) {
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const ToolResult r = run_gossamer("launch --workers 2 -- " + gossamer::testing::tool_path() + " train " + config_ +
                                    " --set cluster.backend=gloo --set cluster.workers=2 --set train.threads=0 "
                                    "--set train.max_steps=1");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("(" + std::to_string(std::max(1u, cores / 2)) + " intra-op thread(s) per worker"));
  EXPECT_THAT(r.out, HasSubstr("2 local Gloo workers share " + std::to_string(cores) + " cores"));
}

// The run line names the sparsity as the user wrote it ("gmp 0.75", not "gmp 0.750000").
TEST_F(TrainCommand, TheRunLineNamesTheSparsityAsWritten) {
  const ToolResult r = train("--set sparse.method=gmp --set sparse.sparsity=0.75 --set train.max_steps=2");
  ASSERT_EQ(r.status, 0) << r.out;
  const auto rows = metrics();
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows[0]["sparse"], "gmp 0.75");
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

// A launched Gloo run prints one banner and one summary, rank 0's (each process printed its own).
TEST_F(TrainCommand, ALaunchedGlooRunPrintsOneBannerAndOneSummary) {
  const ToolResult r = run_gossamer("launch --workers 2 -- " + gossamer::testing::tool_path() + " train " + config_ +
                                    " --set cluster.backend=gloo --set cluster.workers=2 --set train.max_steps=2");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(count(r.out, "== summary =="), 1u) << r.out;
  EXPECT_EQ(count(r.out, "gossamer train: "), 1u) << r.out;
  EXPECT_THAT(r.out, HasSubstr("[0] == summary ==")) << r.out;
  EXPECT_THAT(r.out, HasSubstr("[0] test accuracy ")) << r.out;
  EXPECT_THAT(r.out, Not(HasSubstr("[1] test accuracy "))) << r.out;
}

// The README's `build/bin/gossamer launch --workers 4 -- gossamer train ...` without build/bin on
// PATH: the bare `gossamer` after `--` runs the launching binary.
TEST(LaunchCommand, ABareGossamerRunsTheLaunchingBinaryWhenNoneIsOnPath) {
  if (!gossamer::testing::tool_built()) GTEST_SKIP() << gossamer::testing::tool_path() << " not built";
  const ToolResult r = gossamer::testing::run_shell("env PATH=/usr/bin:/bin timeout 120 " +
                                                    gossamer::testing::tool_path() +
                                                    " launch --workers 2 -- gossamer comm-selftest --timeout-ms 20000");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("[1] comm-selftest: rank 1 of 2 ok (gloo")) << r.out;
  EXPECT_THAT(r.out, Not(HasSubstr("cannot run 'gossamer'")));
}

}  // namespace train_command_test
