#include <torch/torch.h>

#include "gossamer/models/zoo.h"

namespace gossamer::models {

LeNet5::LeNet5(int64_t in_channels, int64_t image_size, int64_t num_classes) {
  // conv(5x5, pad 2) keeps 28x28 so the classic 16x5x5 feature map comes out for MNIST-sized input.
  conv1_ = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, 6, 5).padding(2)));
  conv2_ = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(6, 16, 5)));
  const int64_t after = ((image_size / 2) - 4) / 2;  // pool, conv 5x5 valid, pool
  if (after < 1) throw std::invalid_argument("lenet5: input images of " + std::to_string(image_size) +
                                             " pixels are too small (need at least 12)");
  fc1_ = register_module("fc1", torch::nn::Linear(16 * after * after, 120));
  fc2_ = register_module("fc2", torch::nn::Linear(120, 84));
  fc3_ = register_module("fc3", torch::nn::Linear(84, num_classes));
  set_weight_uses("conv1.weight", image_size * image_size);
  set_weight_uses("conv2.weight", (image_size / 2 - 4) * (image_size / 2 - 4));
}

at::Tensor LeNet5::forward(const at::Tensor& input) {
  at::Tensor x = torch::max_pool2d(torch::relu(run_layer("conv1.weight", conv1_, input)), 2);
  x = torch::max_pool2d(torch::relu(run_layer("conv2.weight", conv2_, x)), 2);
  x = torch::relu(run_layer("fc1.weight", fc1_, x.flatten(1)));
  x = torch::relu(run_layer("fc2.weight", fc2_, x));
  return run_layer("fc3.weight", fc3_, x);
}

}  // namespace gossamer::models
