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
