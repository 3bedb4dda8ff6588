// A whole run from a configuration: load data, split it, build the workers, train, summarise.
#pragma once

#include <atomic>

#include "gossamer/config/config.h"
#include "gossamer/data/dataset.h"
#include "gossamer/train/trainer.h"

namespace gossamer::train {

// `out_dir` overrides config.output.dir when non-empty (used by --resume DIR).
// The first n samples of `d` (all of them when n <= 0): data.train_limit / data.test_limit.
data::Dataset first_samples(const data::Dataset& d, int64_t n);

RunSummary run_training(const config::Config& config, bool resume, const std::atomic<bool>* stop = nullptr);

}  // namespace gossamer::train
