// Where each parameter lives in a model's flat parameter buffer, and which of them are pruned.
//
// The sparse layer works on flat buffers (train/flat_parameters.h) rather than on modules, so that
// one mask multiply covers the weights, their gradients and every optimizer state of the model.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gossamer::sparse {

struct ParamSlice {
  std::string name;             // e.g. "conv1.weight"
  int64_t offset = 0, numel = 0;  // in the flat buffer
  std::vector<int64_t> shape;   // [out, in, kh, kw] for a convolution, [out, in] for a linear layer
  bool prunable = true;         // false: the model keeps it dense (models::Model::prunable)
};

// The weights of linear and convolution layers (every parameter with two or more dimensions that
// the model did not mark dense), in model order. Biases and normalisation parameters stay dense: they are tiny and pruning them
// hurts accuracy far more than it saves.
std::vector<ParamSlice> prunable_layers(const std::vector<ParamSlice>& parameters);

}  // namespace gossamer::sparse
