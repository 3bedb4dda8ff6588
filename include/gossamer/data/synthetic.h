// Synthetic convex problems, one dataset per worker, with a knob for how different workers are.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "gossamer/data/dataset.h"

namespace gossamer::data {

struct SyntheticSpec {
  int workers = 8;
  int64_t samples_per_worker = 64;
  int64_t dim = 10;
  // 0: every worker's data comes from the same model (iid). h > 0: worker i's ground-truth
  // model is x0 + h * u_i (u_i ~ N(0, I)) and its features are shifted by h * v_i, so the local
  // minimisers differ by O(h).
  double heterogeneity = 0.0;
  double noise = 0.01;  // standard deviation of the label noise (least squares)
  uint64_t seed = 1;
};

struct ConvexProblem {
  std::vector<Dataset> workers;  // inputs [m, dim] float64, targets [m] float64 (0/1 for logistic)
  at::Tensor x0;                 // [dim] the shared part of the ground truth
};

// b = A x_i + noise.
ConvexProblem make_least_squares(const SyntheticSpec& spec);
// y ~ Bernoulli(sigmoid(A x_i)), targets in {0, 1}.
ConvexProblem make_logistic_regression(const SyntheticSpec& spec);

}  // namespace gossamer::data
