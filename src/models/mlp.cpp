#include "gossamer/models/zoo.h"

#include <torch/torch.h>

namespace gossamer::models {

Mlp::Mlp(int64_t in_features, const std::vector<int64_t>& hidden, int64_t num_classes) {
  int64_t prev = in_features;
  for (size_t i = 0; i < hidden.size(); ++i) {
    layers_.push_back(register_module("fc" + std::to_string(i + 1), torch::nn::Linear(prev, hidden[i])));
    prev = hidden[i];
  }
  layers_.push_back(register_module("fc" + std::to_string(hidden.size() + 1), torch::nn::Linear(prev, num_classes)));
}

at::Tensor Mlp::forward(const at::Tensor& input) {
  at::Tensor x = input.flatten(1);
  for (size_t i = 0; i + 1 < layers_.size(); ++i) {
    x = torch::relu(run_layer("fc" + std::to_string(i + 1) + ".weight", layers_[i], x));
  }
  return run_layer("fc" + std::to_string(layers_.size()) + ".weight", layers_.back(), x);
}

}  // namespace gossamer::models
