// Test-set evaluation of a classifier.
#pragma once

#include <cstdint>

#include "gossamer/data/dataset.h"
#include "gossamer/models/model.h"

namespace gossamer::train {

struct EvalResult {
  double loss = 0;      // mean cross-entropy
  double accuracy = 0;  // in [0, 1]
  int64_t samples = 0;
};

// Runs in eval mode without gradients, in batches of `batch_size`; restores the module's mode.
EvalResult evaluate(models::Model& model, const data::Dataset& data, int64_t batch_size);

}  // namespace gossamer::train
