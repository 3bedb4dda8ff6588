#include <torch/torch.h>

#include <stdexcept>
#include <string>

#include "gossamer/models/zoo.h"

namespace gossamer::models {

CeiT::CeiT(int64_t in_channels, int64_t image_size, int64_t num_classes, const TransformerSize& size) {
  check_transformer_size(size, "ceit");
  // Image-to-Tokens as in the paper and its code: 7x7 stride-2 convolution (pad 3, no bias), batch
  // norm, 3x3 stride-2 max pool (pad 1): a side s becomes ceil(ceil(s / 2) / 2).
  const int64_t feature = ((image_size + 1) / 2 + 1) / 2;
  check_transformer_patch(size, "ceit", image_size);
  const int64_t p = size.patch;
  const int64_t fp = p / 4, dim = size.dim, c = size.stem_channels;
  grid_ = feature / fp;
  i2t_conv_ = register_module("i2t_conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, c, 7).stride(2).padding(3).bias(false)));
  i2t_bn_ = register_module("i2t_bn", torch::nn::BatchNorm2d(c));
  patch_embed_ = register_module("patch_embed", torch::nn::Conv2d(torch::nn::Conv2dOptions(c, dim, fp).stride(fp)));
  const int64_t conv_side = (image_size + 1) / 2;
  set_weight_uses("i2t_conv.weight", conv_side * conv_side);
  set_weight_uses("patch_embed.weight", tokens());
  cls_token_ = register_parameter("cls_token", at::zeros({1, 1, dim}));
  pos_embed_ = register_parameter("pos_embed", at::zeros({1, tokens() + 1, dim}));
  for (int64_t b = 0; b < size.depth; ++b) {
    const std::string name = "block" + std::to_string(b);
    blocks_.push_back(register_module(
        name, EncoderBlock(name, dim, size.heads, dim * size.mlp_ratio, FeedForwardKind::LocallyEnhanced, grid_)));
    set_weight_uses(name + ".attn.qkv.weight", tokens() + 1);
    set_weight_uses(name + ".attn.proj.weight", tokens() + 1);
    for (const char* w : {".up.weight", ".dw.weight", ".down.weight"}) set_weight_uses(name + w, tokens());
  }
  pos_layer_embed_ = register_parameter("pos_layer_embed", at::zeros({1, size.depth, dim}));
  lca_ = register_module("lca", EncoderBlock("lca", dim, size.heads, dim * size.mlp_ratio, FeedForwardKind::Mlp));
  set_weight_uses("lca.attn.qkv.weight", size.depth);  // keys and values of every class token
  norm_ = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-6)));
  head_ = register_module("head", torch::nn::Linear(dim, num_classes));
  init_transformer_linear(head_);
  // The paper's code starts the layer position embedding at zero and the others truncated normal.
  truncated_normal_(cls_token_, 0.02);
  truncated_normal_(pos_embed_, 0.02);
  for (const char* name : {"cls_token", "pos_embed", "pos_layer_embed"}) keep_dense(name);
  hook_ = [this](const std::string& name, torch::nn::Linear& layer, const at::Tensor& x) {
    return run_layer(name, layer, x);
  };
}

at::Tensor CeiT::forward(const at::Tensor& input) {
  at::Tensor f = torch::max_pool2d(i2t_bn_->forward(run_layer("i2t_conv.weight", i2t_conv_, input)), 3, 2, 1);
  at::Tensor x = grid_to_tokens(run_layer("patch_embed.weight", patch_embed_, f));
  x = at::cat({cls_token_.expand({x.size(0), 1, x.size(2)}), x}, 1) + pos_embed_;
  std::vector<at::Tensor> class_tokens;
  class_tokens.reserve(blocks_.size());
  for (auto& block : blocks_) {
    x = block->forward(x, hook_);
    class_tokens.push_back(x.select(1, 0));
  }
  const at::Tensor all = at::stack(class_tokens, 1) + pos_layer_embed_;  // [batch, depth, dim]
  const at::Tensor last = lca_->forward_last(all, hook_).squeeze(1);
  return run_layer("head.weight", head_, norm_->forward(last));
}

}  // namespace gossamer::models
