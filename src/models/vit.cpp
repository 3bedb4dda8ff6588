#include <torch/torch.h>

#include <stdexcept>
#include <string>

#include "gossamer/models/zoo.h"

namespace gossamer::models {

VisionTransformer::VisionTransformer(int64_t in_channels, int64_t image_size, int64_t num_classes,
                                     const TransformerSize& size) {
  check_transformer_size(size, "vit");
  check_transformer_patch(size, "vit", image_size);
  const int64_t p = size.patch;
  grid_ = image_size / p;
  const int64_t dim = size.dim;
  patch_embed_ = register_module("patch_embed", torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, dim, p).stride(p)));
  cls_token_ = register_parameter("cls_token", at::zeros({1, 1, dim}));
  pos_embed_ = register_parameter("pos_embed", at::zeros({1, tokens() + 1, dim}));
  truncated_normal_(cls_token_, 0.02);
  truncated_normal_(pos_embed_, 0.02);
  keep_dense("cls_token");
  keep_dense("pos_embed");
  set_weight_uses("patch_embed.weight", tokens());
  for (int64_t b = 0; b < size.depth; ++b) {
    const std::string name = "block" + std::to_string(b);
    blocks_.push_back(register_module(name, EncoderBlock(name, dim, size.heads, dim * size.mlp_ratio, FeedForwardKind::Mlp)));
    for (const char* w : {".attn.qkv.weight", ".attn.proj.weight", ".fc1.weight", ".fc2.weight"}) {
      set_weight_uses(name + w, tokens() + 1);
    }
  }
  norm_ = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-6)));
  head_ = register_module("head", torch::nn::Linear(dim, num_classes));
  init_transformer_linear(head_);
  hook_ = [this](const std::string& name, torch::nn::Linear& layer, const at::Tensor& x) {
    return run_layer(name, layer, x);
  };
}

at::Tensor VisionTransformer::forward(const at::Tensor& input) {
  // [batch, dim, grid, grid] -> [batch, tokens, dim], then the class token in front.
  at::Tensor x = grid_to_tokens(run_layer("patch_embed.weight", patch_embed_, input));
  x = at::cat({cls_token_.expand({x.size(0), 1, x.size(2)}), x}, 1) + pos_embed_;
  for (auto& block : blocks_) x = block->forward(x, hook_);
  return run_layer("head.weight", head_, norm_->forward(x.select(1, 0)));
}

}  // namespace gossamer::models
