// The measured choice between a layer's dense and sparse implementations, shared by SparseLinear,
// SparseConv2d and train::SparseKernelRouter: one way to time, one rule to decide.
#pragma once

#include <functional>

namespace gossamer::kernels {

struct PathTimes {
  double dense_s = 0, sparse_s = 0;  // the fastest timed call of each path
  // Sparse only if it was measured faster: a tie keeps LibTorch's dense path.
  bool sparse_faster() const { return sparse_s < dense_s; }
};

// `run(sparse)` computes the layer once on one path and returns when the work is done. One warm-up
// call of each path, then `reps` rounds of one call of each, interleaved so that a burst of load on
// the machine hits both paths alike; the best call of each counts (the least disturbed).
PathTimes time_paths(const std::function<void(bool sparse)>& run, int reps);

// The same measurement spread over a layer's real calls inside a model, where its inputs arrive
// from the previous layer and the caches hold what the model left there (a layer timed in
// isolation, repeated on one input, can look faster than it runs in the model). Calls alternate
// dense, sparse, dense, ...: the first of each path warms it up, then `reps` of each are timed.
class PathTrial {
 public:
  explicit PathTrial(int reps = 2);
  bool decided() const { return calls_ == 2 * (1 + reps_); }
  // The path the next call must take (only while !decided()).
  bool next_sparse() const { return calls_ % 2 == 1; }
  // Records the wall time of the call just made on next_sparse().
  void record(double seconds);
  // Valid once decided().
  const PathTimes& times() const { return times_; }

 private:
  int reps_;
  int calls_ = 0;
  PathTimes times_;
};

}  // namespace gossamer::kernels
