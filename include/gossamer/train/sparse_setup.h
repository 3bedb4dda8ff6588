// Turning the configuration into the pieces of a sparse run, shared by the Trainer and `gossamer prune`.
#pragma once

#include <cstdint>

#include "gossamer/config/config.h"
#include "gossamer/data/dataset.h"
#include "gossamer/models/model.h"
#include "gossamer/sparse/pruner.h"

namespace gossamer::train {

// The model a configuration asks for, shaped for `data` (input shape, number of classes).
models::ModelSpec model_spec(const config::Config& cfg, const data::Dataset& data);

// [sparse] with its epochs turned into steps. Throws std::invalid_argument on a bad combination.
sparse::PruneSpec make_prune_spec(const config::Config& cfg, int64_t steps_per_epoch, int64_t total_steps);

}  // namespace gossamer::train
