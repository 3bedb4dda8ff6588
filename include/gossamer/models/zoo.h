// The built-in models. Users normally call make_model() (model.h); the classes are public so that
// C++ users can build them directly and so that tests can check their shapes.
#pragma once

#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/batchnorm.h>

#include <memory>
#include <vector>

#include "gossamer/models/model.h"
#include "gossamer/models/transformer.h"

namespace gossamer::models {

// Fully connected ReLU network: in_features -> hidden... -> num_classes.
class Mlp : public Model {
 public:
  Mlp(int64_t in_features, const std::vector<int64_t>& hidden, int64_t num_classes);
  at::Tensor forward(const at::Tensor& input) override;

 private:
  std::vector<torch::nn::Linear> layers_;
};

// LeNet-5 style CNN (ReLU, max pooling): conv 6@5x5 -> pool -> conv 16@5x5 -> pool -> 120 -> 84 -> classes.
class LeNet5 : public Model {
 public:
  LeNet5(int64_t in_channels, int64_t image_size, int64_t num_classes);
  at::Tensor forward(const at::Tensor& input) override;

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr}, fc3_{nullptr};
};

// ResNet-20 (He et al. 2016, CIFAR variant): 3 stages x 3 basic blocks, widths w, 2w, 4w.
class ResNet20 : public Model {
 public:
  ResNet20(int64_t in_channels, int64_t num_classes, int64_t width = 16, int64_t image_size = 32);
  at::Tensor forward(const at::Tensor& input) override;

 private:
  struct Blocks;  // keeps the block type out of this header
  torch::nn::Conv2d stem_{nullptr};
  torch::nn::BatchNorm2d stem_bn_{nullptr};
  std::shared_ptr<Blocks> blocks_;
  torch::nn::Linear fc_{nullptr};
};

// Vision transformer (ViT/DeiT style, arXiv 2010.11929): non-overlapping patches embedded by a
// convolution ("patch_embed"), a class token and learned position embeddings (both kept dense by
// the sparse layer), `depth` pre-norm encoder blocks ("block0", ...) with MLP feed-forwards, a final
// LayerNorm and a linear head on the class token.
class VisionTransformer : public Model {
 public:
  VisionTransformer(int64_t in_channels, int64_t image_size, int64_t num_classes, const TransformerSize& size);
  at::Tensor forward(const at::Tensor& input) override;
  int64_t tokens() const { return grid_ * grid_; }  // patch tokens, without the class token

 private:
  int64_t grid_;
  torch::nn::Conv2d patch_embed_{nullptr};
  at::Tensor cls_token_, pos_embed_;
  std::vector<EncoderBlock> blocks_;
  torch::nn::LayerNorm norm_{nullptr};
  torch::nn::Linear head_{nullptr};
  LinearFn hook_;
};

// CeiT (arXiv 2103.11816) at the same width and depth: an Image-to-Tokens stem ("i2t_conv" 7x7
// stride 2, "i2t_bn", max pool 3x3 stride 2: the image shrinks 4x) whose feature map is cut into
// patches of patch / 4; encoder blocks with the locally-enhanced feed-forward (transformer.h); then
// layer-wise class-token attention: the class tokens of all blocks, plus their own position
// embedding ("pos_layer_embed"), go through one more block ("lca") in which only the last one
// queries; its output, normalised, goes to the head.
class CeiT : public Model {
 public:
  CeiT(int64_t in_channels, int64_t image_size, int64_t num_classes, const TransformerSize& size);
  at::Tensor forward(const at::Tensor& input) override;
  int64_t tokens() const { return grid_ * grid_; }

 private:
  int64_t grid_;
  torch::nn::Conv2d i2t_conv_{nullptr}, patch_embed_{nullptr};
  torch::nn::BatchNorm2d i2t_bn_{nullptr};
  at::Tensor cls_token_, pos_embed_, pos_layer_embed_;
  std::vector<EncoderBlock> blocks_;
  EncoderBlock lca_{nullptr};
  torch::nn::LayerNorm norm_{nullptr};
  torch::nn::Linear head_{nullptr};
  LinearFn hook_;
};

}  // namespace gossamer::models
