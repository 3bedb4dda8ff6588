// What a model will cost before it exists: its parameter count and the activations a training step
// keeps, computed from the layer shapes of a ModelSpec without allocating anything, so that a
// preflight can refuse a width, a depth or a worker count whose replicas cannot fit in memory
// (and say which key to change) instead of leaving it to the kernel's out-of-memory killer.
#pragma once

#include "gossamer/models/model.h"

namespace gossamer::models {

struct ModelFootprint {
  // Exactly count_parameters(*make_model(spec)) (tested for every model). A double because the
  // sizes a configuration may ask for (model.hidden is unbounded) overflow int64 products; exact
  // below 2^53, far above anything that fits in memory.
  double parameters = 0;
  // An estimate of the floats a training step keeps per sample for the backward pass: every layer's
  // output and its activation, plus the largest im2col buffer of a convolution. Checked against
  // peak resident memory (docs/memory.md).
  double train_floats_per_sample = 0;
  // An estimate of the floats one evaluation sample needs at its peak without autograd: the two
  // largest consecutive layer outputs and the largest im2col buffer.
  double eval_floats_per_sample = 0;
};

// Throws std::invalid_argument as make_model would for a spec it cannot build (unknown name,
// images a model does not take, transformer sizes check_transformer_size refuses).
ModelFootprint model_footprint(const ModelSpec& spec);

}  // namespace gossamer::models
