#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "gossamer/config/config.h"
#include "gossamer/train/trainer.h"
#include "toy_data.h"
#include "train_test_util.h"

using namespace gossamer;

namespace {

using gossamer::testing::toy_images;
using namespace gossamer::train::testing;

config::Config small_config(const std::string& dir) {
  return config::parse_config("", "test",
                              {"model.name=mlp", "model.hidden=[32]", "train.batch_size=32", "train.epochs=2",
                               "train.log_every=4", "train.threads=1", "output.checkpoint_every=8",
                               "output.progress=off", "schedule.warmup_epochs=0.5", "output.dir=\"" + dir + "\""});
}

}  // namespace

TEST(Resume, InterruptedAndResumedRunMatchesTheUninterruptedRun) {
  const data::Dataset train = toy_images(400, 1);
  const data::Dataset test = toy_images(100, 2);
  const std::string full_dir = fresh_dir("resume_full"), split_dir = fresh_dir("resume_split");

  train::Trainer full(small_config(full_dir), train, test, full_dir);
  const auto full_summary = full.run(false);
  EXPECT_EQ(full_summary.steps, 26);  // ceil(400/32) = 13 steps per epoch, 2 epochs
  EXPECT_FALSE(full_summary.stopped_early);

  // "Interrupt" after 11 steps: between two checkpoints and mid-window, the hardest case.
  auto cfg = small_config(split_dir);
  cfg.train.max_steps = 11;
  {
    train::Trainer first(cfg, train, test, split_dir);
    const auto s = first.run(false);
    EXPECT_EQ(s.steps, 11);
    EXPECT_TRUE(s.stopped_early);
  }
  cfg.train.max_steps = 0;
  {
    train::Trainer second(cfg, train, test, split_dir);
    const auto s = second.run(true);
    EXPECT_EQ(s.steps, 26);
    EXPECT_DOUBLE_EQ(s.test_accuracy, full_summary.test_accuracy);
  }

  const auto a = read_metrics(full_dir + "/metrics.jsonl");
  const auto b = read_metrics(split_dir + "/metrics.jsonl");
  ASSERT_EQ(a.size(), b.size());
  ASSERT_GT(a.size(), 6u);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i]["event"], b[i]["event"]) << "line " << i;
    EXPECT_EQ(a[i]["step"], b[i]["step"]) << "line " << i;
    for (const char* key : {"loss", "accuracy", "lr", "test_accuracy", "test_loss"}) {
      if (a[i].contains(key)) {
        EXPECT_EQ(a[i][key].get<double>(), b[i][key].get<double>()) << key << " line " << i;
      }
    }
  }
  // The loss went down: the toy problem is learnable, so the comparison above is not of noise.
  EXPECT_LT(a.back()["test_loss"].get<double>(), 1.0);
  // Nothing half-written is left in the run directory.
  for (const auto& e : std::filesystem::directory_iterator(split_dir)) {
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << e.path();
  }
}

TEST(Resume, WithoutACheckpointFailsWithTheName) {
  const std::string dir = fresh_dir("resume_none");
  const data::Dataset train = toy_images(64, 1);
  train::Trainer t(small_config(dir), train, train, dir);
  try {
    t.run(true);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("checkpoint.pt does not exist"), std::string::npos) << e.what();
  }
}
