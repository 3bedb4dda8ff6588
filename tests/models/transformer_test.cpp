// The vision transformers' pieces against independent references: attention written out with
// loops, the token/grid reshape against the feature map it comes from, the class-token attention
// against a full block, and the whole models' gradients against finite differences.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>
#include <set>

#include "gossamer/models/model.h"
#include "gossamer/models/transformer.h"
#include "gossamer/models/zoo.h"

using namespace gossamer::models;
using ::testing::HasSubstr;

namespace transformer_test {

at::Tensor randn(std::vector<int64_t> shape, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::normal(0.0, 1.0, shape, gen, at::kDouble);
}

// softmax(q kᵀ/√d) v for one [T, d] matrix triple, with scalar loops.
at::Tensor attention_by_hand(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  const int64_t tq = q.size(0), tk = k.size(0), d = q.size(1), dv = v.size(1);
  auto Q = q.accessor<double, 2>(), K = k.accessor<double, 2>(), V = v.accessor<double, 2>();
  at::Tensor out = at::zeros({tq, dv}, at::kDouble);
  auto O = out.accessor<double, 2>();
  for (int64_t i = 0; i < tq; ++i) {
    std::vector<double> s(static_cast<size_t>(tk));
    double top = -INFINITY, total = 0;
    for (int64_t j = 0; j < tk; ++j) {
      double dot = 0;
      for (int64_t c = 0; c < d; ++c) dot += Q[i][c] * K[j][c];
      s[j] = dot / std::sqrt(static_cast<double>(d));
      top = std::max(top, s[j]);
    }
    for (auto& x : s) total += (x = std::exp(x - top));
    for (int64_t j = 0; j < tk; ++j) {
      for (int64_t c = 0; c < dv; ++c) O[i][c] += s[j] / total * V[j][c];
    }
  }
  return out;
}

TEST(Transformer, AttentionMatchesTheFormulaWrittenOut) {
  const at::Tensor q = randn({2, 3, 4}, 1), k = randn({2, 5, 4}, 2), v = randn({2, 5, 6}, 3);
  const at::Tensor got = scaled_dot_product_attention(q, k, v);
  ASSERT_EQ(got.sizes(), (std::vector<int64_t>{2, 3, 6}));
  for (int64_t b = 0; b < 2; ++b) {
    EXPECT_TRUE(at::allclose(got[b], attention_by_hand(q[b], k[b], v[b]), 0, 1e-12)) << "batch " << b;
  }
}

TEST(Transformer, MultiHeadAttentionSplitsTheFusedProjectionIntoHeads) {
  SelfAttention attn("a", 6, 3);
  attn->to(at::kDouble);
  const at::Tensor x = randn({2, 4, 6}, 4);
  const at::Tensor got = attn->forward(x, plain_linear);
  // By hand: rows 0-5 of qkv are q, 6-11 k, 12-17 v; head h owns columns 2h, 2h+1 of each.
  auto params = attn->named_parameters();
  const at::Tensor w = params["qkv.weight"], bias = params["qkv.bias"];
  const at::Tensor pw = params["proj.weight"], pb = params["proj.bias"];
  for (int64_t b = 0; b < 2; ++b) {
    const at::Tensor qkv = at::matmul(x[b], w.t()) + bias;  // [4, 18]
    std::vector<at::Tensor> heads;
    for (int64_t h = 0; h < 3; ++h) {
      heads.push_back(attention_by_hand(qkv.narrow(1, 2 * h, 2), qkv.narrow(1, 6 + 2 * h, 2), qkv.narrow(1, 12 + 2 * h, 2)));
    }
    const at::Tensor expected = at::matmul(at::cat(heads, 1), pw.t()) + pb;
    EXPECT_TRUE(at::allclose(got[b], expected, 0, 1e-12)) << "batch " << b;
  }
}

TEST(Transformer, TokenGridRoundTripIsExactAndFollowsTheFeatureMapOrder) {
  const at::Tensor map = randn({2, 3, 4, 4}, 5);  // [batch, channels, side, side]
  const at::Tensor tokens = grid_to_tokens(map);
  ASSERT_EQ(tokens.sizes(), (std::vector<int64_t>{2, 16, 3}));
  for (int64_t r = 0; r < 4; ++r) {
    for (int64_t c = 0; c < 4; ++c) {
      EXPECT_TRUE(at::equal(tokens[1][r * 4 + c], map[1].select(1, r).select(1, c))) << r << "," << c;
    }
  }
  EXPECT_TRUE(at::equal(tokens_to_grid(tokens, 4), map));
  const at::Tensor t = randn({3, 9, 5}, 6);
  EXPECT_TRUE(at::equal(grid_to_tokens(tokens_to_grid(t, 3)), t));
  try {
    tokens_to_grid(t, 4);
    FAIL() << "9 tokens are not a 4x4 grid";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("16 tokens"));
  }
}

