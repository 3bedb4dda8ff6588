// The shared dense-vs-sparse measurement (kernels/path_timing.h): call order, warm-ups excluded,
// the best timed call per path, and the decision rule.
#include <gtest/gtest.h>

#include <chrono>
#include <limits>
#include <stdexcept>
#include <thread>
#include <vector>

#include "gossamer/kernels/path_timing.h"

namespace gk = gossamer::kernels;

TEST(PathTiming, TimePathsWarmsUpBothThenInterleavesAndKeepsTheFasterPath) {
  std::vector<bool> order;
  const gk::PathTimes t = gk::time_paths(
      [&](bool sparse) {
        order.push_back(sparse);
        // Dense takes 3 ms here, sparse nothing: the measured choice must be sparse whatever the
        // machine's load (a sleep never returns early).
        if (!sparse) std::this_thread::sleep_for(std::chrono::milliseconds(3));
      },
      3);
  const std::vector<bool> expected{false, true, false, true, false, true, false, true};
  EXPECT_EQ(order, expected);
  EXPECT_GE(t.dense_s, 3e-3);
  EXPECT_LT(t.sparse_s, t.dense_s);
  EXPECT_TRUE(t.sparse_faster());
  EXPECT_THROW(gk::time_paths([](bool) {}, 0), std::invalid_argument);
}

TEST(PathTiming, ATieKeepsTheDensePath) {
  gk::PathTimes t;
  t.dense_s = t.sparse_s = 1e-3;
  EXPECT_FALSE(t.sparse_faster());
}

TEST(PathTiming, TrialAlternatesIgnoresTheWarmUpsAndKeepsEachPathsBest) {
  gk::PathTrial trial(2);
  // Calls: dense warm-up, sparse warm-up, then dense, sparse, dense, sparse timed.
  const std::vector<double> seconds{9.0, 9.0, 0.5, 0.7, 0.4, 0.9};
  const std::vector<bool> paths{false, true, false, true, false, true};
  for (size_t i = 0; i < seconds.size(); ++i) {
    ASSERT_FALSE(trial.decided()) << "call " << i;
    EXPECT_EQ(trial.next_sparse(), paths[i]) << "call " << i;
    trial.record(seconds[i]);
  }
  ASSERT_TRUE(trial.decided());
  EXPECT_EQ(trial.times().dense_s, 0.4);
  EXPECT_EQ(trial.times().sparse_s, 0.7);
  EXPECT_FALSE(trial.times().sparse_faster());
  trial.record(0.0);  // after the decision: ignored
  EXPECT_EQ(trial.times().sparse_s, 0.7);
  EXPECT_THROW(gk::PathTrial(0), std::invalid_argument);
}
