// Sparse conv2d (conv.h, sparse_conv2d.h, sparse_conv2d_module.h) against LibTorch's dense
// at::conv2d + autograd on the masked weight, computed in float64.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "gossamer/kernels/conv.h"
#include "gossamer/kernels/sparse_conv2d.h"
#include "gossamer/kernels/sparse_conv2d_module.h"
#include "kernel_test_util.h"

namespace gk = gossamer::kernels;
using gk::testing::gen;
using gk::testing::kTol;
using gk::testing::rel_err;
using gk::testing::uniform;

namespace {


struct Case {
  std::string name;
  int64_t n, c, h, w, o, kh, kw;
  std::array<int64_t, 2> stride{1, 1}, padding{0, 0}, dilation{1, 1};
  double sparsity = 0.8;  // fraction of masked-out weights (0: dense pattern, 1: empty)
  bool bias = true;
};

at::Tensor conv_mask(int64_t o, int64_t c, int64_t kh, int64_t kw, double sparsity, uint64_t seed) {
  at::Tensor u = at::empty({o, c, kh, kw}, at::kFloat);
  u.uniform_(0.0, 1.0, gen(seed));
  return u.ge(sparsity);
}

gk::ConvGeometry geometry_of(const Case& k) {
  gk::ConvGeometry g;
  g.stride = k.stride;
  g.padding = k.padding;
  g.dilation = k.dilation;
  return g;
}

struct Ref {
  at::Tensor y, dx, dw, db;
};

// conv2d(x, w ⊙ mask) + b with loss sum(y ⊙ r), through LibTorch autograd in float64.
Ref dense_reference(const at::Tensor& x0, const at::Tensor& w0, const at::Tensor& mask, const at::Tensor& b0,
                    const at::Tensor& r, const gk::ConvGeometry& g) {
  at::Tensor x = x0.detach().to(at::kDouble).requires_grad_(true);
  at::Tensor w = w0.detach().to(at::kDouble).requires_grad_(true);
  at::Tensor b = b0.defined() ? b0.detach().to(at::kDouble).requires_grad_(true) : at::Tensor();
  at::Tensor y = at::conv2d(x, w * mask.to(at::kDouble), b, {g.stride[0], g.stride[1]}, {g.padding[0], g.padding[1]},
                            {g.dilation[0], g.dilation[1]}, 1);
  (y * r.to(at::kDouble)).sum().backward();
  return {y.detach(), x.grad(), w.grad(), b.defined() ? b.grad() : at::Tensor()};
}

// The whole check for one case: forward, dX, dW (both gradient conventions) and db.
void check_case(const Case& k, uint64_t seed) {
  SCOPED_TRACE(k.name);
  const gk::ConvGeometry g = geometry_of(k);
  at::Tensor w0 = uniform({k.o, k.c, k.kh, k.kw}, seed);
  at::Tensor mask = conv_mask(k.o, k.c, k.kh, k.kw, k.sparsity, seed + 1);
  at::Tensor x0 = uniform({k.n, k.c, k.h, k.w}, seed + 2);
  at::Tensor b0 = k.bias ? uniform({k.o}, seed + 3) : at::Tensor();
  const auto out = gk::conv_output_size(k.h, k.w, k.kh, k.kw, g);
  at::Tensor r = uniform({k.n, k.o, out[0], out[1]}, seed + 4);
  const Ref ref = dense_reference(x0, w0, mask, b0, r, g);

  // Dense-gradient convention (what the module uses).
  auto sw = std::make_shared<const gk::SparseConvWeight>(gk::sparse_conv_weight(w0, mask));
  ASSERT_EQ(sw->nnz(), mask.sum().item<int64_t>());
  at::Tensor x = x0.clone().requires_grad_(true);
  at::Tensor w = w0.clone().requires_grad_(true);
  at::Tensor b = k.bias ? b0.clone().requires_grad_(true) : at::Tensor();
  at::Tensor y = gk::sparse_conv2d_dense_grad(x, w, sw, b, g);
  ASSERT_EQ(y.sizes(), ref.y.sizes());
  EXPECT_LE(rel_err(y, ref.y), kTol);
  (y * r).sum().backward();
  EXPECT_LE(rel_err(x.grad(), ref.dx), kTol);
  EXPECT_LE(rel_err(w.grad(), ref.dw), kTol);
  EXPECT_TRUE(at::equal(w.grad().ne(0).logical_and(mask.logical_not()), at::zeros_like(mask)))
      << "weight gradient must be zero off the mask";
  if (k.bias) {
    EXPECT_LE(rel_err(b.grad(), ref.db), kTol);
  }

  // Values-aligned convention.
  auto sv = std::make_shared<gk::SparseConvWeight>(gk::sparse_conv_weight(w0, mask));
  sv->csr.values.requires_grad_(true);
  at::Tensor x2 = x0.clone().requires_grad_(true);
  at::Tensor y2 = gk::sparse_conv2d(x2, std::shared_ptr<const gk::SparseConvWeight>(sv), b0, g);
  (y2 * r).sum().backward();
  EXPECT_LE(rel_err(y2, ref.y), kTol);
  EXPECT_LE(rel_err(x2.grad(), ref.dx), kTol);
  ASSERT_TRUE(sv->csr.values.grad().defined());
  EXPECT_LE(rel_err(gk::sparse_conv_scatter_to_dense(*sv, sv->csr.values.grad()), ref.dw), kTol);

  // Both algorithms through the product functions (the autograd path above used kAuto).
  const bool direct_ok = k.stride[0] == 1 && k.stride[1] == 1 && k.padding[0] <= (k.kh - 1) * k.dilation[0] &&
                         k.padding[1] <= (k.kw - 1) * k.dilation[1];
  for (auto algo : {gk::ConvAlgorithm::kIm2col, gk::ConvAlgorithm::kDirect}) {
    const bool direct = algo == gk::ConvAlgorithm::kDirect;
    SCOPED_TRACE(direct ? "direct" : "im2col");
    if (direct && !direct_ok) {
      EXPECT_THROW(gk::sparse_conv2d_forward(x0, *sw, b0, g, algo), std::invalid_argument);
      continue;
    }
    EXPECT_LE(rel_err(gk::sparse_conv2d_forward(x0, *sw, b0, g, algo), ref.y), kTol);
    const gk::SparseConvGrads gr = gk::sparse_conv2d_backward(r, x0, {k.h, k.w}, *sw, g, true, true, algo);
    EXPECT_LE(rel_err(gr.input, ref.dx), kTol);
    EXPECT_LE(rel_err(gk::sparse_conv_scatter_to_dense(*sw, gr.values), ref.dw), kTol);
  }
}

std::vector<Case> cases() {
  std::vector<Case> v;
  v.push_back({"1x1", 3, 5, 7, 9, 4, 1, 1, {1, 1}, {0, 0}, {1, 1}, 0.5});
  v.push_back({"1x1 stride 2 pad 1", 2, 6, 9, 8, 5, 1, 1, {2, 2}, {1, 1}, {1, 1}, 0.3});
  v.push_back({"3x3 pad 1 odd", 2, 3, 11, 13, 6, 3, 3, {1, 1}, {1, 1}, {1, 1}, 0.7});
  v.push_back({"3x3 no pad", 4, 4, 10, 7, 8, 3, 3, {1, 1}, {0, 0}, {1, 1}, 0.9});
  v.push_back({"5x5 pad 2", 2, 2, 9, 8, 5, 5, 5, {1, 1}, {2, 2}, {1, 1}, 0.8});
  v.push_back({"5x5 lenet conv2", 3, 6, 14, 14, 16, 5, 5, {1, 1}, {0, 0}, {1, 1}, 0.9});
  v.push_back({"3x3 stride 2 pad 1", 3, 4, 15, 10, 7, 3, 3, {2, 2}, {1, 1}, {1, 1}, 0.6});
  v.push_back({"5x5 stride (2,3) pad (0,1)", 2, 3, 9, 11, 3, 5, 5, {2, 3}, {0, 1}, {1, 1}, 0.5});
  v.push_back({"3x3 dilation 2", 2, 3, 12, 12, 4, 3, 3, {1, 1}, {2, 2}, {2, 2}, 0.6});
  v.push_back({"3x2 kernel pad (1,0)", 3, 2, 6, 5, 3, 3, 2, {1, 1}, {1, 0}, {1, 1}, 0.4});
  v.push_back({"single output channel", 3, 5, 8, 8, 1, 3, 3, {1, 1}, {1, 1}, {1, 1}, 0.5});
  v.push_back({"0% sparsity", 2, 3, 10, 10, 4, 3, 3, {1, 1}, {1, 1}, {1, 1}, 0.0});
  v.push_back({"98% sparsity", 4, 16, 12, 12, 16, 3, 3, {1, 1}, {1, 1}, {1, 1}, 0.98});
  v.push_back({"no bias", 2, 3, 7, 7, 4, 3, 3, {1, 1}, {1, 1}, {1, 1}, 0.5, false});
  // Many panels per image (400 positions) with a partial last one; whole images per thread.
  v.push_back({"20x20 batch 6", 6, 8, 20, 20, 12, 3, 3, {1, 1}, {1, 1}, {1, 1}, 0.8});
  // Batch 1 with enough work to split rows, columns and channels between threads.
  v.push_back({"batch 1 resnet", 1, 16, 16, 16, 16, 3, 3, {1, 1}, {1, 1}, {1, 1}, 0.5});
  v.push_back({"batch 1 odd", 1, 7, 13, 11, 9, 5, 5, {1, 1}, {2, 2}, {1, 1}, 0.7});
  v.push_back({"kernel covers the input", 2, 3, 5, 5, 4, 5, 5, {1, 1}, {0, 0}, {1, 1}, 0.5});
  return v;
}

TEST(SparseConv, MatchesDenseConvOnAllShapes) {
  uint64_t seed = 100;
  for (const Case& k : cases()) check_case(k, seed += 10);
}

TEST(SparseConv, RandomShapes) {
  at::Tensor pick = at::empty({40, 12}, at::kFloat);
  pick.uniform_(0.0, 1.0, gen(7));
  auto a = pick.accessor<float, 2>();
  const int64_t kernels[3] = {1, 3, 5};
  for (int64_t i = 0; i < 40; ++i) {
    Case k;
    k.kh = kernels[static_cast<int>(a[i][0] * 3)];
    k.kw = a[i][1] < 0.7 ? k.kh : kernels[static_cast<int>(a[i][1] * 3)];
    k.n = 1 + static_cast<int64_t>(a[i][2] * 5);
    k.c = 1 + static_cast<int64_t>(a[i][3] * 9);
    k.o = 1 + static_cast<int64_t>(a[i][4] * 12);
    k.stride = {1 + static_cast<int64_t>(a[i][5] * 2), 1 + static_cast<int64_t>(a[i][5] * 2)};
    k.padding = {static_cast<int64_t>(a[i][6] * (k.kh / 2 + 1)), static_cast<int64_t>(a[i][6] * (k.kw / 2 + 1))};
    k.dilation = {a[i][7] < 0.8 ? 1 : 2, a[i][7] < 0.8 ? 1 : 2};
    k.h = (k.kh - 1) * k.dilation[0] + 1 + static_cast<int64_t>(a[i][8] * 14);
    k.w = (k.kw - 1) * k.dilation[1] + 1 + static_cast<int64_t>(a[i][9] * 14);
    k.sparsity = a[i][10] < 0.1 ? 0.0 : a[i][10];
    k.bias = a[i][11] < 0.7;
    k.name = "random " + std::to_string(i) + ": n" + std::to_string(k.n) + " c" + std::to_string(k.c) + " " +
             std::to_string(k.h) + "x" + std::to_string(k.w) + " o" + std::to_string(k.o) + " k" +
             std::to_string(k.kh) + "x" + std::to_string(k.kw) + " s" + std::to_string(k.stride[0]) + " p" +
             std::to_string(k.padding[0]) + "," + std::to_string(k.padding[1]) + " d" +
             std::to_string(k.dilation[0]) + " sp" + std::to_string(k.sparsity);
    check_case(k, 1000 + 10 * static_cast<uint64_t>(i));
  }
}

TEST(SparseConv, EmptyRowsAndColumns) {
  // Output channels 0 and 3 have no non-zeros, input channel 1 is never used.
  const Case k{"empty rows", 3, 4, 9, 9, 5, 3, 3, {1, 1}, {1, 1}, {1, 1}, 0.4};
  const gk::ConvGeometry g = geometry_of(k);
  at::Tensor w0 = uniform({5, 4, 3, 3}, 1), x0 = uniform({3, 4, 9, 9}, 2), b0 = uniform({5}, 3),
             r = uniform({3, 5, 9, 9}, 4);
  at::Tensor mask = conv_mask(5, 4, 3, 3, 0.4, 5);
  mask[0].fill_(false);
  mask[3].fill_(false);
  mask.select(1, 1).fill_(false);
  const Ref ref = dense_reference(x0, w0, mask, b0, r, g);
  auto sw = std::make_shared<const gk::SparseConvWeight>(gk::sparse_conv_weight(w0, mask));
  // Only the columns with a non-zero are unfolded: at most 3 used input channels x 9 taps.
  EXPECT_EQ(sw->k_used(), mask.reshape({5, -1}).any(0).sum().item<int64_t>());
  EXPECT_LE(sw->k_used(), 27);
  at::Tensor x = x0.clone().requires_grad_(true), w = w0.clone().requires_grad_(true);
  at::Tensor b = b0.clone().requires_grad_(true);
  at::Tensor y = gk::sparse_conv2d_dense_grad(x, w, sw, b, g);
  (y * r).sum().backward();
  EXPECT_LE(rel_err(y, ref.y), kTol);
  EXPECT_LE(rel_err(y[0][0], at::full({9, 9}, b0[0].item<float>())), kTol) << "an empty row outputs its bias";
  EXPECT_LE(rel_err(x.grad(), ref.dx), kTol);
  EXPECT_EQ(x.grad().select(1, 1).abs().max().item<float>(), 0.0f) << "unused input channel";
  EXPECT_LE(rel_err(w.grad(), ref.dw), kTol);
  EXPECT_LE(rel_err(b.grad(), ref.db), kTol);
}

TEST(SparseConv, AllZeroWeightAndFullySparseMask) {
  const gk::ConvGeometry g = geometry_of({"", 0, 0, 0, 0, 0, 0, 0, {1, 1}, {1, 1}, {1, 1}});
  at::Tensor x0 = uniform({2, 3, 6, 7}, 1), b0 = uniform({4}, 2), r = uniform({2, 4, 6, 7}, 3);
  at::Tensor w_zero = at::zeros({4, 3, 3, 3});
  // (a) all-zero weight, no mask: every entry dropped, y = bias, no gradient reaches x.
  // (b) 100% sparsity: an all-false mask over a random weight.
  // (c) all-zero weight under a full mask: explicit zeros kept, the weight gradient is dense.
  struct Sub {
    const char* name;
    at::Tensor w, mask;
  };
  const Sub subs[3] = {{"zero weight", w_zero, at::ones({4, 3, 3, 3}, at::kBool)},
                       {"100% sparsity", uniform({4, 3, 3, 3}, 4), at::zeros({4, 3, 3, 3}, at::kBool)},
                       {"zero weight, full mask", w_zero, at::ones({4, 3, 3, 3}, at::kBool)}};
  for (int s = 0; s < 3; ++s) {
    SCOPED_TRACE(subs[s].name);
    const Ref ref = dense_reference(x0, subs[s].w, subs[s].mask, b0, r, g);
    auto sw = std::make_shared<const gk::SparseConvWeight>(
        s == 0 ? gk::sparse_conv_weight(subs[s].w) : gk::sparse_conv_weight(subs[s].w, subs[s].mask));
    EXPECT_EQ(sw->nnz(), s == 2 ? 108 : 0);
    at::Tensor x = x0.clone().requires_grad_(true), w = subs[s].w.clone().requires_grad_(true);
    at::Tensor b = b0.clone().requires_grad_(true);
    at::Tensor y = gk::sparse_conv2d_dense_grad(x, w, sw, b, g);
    (y * r).sum().backward();
    EXPECT_LE(rel_err(y, ref.y), kTol);
    EXPECT_LE(rel_err(y, b0.view({1, 4, 1, 1}).expand({2, 4, 6, 7})), kTol) << "only the bias is left";
    EXPECT_LE(rel_err(x.grad(), ref.dx), kTol);
    EXPECT_EQ(x.grad().abs().max().item<float>(), 0.0f);
    // With s == 0 the gradient is zero (no pattern); with s == 2 it is the full dense gradient.
    const at::Tensor dw_expected = s == 0 ? at::zeros_like(ref.dw) : ref.dw;
    EXPECT_LE(rel_err(w.grad(), dw_expected), kTol);
    if (s == 2) {
      EXPECT_GT(w.grad().abs().max().item<float>(), 0.1f);
    }
    EXPECT_LE(rel_err(b.grad(), ref.db), kTol);
  }
}

TEST(SparseConv, ThreadCountAndLayoutDoNotChangeResults) {
  const int saved = at::get_num_threads();
  const gk::ConvGeometry g = geometry_of({"", 0, 0, 0, 0, 0, 0, 0, {1, 1}, {1, 1}, {1, 1}});
  at::Tensor w0 = uniform({12, 8, 3, 3}, 1), mask = conv_mask(12, 8, 3, 3, 0.7, 2);
  const gk::SparseConvWeight sw = gk::sparse_conv_weight(w0, mask);
  for (int64_t n : {1, 3, 8}) {
    at::Tensor x = uniform({n, 8, 17, 19}, 3), gy = uniform({n, 12, 17, 19}, 4);
    std::vector<at::Tensor> results;
    for (auto algo : {gk::ConvAlgorithm::kDirect, gk::ConvAlgorithm::kIm2col}) {
      for (int threads : {1, 2, 3}) {
        at::set_num_threads(threads);
        at::Tensor y = gk::sparse_conv2d_forward(x, sw, at::Tensor(), g, algo);
        auto grads = gk::sparse_conv2d_backward(gy, x, {17, 19}, sw, g, true, true, algo);
        results.insert(results.end(), {y, grads.input, grads.values});
      }
    }
    at::set_num_threads(saved);
    for (int t = 1; t < 6; ++t) {
      const std::string what = ", n " + std::to_string(n) + ", run " + std::to_string(t);
      // Per algorithm the forward does the same sums in the same order whatever the split.
      const int first = (t / 3) * 3;  // the 1-thread run of the same algorithm
      if (t != first) {
        EXPECT_TRUE(at::equal(results[3 * first], results[3 * t])) << "forward" << what;
      }
      EXPECT_LE(rel_err(results[0], results[3 * t]), 1e-6) << "forward" << what;
      // Gradients: same sums, the order may change with the split (and between algorithms).
      EXPECT_LE(rel_err(results[1], results[3 * t + 1]), 1e-6) << "input grad" << what;
      EXPECT_LE(rel_err(results[2], results[3 * t + 2]), 1e-6) << "weight grad" << what;
    }
    // Channels-last and sliced inputs give the same result as contiguous ones.
    at::Tensor y_cl = gk::sparse_conv2d_forward(x.contiguous(at::MemoryFormat::ChannelsLast), sw, at::Tensor(), g);
    EXPECT_TRUE(at::equal(y_cl, results[0]));
    at::Tensor wide = at::zeros({n, 8, 17, 40});
    wide.narrow(3, 5, 19).copy_(x);
    EXPECT_TRUE(at::equal(gk::sparse_conv2d_forward(wide.narrow(3, 5, 19), sw, at::Tensor(), g), results[0]));
  }
}

TEST(SparseConv, OnlyOneGradientAndNoGradMode) {
  const gk::ConvGeometry g = geometry_of({"", 0, 0, 0, 0, 0, 0, 0, {2, 2}, {1, 1}, {1, 1}});
  at::Tensor w0 = uniform({6, 4, 3, 3}, 1), mask = conv_mask(6, 4, 3, 3, 0.5, 2);
  at::Tensor x0 = uniform({3, 4, 11, 10}, 3), r = uniform({3, 6, 6, 5}, 4);
  const Ref ref = dense_reference(x0, w0, mask, at::Tensor(), r, g);
  auto sw = std::make_shared<const gk::SparseConvWeight>(gk::sparse_conv_weight(w0, mask));
  // Input gradient only (a frozen weight).
  at::Tensor x = x0.clone().requires_grad_(true);
  (gk::sparse_conv2d_dense_grad(x, w0, sw, at::Tensor(), g) * r).sum().backward();
  EXPECT_LE(rel_err(x.grad(), ref.dx), kTol);
  // Weight gradient only (the first layer of a network).
  at::Tensor w = w0.clone().requires_grad_(true);
  (gk::sparse_conv2d_dense_grad(x0, w, sw, at::Tensor(), g) * r).sum().backward();
  EXPECT_LE(rel_err(w.grad(), ref.dw), kTol);
  {
    at::NoGradGuard no_grad;
    EXPECT_FALSE(gk::sparse_conv2d_dense_grad(x, w, sw, at::Tensor(), g).requires_grad());
  }
  // The direct product functions, one gradient at a time.
  auto only_dx = gk::sparse_conv2d_backward(r, at::Tensor(), {11, 10}, *sw, g, true, false);
  EXPECT_FALSE(only_dx.values.defined());
  EXPECT_LE(rel_err(only_dx.input, ref.dx), kTol);
  auto only_dw = gk::sparse_conv2d_backward(r, x0, {11, 10}, *sw, g, false, true);
  EXPECT_FALSE(only_dw.input.defined());
  EXPECT_LE(rel_err(gk::sparse_conv_scatter_to_dense(*sw, only_dw.values), ref.dw), kTol);
}

TEST(SparseConv, InPlaceChangeOfTheInputBeforeBackwardIsAnError) {
  auto sw = std::make_shared<const gk::SparseConvWeight>(
      gk::sparse_conv_weight(uniform({3, 2, 3, 3}, 1), conv_mask(3, 2, 3, 3, 0.5, 2)));
  at::Tensor w = gk::sparse_conv_scatter_to_dense(*sw, sw->csr.values).requires_grad_(true);
  at::Tensor x = uniform({2, 2, 6, 6}, 3);
  at::Tensor y = gk::sparse_conv2d_dense_grad(x, w, sw);
  x.add_(1.0);
  EXPECT_THROW(y.sum().backward(), c10::Error);
}

TEST(SparseConv, ClearErrors) {
  at::Tensor w = uniform({4, 3, 3, 3}, 1);
  auto expect_message = [](const std::function<void()>& f, const std::string& part) {
    try {
      f();
      ADD_FAILURE() << "no exception, expected one mentioning " << part;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  expect_message([&] { gk::sparse_conv_weight(w, at::ones({4, 3, 3})); }, "must have the weight's shape");
  expect_message([&] { gk::sparse_conv_weight(at::ones({4, 27})); }, "[out, in, kh, kw]");
  const gk::SparseConvWeight sw = gk::sparse_conv_weight(w);
  expect_message([&] { gk::sparse_conv2d_forward(uniform({2, 5, 8, 8}, 2), sw, {}, {}); }, "[n, 3, h, w]");
  expect_message([&] { gk::sparse_conv2d_forward(uniform({2, 3, 2, 8}, 2), sw, {}, {}); }, "smaller than the dilated kernel");
  gk::ConvGeometry bad;
  bad.stride = {0, 1};
  expect_message([&] { gk::sparse_conv2d_forward(uniform({2, 3, 8, 8}, 2), sw, {}, bad); }, "stride >= 1");
  expect_message([&] { gk::sparse_conv2d_forward(uniform({2, 3, 8, 8}, 2), sw, at::zeros({5}), {}); }, "bias");
  expect_message([&] { gk::sparse_conv2d_backward(uniform({2, 4, 5, 5}, 3), at::Tensor(), {8, 8}, sw, {}, true, false); },
                 "must be [n, 4, 6, 6]");
}

// ---- the module -------------------------------------------------------------------------------

TEST(SparseConv2dModule, AllModesMatchTheDenseMaskedLayer) {
  const gk::ConvGeometry g = geometry_of({"", 0, 0, 0, 0, 0, 0, 0, {1, 1}, {1, 1}, {1, 1}});
  at::Tensor mask = conv_mask(8, 6, 3, 3, 0.9, 1);
  at::Tensor x0 = uniform({4, 6, 12, 12}, 2), r = uniform({4, 8, 12, 12}, 3);
  for (auto mode : {gk::SparseConv2dMode::kDense, gk::SparseConv2dMode::kSparse, gk::SparseConv2dMode::kAuto}) {
    torch::manual_seed(5);
    gk::SparseConv2d layer(gk::SparseConv2dOptions(6, 8, 3).padding(1).mode(mode));
    layer->set_mask(mask);
    const Ref ref = dense_reference(x0, layer->weight, mask, layer->bias, r, g);
    at::Tensor x = x0.clone().requires_grad_(true);
    at::Tensor y = layer->forward(x);
    if (mode != gk::SparseConv2dMode::kAuto) {
      EXPECT_EQ(layer->last_used_sparse(), mode == gk::SparseConv2dMode::kSparse);
    }
    (y * r).sum().backward();
    EXPECT_LE(rel_err(y, ref.y), kTol);
    EXPECT_LE(rel_err(x.grad(), ref.dx), kTol);
    EXPECT_LE(rel_err(layer->weight.grad(), ref.dw), kTol);
    EXPECT_LE(rel_err(layer->bias.grad(), ref.db), kTol);
  }
}

TEST(SparseConv2dModule, FromConv2dAndFromDenseWeight) {
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(5, 7, {3, 5}).stride({2, 1}).padding({1, 2}).dilation({1, 2}));
  at::Tensor mask = conv_mask(7, 5, 3, 5, 0.75, 1);
  gk::SparseConv2d layer(conv, mask, gk::SparseConv2dMode::kSparse);
  at::Tensor x = uniform({3, 5, 13, 14}, 2);
  at::Tensor ref;
  {
    at::NoGradGuard no_grad;
    ref = at::conv2d(x.to(at::kDouble), (conv->weight * mask).to(at::kDouble), conv->bias.to(at::kDouble), {2, 1},
                     {1, 2}, {1, 2}, 1);
  }
  EXPECT_LE(rel_err(layer->forward(x), ref), kTol);
  EXPECT_TRUE(layer->last_used_sparse());
  // From a dense weight and bias: the options' channels and kernel come from the weight.
  gk::SparseConv2d from_w(conv->weight.detach(), mask, conv->bias.detach(),
                          gk::SparseConv2dOptions(1, 1, 1).stride({2, 1}).padding({1, 2}).dilation({1, 2}).mode(
                              gk::SparseConv2dMode::kSparse));
  EXPECT_EQ(from_w->options_.in_channels(), 5);
  EXPECT_LE(rel_err(from_w->forward(x), ref), kTol);
  // The copy is independent of the Conv2d.
  {
    at::NoGradGuard no_grad;
    conv->weight.add_(1.0);
  }
  EXPECT_LE(rel_err(from_w->forward(x), ref), kTol);
  // Unsupported Conv2d configurations fail loudly.
  EXPECT_THROW(gk::SparseConv2d(torch::nn::Conv2d(torch::nn::Conv2dOptions(4, 4, 3).groups(2)), at::ones({4, 2, 3, 3})),
               std::invalid_argument);
  EXPECT_THROW(gk::SparseConv2d(torch::nn::Conv2d(torch::nn::Conv2dOptions(4, 4, 3).padding(torch::kSame)),
                                at::ones({4, 4, 3, 3})),
               std::invalid_argument);
  EXPECT_THROW(gk::SparseConv2d(torch::nn::Conv2d(torch::nn::Conv2dOptions(4, 4, 3).padding(1).padding_mode(
                                    torch::kReflect)),
                                at::ones({4, 4, 3, 3})),
               std::invalid_argument);
  EXPECT_THROW(gk::SparseConv2d(conv, at::ones({7, 5, 3, 3})), std::invalid_argument);
}

TEST(SparseConv2dModule, FollowsWeightAndMaskChanges) {
  gk::SparseConv2d layer(gk::SparseConv2dOptions(4, 6, 3).padding(1).mode(gk::SparseConv2dMode::kSparse));
  layer->set_mask(conv_mask(6, 4, 3, 3, 0.7, 1));
  at::Tensor x = uniform({2, 4, 9, 9}, 2);
  auto expect_dense_equal = [&] {
    at::NoGradGuard g;
    at::Tensor ref = at::conv2d(x, layer->weight * layer->mask(), layer->bias, {1, 1}, {1, 1});
    EXPECT_LE(rel_err(layer->forward(x), ref), kTol);
  };
  expect_dense_equal();
  {
    at::NoGradGuard g;
    layer->weight.add_(1.0);  // an optimizer step: in place, version bump
  }
  expect_dense_equal();
  layer->mask()[0].fill_(true);  // in-place mask edit
  expect_dense_equal();
  EXPECT_EQ(layer->sparse_weight()->nnz(), layer->mask().sum().item<int64_t>());
  // An optimizer step between forward and backward must not change the saved weight.
  at::Tensor xg = x.clone().requires_grad_(true);
  at::Tensor y = layer->forward(xg);
  const at::Tensor w_before = (layer->weight * layer->mask()).detach().clone();
  {
    at::NoGradGuard g;
    layer->weight.add_(3.0);
  }
  layer->forward(x);  // refreshes the sparse values
  y.sum().backward();
  at::Tensor xr = x.clone().requires_grad_(true);
  at::conv2d(xr, w_before, {}, {1, 1}, {1, 1}).sum().backward();
  EXPECT_LE(rel_err(xg.grad(), xr.grad()), kTol);
  EXPECT_THROW(layer->set_mask(at::ones({6, 4, 3})), std::invalid_argument);
  EXPECT_THROW(layer->forward(uniform({2, 5, 9, 9}, 3)), std::invalid_argument);
}

TEST(SparseConv2dModule, AutoChoiceIsMeasuredAndNeverMuchSlower) {
  gk::SparseConv2d layer(gk::SparseConv2dOptions(16, 16, 3).padding(1));
  layer->set_mask(conv_mask(16, 16, 3, 3, 0.95, 1));
  at::Tensor x = uniform({8, 16, 16, 16}, 2);
  {
    at::NoGradGuard g;
    layer->forward(x);
  }
  const auto [dense_s, sparse_s] = layer->measured(8, 16, 16, false, false);
  EXPECT_GT(dense_s, 0.0);
  EXPECT_GT(sparse_s, 0.0);
  if (layer->last_used_sparse()) {
    EXPECT_LE(sparse_s, dense_s * 1.05);
  } else {
    EXPECT_GT(sparse_s, dense_s);
  }
  // Training is measured separately, with and without an input gradient, and per input size.
  layer->forward(x).sum().backward();
  EXPECT_GT(layer->measured(8, 16, 16, true, false).first, 0.0);
  EXPECT_EQ(layer->measured(8, 16, 16, true, true).first, 0.0);
  layer->forward(x.clone().requires_grad_(true)).sum().backward();
  EXPECT_GT(layer->measured(8, 16, 16, true, true).first, 0.0);
  EXPECT_EQ(layer->measured(8, 12, 16, false, false).first, 0.0);
  layer->set_mask(at::ones({16, 16, 3, 3}));
  EXPECT_EQ(layer->measured(8, 16, 16, false, false).first, 0.0) << "a new mask must be measured again";
}

}  // namespace