TEST(Transformer, ClassTokenAttentionWithOneBlockIsTheLastRowOfAFullBlock) {
  EncoderBlock block("lca", 8, 2, 16, FeedForwardKind::Mlp);
  block->to(at::kDouble);
  const at::Tensor x = randn({3, 5, 8}, 7);
  const at::Tensor full = block->forward(x, plain_linear);
  const at::Tensor last = block->forward_last(x, plain_linear);
  ASSERT_EQ(last.sizes(), (std::vector<int64_t>{3, 1, 8}));
  EXPECT_TRUE(at::allclose(last, full.narrow(1, 4, 1), 0, 1e-12));
}

TEST(Transformer, LocallyEnhancedFeedForwardPassesTheClassTokenAroundAndMixesNeighbours) {
  EncoderBlock block("b", 4, 2, 8, FeedForwardKind::LocallyEnhanced, 3);
  block->to(at::kDouble);
  block->eval();  // batch norm with its running statistics: each sample on its own
  at::Tensor x = randn({2, 10, 4}, 8);
  const at::Tensor y = block->feed_forward(x, plain_linear);
  EXPECT_TRUE(at::equal(y.narrow(1, 0, 1), x.narrow(1, 0, 1)));
  // The depthwise 3x3 convolution: changing the grid's corner token (0, 0) changes its neighbour
  // (1, 1) but not the far corner (2, 2).
  at::Tensor x2 = x.clone();
  x2[0][1].add_(1.0);
  const at::Tensor y2 = block->feed_forward(x2, plain_linear);
  EXPECT_FALSE(at::allclose(y2[0][1 + 4], y[0][1 + 4]));
  EXPECT_TRUE(at::allclose(y2[0][1 + 8], y[0][1 + 8], 0, 1e-14));
  EXPECT_TRUE(at::equal(y2[1], y[1]));
  try {
    block->feed_forward(randn({2, 9, 4}, 9), plain_linear);
    FAIL() << "9 tokens are not a class token and a 3x3 grid";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("1 class token and 9 grid tokens"));
  }
}

ModelSpec tiny(const std::string& name) {
  ModelSpec s;
  s.name = name;
  s.input_shape = {1, 8, 8};
  s.num_classes = 3;
  s.transformer.dim = 4;
  s.transformer.depth = 2;
  s.transformer.heads = 2;
  s.transformer.mlp_ratio = 2;
  s.transformer.patch = 4;
  s.transformer.stem_channels = 3;
  return s;
}

// Central differences on a few entries of every parameter tensor, in float64.
void expect_gradients_match_finite_differences(const std::string& name) {
  torch::manual_seed(11);
  auto model = make_model(tiny(name));
  model->to(at::kDouble);
  model->train();  // CeiT's batch norms use the batch statistics: a smooth function of the weights
  const at::Tensor x = randn({4, 1, 8, 8}, 12);
  const at::Tensor target = at::tensor({0, 2, 1, 2}, at::kLong);
  auto loss_of = [&]() { return torch::nn::functional::cross_entropy(model->forward(x), target); };
  model->zero_grad();
  loss_of().backward();
  int checked = 0;
  for (auto& p : model->named_parameters()) {
    at::Tensor w = p.value();
    const at::Tensor g = w.grad().clone().reshape({-1});
    at::Tensor flat = w.detach().view({-1});
    for (int64_t i : {int64_t{0}, w.numel() / 2, w.numel() - 1}) {
      const double saved = flat[i].item<double>(), h = 1e-6;
      double up, down;
      {
        at::NoGradGuard ng;
        flat[i] = saved + h;
        up = loss_of().item<double>();
        flat[i] = saved - h;
        down = loss_of().item<double>();
        flat[i] = saved;
      }
      const double numeric = (up - down) / (2 * h), analytic = g[i].item<double>();
      EXPECT_NEAR(analytic, numeric, 1e-6 + 1e-5 * std::abs(numeric)) << name << " " << p.key() << "[" << i << "]";
      ++checked;
    }
  }
  EXPECT_GT(checked, 30) << name;
}

TEST(Transformer, VitGradientsMatchFiniteDifferences) { expect_gradients_match_finite_differences("vit"); }
TEST(Transformer, CeitGradientsMatchFiniteDifferences) { expect_gradients_match_finite_differences("ceit"); }

