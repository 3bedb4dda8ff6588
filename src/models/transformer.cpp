#include "gossamer/models/transformer.h"

#include "gossamer/models/model.h"

#include <torch/torch.h>

#include <cmath>
#include <stdexcept>
#include <string>

namespace gossamer::models {

void check_transformer_size(const TransformerSize& size, const std::string& model) {
  const std::pair<const char*, int64_t> values[] = {{"dim", size.dim},         {"depth", size.depth},
                                                    {"heads", size.heads},     {"mlp_ratio", size.mlp_ratio},
                                                    {"patch", size.patch},     {"stem_channels", size.stem_channels}};
  for (const auto& [key, value] : values) {
    if (value < 1) {
      throw std::invalid_argument(model + ": model." + key + " = " + std::to_string(value) + " must be at least 1");
    }
  }
  if (size.dim % size.heads != 0) {
    int64_t fit = size.heads;
    while (size.dim % fit != 0) --fit;  // stops at 1 at the latest
    throw std::invalid_argument(model + ": model.dim = " + std::to_string(size.dim) + " is not divisible by model.heads = " +
                                std::to_string(size.heads) + ": use heads that divide the width (e.g. " +
                                std::to_string(fit) + ") or a width that is a multiple of the heads (e.g. " +
                                std::to_string((size.dim / size.heads + 1) * size.heads) + ")");
  }
}

namespace {

std::string divisors_of(int64_t n, int64_t times = 1) {
  std::string out;
  for (int64_t d = 1; d <= n; ++d) {
    if (n % d == 0) out += (out.empty() ? "" : ", ") + std::to_string(times * d);
  }
  return out;
}

}  // namespace

void check_transformer_patch(const TransformerSize& size, const std::string& model, int64_t image_size) {
  const int64_t p = size.patch;
  if (model != "ceit") {
    if (p < 1 || p > image_size || image_size % p != 0) {
      throw std::invalid_argument(model + ": model.patch = " + std::to_string(p) + " does not divide the " +
                                  std::to_string(image_size) + "-pixel image side: choose one of " +
                                  divisors_of(image_size));
    }
    return;
  }
  // CeiT's Image-to-Tokens stem shrinks a side s to ceil(ceil(s / 2) / 2) (see ceit.cpp).
  const int64_t feature = ((image_size + 1) / 2 + 1) / 2;
  if (p < 4 || p % 4 != 0 || feature % (p / 4) != 0) {
    throw std::invalid_argument("ceit: model.patch = " + std::to_string(p) + " does not fit: the stem shrinks the " +
                                std::to_string(image_size) + "-pixel image to " + std::to_string(feature) +
                                " and cuts patches of patch / 4, so patch must be 4 times a divisor of " +
                                std::to_string(feature) + ": choose one of " + divisors_of(feature, 4));
  }
}

int64_t transformer_tokens(const std::string& model, const TransformerSize& size, int64_t image_size) {
  // As the constructors: ViT cuts the image into patches; CeiT's stem shrinks it to
  // ceil(ceil(s / 2) / 2) and cuts that into patches of patch / 4.
  const int64_t side = model == "ceit" ? (((image_size + 1) / 2 + 1) / 2) / std::max<int64_t>(1, size.patch / 4)
                                       : image_size / std::max<int64_t>(1, size.patch);
  return side * side;
}

int64_t transformer_parameters(const std::string& model, const TransformerSize& size, int64_t in_channels,
                               int64_t image_size, int64_t num_classes) {
  const int64_t d = size.dim, h = size.dim * size.mlp_ratio, L = size.depth;
  const int64_t tokens = transformer_tokens(model, size, image_size);
  const int64_t attention = 2 * d /* norm1 */ + 3 * d * d + 3 * d /* qkv */ + d * d + d /* proj */ + 2 * d /* norm2 */;
  const int64_t mlp = d * h + h + h * d + d;
  const int64_t top = 2 * d /* norm */ + d * num_classes + num_classes /* head */;
  const int64_t embeddings = d /* cls_token */ + (tokens + 1) * d /* pos_embed */;
  if (model != "ceit") {
    const int64_t p = size.patch;
    return in_channels * p * p * d + d + embeddings + L * (attention + mlp) + top;
  }
  const int64_t c = size.stem_channels, fp = size.patch / 4;
  const int64_t stem = in_channels * 49 * c + 2 * c + c * fp * fp * d + d;
  const int64_t leff = d * h + h + 2 * h /* up, bn_up */ + 9 * h + h + 2 * h /* dw, bn_dw */ + h * d + d + 2 * d;
  return stem + embeddings + L * (attention + leff) + L * d /* pos_layer_embed */ + attention + mlp /* lca */ + top;
}

at::Tensor plain_linear(const std::string&, torch::nn::Linear& layer, const at::Tensor& x) { return layer->forward(x); }

at::Tensor scaled_dot_product_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  const at::Tensor scores = at::matmul(q, k.transpose(-2, -1)).mul_(scale);
  return at::matmul(at::softmax(scores, -1), v);
}

