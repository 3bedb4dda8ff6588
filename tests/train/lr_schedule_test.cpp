#include <gtest/gtest.h>

#include <cmath>

#include "gossamer/train/lr_schedule.h"

using gossamer::train::LrSchedule;
using gossamer::train::LrScheduleSpec;

TEST(LrSchedule, LinearWarmupThenCosineToMin) {
  LrScheduleSpec s;
  s.name = "cosine";
  s.base_lr = 0.1;
  s.warmup_steps = 4;
  s.total_steps = 14;
  s.min_lr = 0.01;
  LrSchedule lr(s);
  EXPECT_DOUBLE_EQ(lr.at(0), 0.025);
  EXPECT_DOUBLE_EQ(lr.at(3), 0.1);
  EXPECT_DOUBLE_EQ(lr.at(4), 0.1);                                   // cosine starts at base
  EXPECT_NEAR(lr.at(9), 0.01 + 0.5 * 0.09 * (1 + std::cos(M_PI * 0.5)), 1e-15);  // halfway
  EXPECT_NEAR(lr.at(14), 0.01, 1e-15);
  EXPECT_NEAR(lr.at(100), 0.01, 1e-15);  // clamps after the end
}

TEST(LrSchedule, StepDecay) {
  LrScheduleSpec s;
  s.name = "step";
  s.base_lr = 1.0;
  s.step_every = 10;
  s.gamma = 0.5;
  LrSchedule lr(s);
  EXPECT_DOUBLE_EQ(lr.at(9), 1.0);
  EXPECT_DOUBLE_EQ(lr.at(10), 0.5);
  EXPECT_DOUBLE_EQ(lr.at(25), 0.25);
}

TEST(LrSchedule, RejectsBadSpecs) {
  LrScheduleSpec s;
  s.name = "linear";
  EXPECT_THROW(LrSchedule{s}, std::invalid_argument);
  s.name = "constant";
  s.base_lr = -1;
  EXPECT_THROW(LrSchedule{s}, std::invalid_argument);
}

#include "gossamer/train/progress.h"

TEST(Progress, FormatsDurationsAndTheProgressLine) {
  using gossamer::train::format_duration;
  EXPECT_EQ(format_duration(0.0085), "8.5ms");
  EXPECT_EQ(format_duration(12.34), "12.3s");
  EXPECT_EQ(format_duration(245), "4m05s");
  EXPECT_EQ(format_duration(3723), "1h02m03s");
  EXPECT_EQ(format_duration(-1), "?");
  gossamer::train::ProgressState s;
  s.epoch = 2;
  s.epochs = 12;
  s.step = 1000;
  s.total_steps = 11256;
  s.loss = 0.3778;
  s.accuracy = 0.8582;
  s.samples_per_s = 7300;
  s.eta_s = 90;
  EXPECT_EQ(gossamer::train::Progress::format(s),
            "epoch 2/12  step 1000/11256  loss 0.3778  acc 85.82%  7300 samples/s  ETA 1m30s");
}