TEST(Transformer, BothModelsMapImagesToLogitsWithFortyNineTokensByDefault) {
  for (const std::string name : {"vit", "ceit"}) {
    ModelSpec s;
    s.name = name;
    auto m = make_model(s);
    EXPECT_EQ(m->forward(at::randn({2, 1, 28, 28})).sizes(), (std::vector<int64_t>{2, 10})) << name;
    // 28 / 4 = 7 (ViT); CeiT: 28 -> 14 -> 7, patches of 1.
    EXPECT_EQ(m->named_parameters()["pos_embed"].sizes(), (std::vector<int64_t>{1, 50, 64})) << name;
  }
}

TEST(Transformer, VitHasTheParameterCountOfItsLayers) {
  ModelSpec s = tiny("vit");  // dim 4, 2 blocks, hidden 8, 2x2 patches of 4x4 pixels, 3 classes
  const int64_t embed = 4 * 16 + 4, tokens = 1 * 4 + 5 * 4;  // patch conv; class token + 5 positions
  const int64_t block = 2 * 8 + (4 * 12 + 12) + (4 * 4 + 4) + (4 * 8 + 8) + (8 * 4 + 4);  // norms, qkv, proj, fc1, fc2
  EXPECT_EQ(count_parameters(*make_model(s)), embed + tokens + 2 * block + 8 + (4 * 3 + 3));
}

TEST(Transformer, TheParameterCountFromTheSizesIsTheBuiltModels) {
  // The closed form the preflight's memory check uses, against the models themselves.
  std::vector<TransformerSize> sizes = {TransformerSize{}, {8, 2, 2, 3, 7, 5}, {12, 3, 3, 1, 28, 2}, {16, 1, 4, 4, 2, 3}};
  for (const std::string name : {"vit", "ceit"}) {
    for (auto size : sizes) {
      if (name == "ceit" && size.patch % 4 != 0) size.patch = 4;  // ceit: 4 times a divisor of 7
      ModelSpec s;
      s.name = name;
      s.transformer = size;
      const auto m = make_model(s);
      EXPECT_EQ(transformer_parameters(name, size, 1, 28, 10), count_parameters(*m))
          << name << " dim " << size.dim << " patch " << size.patch;
      EXPECT_EQ(transformer_tokens(name, size, 28) + 1, m->named_parameters()["pos_embed"].size(1)) << name;
    }
  }
}

TEST(Transformer, OnlyLayerWeightsArePrunableAndEveryLinearGoesThroughTheHook) {
  for (const std::string name : {"vit", "ceit"}) {
    auto m = make_model(tiny(name));
    EXPECT_FALSE(m->prunable("cls_token")) << name;
    EXPECT_FALSE(m->prunable("pos_embed")) << name;
    EXPECT_TRUE(m->prunable("block0.attn.qkv.weight")) << name;
    std::set<std::string> linears;
    for (const auto& mod : m->named_modules("", false)) {
      if (mod.value()->as<torch::nn::LinearImpl>()) linears.insert(mod.key() + ".weight");
    }
    std::set<std::string> called;
    for (const auto& l : linears) {
      m->set_layer_override(l, [&called, l, mod = m->named_modules("", false)[l.substr(0, l.rfind('.'))]](const at::Tensor& x) {
        EXPECT_EQ(x.dim(), 2) << l << ": the hook sees [rows, features]";
        called.insert(l);
        return mod->as<torch::nn::LinearImpl>()->forward(x);
      });
    }
    m->forward(at::randn({2, 1, 8, 8}));
    EXPECT_EQ(called, linears) << name;
    EXPECT_EQ(linears.size(), name == "vit" ? 2u * 4 + 1 : 2u * 4 + 4 + 1) << name;
  }
  EXPECT_FALSE(make_model(tiny("ceit"))->prunable("pos_layer_embed"));
}

void expect_refused(ModelSpec s, const std::string& what) {
  try {
    make_model(s);
    FAIL() << "expected: " << what;
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr(what));
  }
}

TEST(Transformer, SizesThatDoNotFitAreRefusedNamingTheKeyAndAFix) {
  ModelSpec s;
  s.name = "vit";
  s.transformer.patch = 5;
  expect_refused(s, "vit: model.patch = 5 does not divide the 28-pixel image side: choose one of 1, 2, 4, 7, 14, 28");
  s.transformer.patch = 4;
  s.transformer.dim = 60;
  s.transformer.heads = 8;
  expect_refused(s, "vit: model.dim = 60 is not divisible by model.heads = 8: use heads that divide the width (e.g. 6)");
  s.transformer.dim = 64;
  s.transformer.depth = 0;
  expect_refused(s, "model.depth = 0 must be at least 1");
  s = ModelSpec{};
  s.name = "ceit";
  s.transformer.patch = 2;
  expect_refused(s, "ceit: model.patch = 2 does not fit: the stem shrinks the 28-pixel image to 7");
  expect_refused(s, "choose one of 4, 28");
}

}  // namespace transformer_test
