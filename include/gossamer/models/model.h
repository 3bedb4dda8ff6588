// Models: a torch::nn::Module with a single-tensor forward, created by name from a registry.
#pragma once

#include <torch/nn/module.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace gossamer::models {

// Base class so that trainers, pruners and optimizers can hold any model by pointer.
class Model : public torch::nn::Module {
 public:
  using torch::nn::Module::Module;
  // [batch, ...input_shape] -> [batch, num_classes] logits.
  virtual at::Tensor forward(const at::Tensor& input) = 0;

  // How often each weight is used per sample: the output positions of a convolution, 1 for a
  // linear layer (the default for names not listed). Dense multiply-adds per sample are then
  // Σ numel · uses, and a pruned layer's are Σ nnz · uses (sparse/metrics.h).
  int64_t weight_uses(const std::string& parameter_name) const {
    auto it = uses_.find(parameter_name);
    return it == uses_.end() ? 1 : it->second;
  }

  // Replaces how the layer owning `weight_name` (e.g. "fc1.weight") computes its output, e.g. with
  // a sparse kernel on the same parameters; an empty function restores the layer's own forward.
  using LayerFn = std::function<at::Tensor(const at::Tensor&)>;
  void set_layer_override(const std::string& weight_name, LayerFn fn) {
    if (fn) overrides_[weight_name] = std::move(fn);
    else overrides_.erase(weight_name);
  }

 protected:
  void set_weight_uses(const std::string& parameter_name, int64_t uses) { uses_[parameter_name] = uses; }
  // What forward() calls for each linear / convolution layer, so that overrides apply.
  template <typename Layer>
  at::Tensor run_layer(const std::string& weight_name, Layer& layer, const at::Tensor& x) {
    if (!overrides_.empty()) {
      auto it = overrides_.find(weight_name);
      if (it != overrides_.end()) return it->second(x);
    }
    return layer->forward(x);
  }

 private:
  std::map<std::string, int64_t> uses_;
  std::map<std::string, LayerFn> overrides_;
};

struct ModelSpec {
  std::string name = "lenet5";               // see model_names()
  std::vector<int64_t> input_shape{1, 28, 28};  // one sample, channels first
  int64_t num_classes = 10;
  std::vector<int64_t> hidden{300, 100};     // MLP hidden widths
  int64_t width = 16;                        // ResNet base width
};

std::vector<std::string> model_names();
// Throws std::invalid_argument naming the unknown model and the known ones.
std::shared_ptr<Model> make_model(const ModelSpec& spec);

int64_t count_parameters(const torch::nn::Module& module);

}  // namespace gossamer::models
