#include <torch/torch.h>

#include <functional>
#include <string>

#include "gossamer/models/zoo.h"

namespace gossamer::models {

namespace {

// He et al. (2016) CIFAR basic block: two 3x3 convs with batch norm; a 1x1 projection when the
// shape changes (option B).
class BasicBlockImpl : public torch::nn::Module {
 public:
  BasicBlockImpl(int64_t in, int64_t out, int64_t stride) {
    conv1_ = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false)));
    bn1_ = register_module("bn1", torch::nn::BatchNorm2d(out));
    conv2_ = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(out, out, 3).padding(1).bias(false)));
    bn2_ = register_module("bn2", torch::nn::BatchNorm2d(out));
    if (stride != 1 || in != out) {
      shortcut_conv_ = register_module("shortcut", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 1).stride(stride).bias(false)));
      shortcut_bn_ = register_module("shortcut_bn", torch::nn::BatchNorm2d(out));
    }
  }
  // `conv(suffix, layer, x)` computes one of the block's convolutions; the model passes its layer
  // hook (Model::run_layer) so that a sparse kernel can take over any of them.
  using ConvFn = std::function<at::Tensor(const char* suffix, torch::nn::Conv2d& layer, const at::Tensor& x)>;
  at::Tensor forward(const at::Tensor& x, const ConvFn& conv) {
    at::Tensor y = torch::relu(bn1_->forward(conv(".conv1.weight", conv1_, x)));
    y = bn2_->forward(conv(".conv2.weight", conv2_, y));
    at::Tensor s = shortcut_conv_ ? shortcut_bn_->forward(conv(".shortcut.weight", shortcut_conv_, x)) : x;
    return torch::relu(y + s);
  }

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, shortcut_conv_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr}, shortcut_bn_{nullptr};
};
TORCH_MODULE(BasicBlock);

}  // namespace

struct ResNet20::Blocks {
  std::vector<BasicBlock> blocks;
  std::vector<std::string> names;  // "layer1_0", ... (the parameter-name prefix of each block)
};

ResNet20::ResNet20(int64_t in_channels, int64_t num_classes, int64_t width, int64_t image_size) : blocks_(std::make_shared<Blocks>()) {
  stem_ = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, width, 3).padding(1).bias(false)));
  stem_bn_ = register_module("bn1", torch::nn::BatchNorm2d(width));
  int64_t in = width;
  set_weight_uses("conv1.weight", image_size * image_size);
  int64_t side = image_size;  // spatial size of the current feature map
  for (int stage = 0; stage < 3; ++stage) {
    const int64_t out = width << stage;
    for (int b = 0; b < 3; ++b) {
      const int64_t stride = (stage > 0 && b == 0) ? 2 : 1;
      const std::string name = "layer" + std::to_string(stage + 1) + "_" + std::to_string(b);
      blocks_->blocks.push_back(register_module(name, BasicBlock(in, out, stride)));
      blocks_->names.push_back(name);
      side = (side - 1) / stride + 1;  // 3x3 pad 1 (and the 1x1 shortcut) with this stride
      for (const char* conv : {".conv1.weight", ".conv2.weight", ".shortcut.weight"}) {
        set_weight_uses(name + conv, side * side);
      }
      in = out;
    }
  }
  fc_ = register_module("fc", torch::nn::Linear(in, num_classes));
}

at::Tensor ResNet20::forward(const at::Tensor& input) {
  at::Tensor x = torch::relu(stem_bn_->forward(run_layer("conv1.weight", stem_, input)));
  for (size_t i = 0; i < blocks_->blocks.size(); ++i) {
    const std::string& prefix = blocks_->names[i];
    x = blocks_->blocks[i]->forward(x, [&](const char* suffix, torch::nn::Conv2d& layer, const at::Tensor& in) {
      return run_layer(prefix + suffix, layer, in);
    });
  }
  x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
  return run_layer("fc.weight", fc_, x);
}

}  // namespace gossamer::models