at::Tensor tokens_to_grid(const at::Tensor& tokens, int64_t side) {
  if (tokens.dim() != 3 || tokens.size(1) != side * side) {
    throw std::invalid_argument("tokens_to_grid: need [batch, " + std::to_string(side * side) +
                                " tokens, channels], got " + std::to_string(tokens.dim()) + " dimensions and " +
                                std::to_string(tokens.dim() > 1 ? tokens.size(1) : 0) + " tokens");
  }
  // Token t = row * side + column, as flatten(2) of a [batch, channels, side, side] map numbers them.
  return tokens.transpose(1, 2).reshape({tokens.size(0), tokens.size(2), side, side});
}

at::Tensor grid_to_tokens(const at::Tensor& grid) { return grid.flatten(2).transpose(1, 2); }

void truncated_normal_(at::Tensor t, double std) {
  at::NoGradGuard no_grad;
  // A bounded number of redraws keeps this finite whatever the generator; the clamp then only
  // touches values that stayed outside after 16 rounds (about 0.046^16 of them: none in practice).
  t.normal_(0.0, std);
  for (int round = 0; round < 16; ++round) {
    const at::Tensor outside = t.abs().gt(2 * std);
    if (!outside.any().item<bool>()) break;
    t.masked_scatter_(outside, at::empty_like(t).normal_(0.0, std).masked_select(outside));
  }
  t.clamp_(-2 * std, 2 * std);
}

void init_transformer_linear(torch::nn::Linear& layer) {
  truncated_normal_(layer->weight, 0.02);
  at::NoGradGuard no_grad;
  if (layer->bias.defined()) layer->bias.zero_();
}

namespace {

// [batch, tokens, width] through a linear layer as [batch * tokens, width] rows.
at::Tensor on_rows(const LinearFn& linear, const std::string& name, torch::nn::Linear& layer, const at::Tensor& x) {
  const at::Tensor y = linear(name, layer, x.reshape({-1, x.size(-1)}));
  std::vector<int64_t> shape = x.sizes().vec();
  shape.back() = y.size(-1);
  return y.view(shape);
}

}  // namespace

SelfAttentionImpl::SelfAttentionImpl(std::string prefix, int64_t dim, int64_t heads)
    : prefix_(std::move(prefix)), dim_(dim), heads_(heads) {
  if (heads < 1 || dim % heads != 0) {
    throw std::invalid_argument("SelfAttention: width " + std::to_string(dim) + " is not divisible by " +
                                std::to_string(heads) + " heads");
  }
  qkv_ = register_module("qkv", torch::nn::Linear(dim, 3 * dim));
  proj_ = register_module("proj", torch::nn::Linear(dim, dim));
  init_transformer_linear(qkv_);
  init_transformer_linear(proj_);
}

at::Tensor SelfAttentionImpl::forward(const at::Tensor& x, const LinearFn& linear, bool last_query_only) {
  const int64_t batch = x.size(0), tokens = x.size(1), head_dim = dim_ / heads_;
  // [batch, tokens, 3 * dim] -> [3, batch, heads, tokens, head_dim]
  const at::Tensor qkv =
      on_rows(linear, prefix_ + ".qkv.weight", qkv_, x).view({batch, tokens, 3, heads_, head_dim}).permute({2, 0, 3, 1, 4});
  at::Tensor q = qkv[0], k = qkv[1], v = qkv[2];
  if (last_query_only) q = q.narrow(2, tokens - 1, 1);
  const at::Tensor out = scaled_dot_product_attention(q, k, v);  // [batch, heads, queries, head_dim]
  const at::Tensor merged = out.transpose(1, 2).reshape({batch, q.size(2), dim_});
  return on_rows(linear, prefix_ + ".proj.weight", proj_, merged);
}

