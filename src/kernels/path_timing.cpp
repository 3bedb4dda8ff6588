#include "gossamer/kernels/path_timing.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <stdexcept>
#include <string>

namespace gossamer::kernels {

namespace {

double seconds_of(const std::function<void(bool)>& run, bool sparse) {
  const auto t0 = std::chrono::steady_clock::now();
  run(sparse);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void check_reps(int reps, const char* who) {
  if (reps < 1) throw std::invalid_argument(std::string(who) + ": need at least 1 timed call per path, got " + std::to_string(reps));
}

}  // namespace

PathTimes time_paths(const std::function<void(bool sparse)>& run, int reps) {
  check_reps(reps, "time_paths");
  PathTimes t;
  t.dense_s = t.sparse_s = std::numeric_limits<double>::infinity();
  run(false);
  run(true);
  for (int r = 0; r < reps; ++r) {
    t.dense_s = std::min(t.dense_s, seconds_of(run, false));
    t.sparse_s = std::min(t.sparse_s, seconds_of(run, true));
  }
  return t;
}

PathTrial::PathTrial(int reps) : reps_(reps) {
  check_reps(reps, "PathTrial");
  times_.dense_s = times_.sparse_s = std::numeric_limits<double>::infinity();
}

void PathTrial::record(double seconds) {
  if (decided()) return;
  if (calls_ >= 2) {  // the first call of each path is its warm-up
    double& best = next_sparse() ? times_.sparse_s : times_.dense_s;
    best = std::min(best, seconds);
  }
  ++calls_;
}

}  // namespace gossamer::kernels
