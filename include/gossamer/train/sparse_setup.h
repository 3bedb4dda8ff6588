// Turning the configuration into the pieces of a sparse run, shared by the Trainer and `gossamer prune`.
#pragma once

#include <cstdint>
#include <vector>

#include "gossamer/config/config.h"
#include "gossamer/data/dataset.h"
#include "gossamer/models/model.h"
#include "gossamer/sparse/pruner.h"
#include "gossamer/train/flat_parameters.h"

namespace gossamer::train {

// The model a configuration asks for, shaped for `data` (input shape, number of classes).
models::ModelSpec model_spec(const config::Config& cfg, const data::Dataset& data);

// Every parameter's slice of the flat buffers, marked prunable as the model says, for the Pruner.
std::vector<sparse::ParamSlice> parameter_slices(const FlatParameters& flat, const models::Model& model);
// The uses (weight_uses) of each prunable layer among `slices`, in order: PrunerContext::uses.
std::vector<int64_t> prunable_layer_uses(const std::vector<sparse::ParamSlice>& slices, const models::Model& model);

// [sparse] with its epochs turned into steps. Throws std::invalid_argument on a bad combination.
sparse::PruneSpec make_prune_spec(const config::Config& cfg, int64_t steps_per_epoch, int64_t total_steps);

}  // namespace gossamer::train