EncoderBlockImpl::EncoderBlockImpl(std::string prefix, int64_t dim, int64_t heads, int64_t hidden, FeedForwardKind ffn,
                                   int64_t grid_side)
    : prefix_(std::move(prefix)), kind_(ffn), grid_side_(grid_side) {
  norm1_ = register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-6)));
  attn_ = register_module("attn", SelfAttention(prefix_ + ".attn", dim, heads));
  norm2_ = register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-6)));
  if (kind_ == FeedForwardKind::Mlp) {
    fc1_ = register_module("fc1", torch::nn::Linear(dim, hidden));
    fc2_ = register_module("fc2", torch::nn::Linear(hidden, dim));
  } else {
    if (grid_side < 1) throw std::invalid_argument("EncoderBlock: the locally-enhanced feed-forward needs a grid side");
    fc1_ = register_module("up", torch::nn::Linear(dim, hidden));
    bn_up_ = register_module("bn_up", torch::nn::BatchNorm1d(hidden));
    dw_ = register_module("dw", torch::nn::Conv2d(torch::nn::Conv2dOptions(hidden, hidden, 3).padding(1).groups(hidden)));
    bn_dw_ = register_module("bn_dw", torch::nn::BatchNorm2d(hidden));
    fc2_ = register_module("down", torch::nn::Linear(hidden, dim));
    bn_down_ = register_module("bn_down", torch::nn::BatchNorm1d(dim));
  }
  init_transformer_linear(fc1_);
  init_transformer_linear(fc2_);
}

at::Tensor EncoderBlockImpl::feed_forward(const at::Tensor& x, const LinearFn& linear) {
  if (kind_ == FeedForwardKind::Mlp) {
    const std::string up = prefix_ + ".fc1.weight", down = prefix_ + ".fc2.weight";
    return on_rows(linear, down, fc2_, torch::gelu(on_rows(linear, up, fc1_, x)));
  }
  const int64_t batch = x.size(0), grid = grid_side_ * grid_side_;
  if (x.size(1) != grid + 1) {
    throw std::invalid_argument("EncoderBlock: the locally-enhanced feed-forward needs 1 class token and " +
                                std::to_string(grid) + " grid tokens, got " + std::to_string(x.size(1)) + " tokens");
  }
  const at::Tensor cls = x.narrow(1, 0, 1);
  const at::Tensor rows = x.narrow(1, 1, grid).reshape({batch * grid, x.size(2)});
  // Batch norm over [batch * tokens, channels] rows has the statistics of a 2-D batch norm over the
  // grid: per channel, over every sample and position.
  at::Tensor h = torch::gelu(bn_up_->forward(linear(prefix_ + ".up.weight", fc1_, rows)));
  at::Tensor g = tokens_to_grid(h.view({batch, grid, h.size(1)}), grid_side_);
  g = torch::gelu(bn_dw_->forward(dw_->forward(g)));
  h = grid_to_tokens(g).reshape({batch * grid, g.size(1)});
  // The official code (coeusguo/ceit) ends with the batch norm; the paper's figure also has a GELU.
  const at::Tensor out = bn_down_->forward(linear(prefix_ + ".down.weight", fc2_, h));
  return at::cat({cls, out.view({batch, grid, out.size(1)})}, 1);
}

at::Tensor EncoderBlockImpl::forward(const at::Tensor& x, const LinearFn& linear) {
  const at::Tensor y = x + attn_->forward(norm1_->forward(x), linear);
  return y + feed_forward(norm2_->forward(y), linear);
}

at::Tensor EncoderBlockImpl::forward_last(const at::Tensor& x, const LinearFn& linear) {
  const at::Tensor y = x.narrow(1, x.size(1) - 1, 1) + attn_->forward(norm1_->forward(x), linear, true);
  return y + feed_forward(norm2_->forward(y), linear);
}

}  // namespace gossamer::models
