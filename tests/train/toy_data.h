// Small learnable image data for trainer tests: the class decides which rows are bright, plus noise.
#pragma once

#include <ATen/ATen.h>

#include "gossamer/data/dataset.h"

namespace gossamer::testing {

inline data::Dataset toy_images(int64_t n, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  data::Dataset d;
  d.targets = at::randint(0, 10, {n}, gen, at::kLong);
  d.inputs = at::normal(0.0, 0.5, {n, 1, 28, 28}, gen, at::kFloat);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = d.targets[i].item<int64_t>();
    d.inputs[i][0].narrow(0, 2 * c, 4).add_(1.0);
  }
  d.num_classes = 10;
  return d;
}

}  // namespace gossamer::testing
