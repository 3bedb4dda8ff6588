// Models: a torch::nn::Module with a single-tensor forward, created by name from a registry.
#pragma once

#include <torch/nn/module.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
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

  // Whether the sparse layer may prune this parameter. Only weights with two or more dimensions
  // are candidates at all (sparse::prunable_layers); a model lists here the multi-dimensional
  // parameters that are not layer weights (a transformer's class token and position embeddings).
  bool prunable(const std::string& parameter_name) const { return dense_.count(parameter_name) == 0; }

  // Replaces how the layer owning `weight_name` (e.g. "fc1.weight") computes its output, e.g. with
  // a sparse kernel on the same parameters; an empty function restores the layer's own forward.
  using LayerFn = std::function<at::Tensor(const at::Tensor&)>;
  void set_layer_override(const std::string& weight_name, LayerFn fn) {
    if (fn) overrides_[weight_name] = std::move(fn);
    else overrides_.erase(weight_name);
  }

 protected:
  void set_weight_uses(const std::string& parameter_name, int64_t uses) { uses_[parameter_name] = uses; }
  void keep_dense(const std::string& parameter_name) { dense_.insert(parameter_name); }
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
  std::set<std::string> dense_;
};

// The sizes of the vision transformers (VisionTransformer, CeiT in zoo.h).
struct TransformerSize {
  int64_t dim = 64;        // token width; divisible by heads
  int64_t depth = 4;       // encoder blocks
  int64_t heads = 4;       // attention heads
  int64_t mlp_ratio = 2;   // feed-forward hidden width = dim * mlp_ratio
  // The patch side in image pixels; it must divide the image side. CeiT's stem shrinks the image
  // 4x first, so its patches on the stem's feature map are patch / 4 wide (patch a multiple of 4).
  int64_t patch = 4;
  int64_t stem_channels = 32;  // CeiT's Image-to-Tokens convolution
};

struct ModelSpec {
  std::string name = "lenet5";               // see model_names()
  std::vector<int64_t> input_shape{1, 28, 28};  // one sample, channels first
  int64_t num_classes = 10;
  std::vector<int64_t> hidden{300, 100};     // MLP hidden widths
  int64_t width = 16;                        // ResNet base width
  TransformerSize transformer;               // ViT and CeiT
};

std::vector<std::string> model_names();
// Throws std::invalid_argument naming the unknown model and the known ones.
std::shared_ptr<Model> make_model(const ModelSpec& spec);

int64_t count_parameters(const torch::nn::Module& module);

}  // namespace gossamer::models
