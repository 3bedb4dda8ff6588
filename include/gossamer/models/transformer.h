// The pieces of the vision transformers (VisionTransformer and CeiT in zoo.h): scaled dot-product
// attention, multi-head self-attention, the two feed-forward blocks (a plain MLP and CeiT's
// locally-enhanced one) and a pre-norm encoder block. Public so that tests and C++ users can use
// them on their own.
//
// Every linear layer is computed through a LinearFn that the owning model passes down: the model's
// layer hook (Model::run_layer), so that a sparse kernel can take over any projection. Tokens are
// [batch, tokens, width]; the blocks call the LinearFn on [batch * tokens, width] rows, the shape
// the sparse kernels take.
#pragma once

#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include <functional>
#include <string>

namespace gossamer::models {

struct TransformerSize;
// Throws std::invalid_argument naming the config key (model.dim, ...) of a size that cannot build
// `model` ("vit" or "ceit"): a value below 1, or a width the heads do not divide.
void check_transformer_size(const TransformerSize& size, const std::string& model);
// Throws std::invalid_argument, listing the values that fit, when model.patch does not cut an
// image_size x image_size input into whole patches (ViT: patch divides the side; CeiT: patch / 4
// divides the side its stem leaves). Shared by the constructors and models::model_footprint.
void check_transformer_patch(const TransformerSize& size, const std::string& model, int64_t image_size);

// The number of parameters of `model` ("vit" or "ceit") at `size` for [in_channels, image, image]
// inputs and `num_classes`, computed from the layer shapes without building it (a preflight can
// refuse a model that would not fit in memory before allocating it). The size must be valid.
int64_t transformer_parameters(const std::string& model, const TransformerSize& size, int64_t in_channels,
                               int64_t image_size, int64_t num_classes);
// Patch tokens (without the class token) of `model` at `size` on image_size x image_size inputs.
int64_t transformer_tokens(const std::string& model, const TransformerSize& size, int64_t image_size);

// `name` is the layer's full weight name in the model (e.g. "block0.attn.qkv.weight").
using LinearFn = std::function<at::Tensor(const std::string& name, torch::nn::Linear& layer, const at::Tensor& x)>;
// The layer's own forward: what a block does outside a model.
at::Tensor plain_linear(const std::string& name, torch::nn::Linear& layer, const at::Tensor& x);

// softmax(q kᵀ / √d) v over the last two dimensions: q [..., Tq, d], k and v [..., Tk, d].
at::Tensor scaled_dot_product_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

// Tokens [batch, side * side, channels] (row-major grid order, as a convolution's feature map
// flattens) <-> grid [batch, channels, side, side]. Exact inverses of each other.
at::Tensor tokens_to_grid(const at::Tensor& tokens, int64_t side);
at::Tensor grid_to_tokens(const at::Tensor& grid);

// In place: values from N(0, std²) truncated to ±2·std (values beyond are redrawn), as DeiT starts
// its position embeddings, class token and linear weights.
void truncated_normal_(at::Tensor t, double std);
// Transformer linear layers start as DeiT's do: weights truncated_normal_(0.02), biases zero.
void init_transformer_linear(torch::nn::Linear& layer);

// Multi-head self-attention with one fused q/k/v projection ("qkv", [3·dim, dim], with bias) and an
// output projection ("proj").
class SelfAttentionImpl : public torch::nn::Module {
 public:
  SelfAttentionImpl(std::string prefix, int64_t dim, int64_t heads);
  // x [batch, tokens, dim] -> [batch, tokens, dim]; with last_query_only, only the last token
  // queries (keys and values are still every token) and the result is [batch, 1, dim]: CeiT's
  // layer-wise class-token attention.
  at::Tensor forward(const at::Tensor& x, const LinearFn& linear, bool last_query_only = false);
  int64_t heads() const { return heads_; }

 private:
  std::string prefix_;
  int64_t dim_, heads_;
  torch::nn::Linear qkv_{nullptr}, proj_{nullptr};
};
TORCH_MODULE(SelfAttention);

// Which feed-forward a block uses.
enum class FeedForwardKind { Mlp, LocallyEnhanced };

// Pre-norm encoder block: x + attn(norm1(x)), then + ffn(norm2(·)) (LayerNorm, eps 1e-6).
//  - Mlp: fc1 -> GELU -> fc2 (ViT, and CeiT's class-token attention block).
//  - LocallyEnhanced (CeiT's LeFF; needs a class token followed by a square grid of tokens):
//    the class token passes around it unchanged; the grid tokens go up (linear "up", batch norm,
//    GELU), are reshaped to their grid for a depthwise 3x3 convolution ("dw", batch norm, GELU),
//    and come back down (linear "down", batch norm). The 1x1 convolutions of the paper are linear
//    layers on tokens (the same map), so that N:M and the sparse linear kernels apply to them.
class EncoderBlockImpl : public torch::nn::Module {
 public:
  EncoderBlockImpl(std::string prefix, int64_t dim, int64_t heads, int64_t hidden, FeedForwardKind ffn,
                   int64_t grid_side = 0);
  at::Tensor forward(const at::Tensor& x, const LinearFn& linear);
  // Only the last token's output ([batch, 1, dim]): the attention queries with it alone, which is
  // the last row of forward() (CeiT's LCA block).
  at::Tensor forward_last(const at::Tensor& x, const LinearFn& linear);
  // The feed-forward part alone, on tokens that are already normalised.
  at::Tensor feed_forward(const at::Tensor& x, const LinearFn& linear);

 private:
  std::string prefix_;
  FeedForwardKind kind_;
  int64_t grid_side_;
  torch::nn::LayerNorm norm1_{nullptr}, norm2_{nullptr};
  SelfAttention attn_{nullptr};
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr};  // Mlp: "fc1", "fc2"; LeFF: "up", "down"
  torch::nn::BatchNorm1d bn_up_{nullptr}, bn_down_{nullptr};
  torch::nn::Conv2d dw_{nullptr};
  torch::nn::BatchNorm2d bn_dw_{nullptr};
};
TORCH_MODULE(EncoderBlock);

}  // namespace gossamer::models
