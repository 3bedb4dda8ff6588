// The built-in models. Users normally call make_model() (model.h); the classes are public so that
// C++ users can build them directly and so that tests can check their shapes.
#pragma once

#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/batchnorm.h>

#include <memory>
#include <vector>

#include "gossamer/models/model.h"

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

}  // namespace gossamer::models
