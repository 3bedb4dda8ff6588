// sparse_linear autograd and the SparseLinear module against the dense masked layer.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <torch/torch.h>

#include <memory>
#include <stdexcept>

#include "gossamer/kernels/sparse_linear.h"
#include "gossamer/kernels/sparse_linear_module.h"
#include "kernel_test_util.h"

namespace gk = gossamer::kernels;
using gk::testing::random_mask;
using gk::testing::random_nm_mask;
using gk::testing::kTol;
using gk::testing::rel_err;
using gk::testing::uniform;

namespace {


struct DenseGrads {
  at::Tensor y, dx, dw, db;
};

// The masked dense layer y = x (w ⊙ mask)ᵀ + b with loss sum(y ⊙ r), through LibTorch autograd.
DenseGrads dense_masked(const at::Tensor& x0, const at::Tensor& w0, const at::Tensor& mask,
                        const at::Tensor& b0, const at::Tensor& r) {
  at::Tensor x = x0.detach().clone().requires_grad_(true);
  at::Tensor w = w0.detach().clone().requires_grad_(true);
  at::Tensor b = b0.detach().clone().requires_grad_(true);
  at::Tensor y = at::linear(x, w * mask, b);
  (y * r).sum().backward();
  return {y.detach(), x.grad(), w.grad(), b.grad()};
}

TEST(SparseLinearFunction, ValuesGradientMatchesDense) {
  const int64_t out = 45, in = 70, batch = 33;
  at::Tensor mask = random_mask(out, in, 0.8, 1);
  mask[4].fill_(false);
  at::Tensor w = uniform({out, in}, 2), x0 = uniform({batch, in}, 3), b0 = uniform({out}, 4), r = uniform({batch, out}, 5);
  const DenseGrads ref = dense_masked(x0, w, mask, b0, r);

  auto csr = std::make_shared<gk::CsrWeight>(gk::csr_from_dense(w, mask));
  csr->values.requires_grad_(true);
  at::Tensor x = x0.clone().requires_grad_(true), b = b0.clone().requires_grad_(true);
  at::Tensor y = gk::sparse_linear(x, std::shared_ptr<const gk::CsrWeight>(csr), b);
  EXPECT_LE(rel_err(y, ref.y), kTol);
  (y * r).sum().backward();
  EXPECT_LE(rel_err(x.grad(), ref.dx), kTol);
  EXPECT_LE(rel_err(b.grad(), ref.db), kTol);
  ASSERT_EQ(csr->values.grad().numel(), csr->nnz());
  EXPECT_LE(rel_err(gk::csr_scatter_to_dense(*csr, csr->values.grad()), ref.dw), kTol);
}

TEST(SparseLinearFunction, DenseGradientMatchesDenseForCsrAndNm) {
  const int64_t out = 20, in = 30, batch = 17;
  at::Tensor w0 = uniform({out, in}, 6), x0 = uniform({batch, in}, 7), b0 = uniform({out}, 8), r = uniform({batch, out}, 9);
  for (int fmt = 0; fmt < 2; ++fmt) {
    at::Tensor mask = fmt == 0 ? random_mask(out, in, 0.9, 10) : random_nm_mask(out, in, 2, 4, 11);
    const DenseGrads ref = dense_masked(x0, w0, mask, b0, r);
    at::Tensor w = w0.clone().requires_grad_(true), x = x0.clone().requires_grad_(true), b = b0.clone().requires_grad_(true);
    at::Tensor y = fmt == 0
                       ? gk::sparse_linear_dense_grad(x, w, std::make_shared<const gk::CsrWeight>(gk::csr_from_dense(w0, mask)), b)
                       : gk::sparse_linear_dense_grad(x, w, std::make_shared<const gk::NmWeight>(gk::nm_from_dense(w0, mask, 2, 4)), b);
    (y * r).sum().backward();
    EXPECT_LE(rel_err(y, ref.y), kTol) << fmt;
    EXPECT_LE(rel_err(x.grad(), ref.dx), kTol) << fmt;
    EXPECT_LE(rel_err(w.grad(), ref.dw), kTol) << fmt;
    EXPECT_TRUE(at::equal(w.grad().ne(0).logical_and(mask.logical_not()), at::zeros_like(mask))) << "zeros off the mask";
    EXPECT_LE(rel_err(b.grad(), ref.db), kTol) << fmt;
  }
}

TEST(SparseLinearFunction, NmValuesGradientAndNoBias) {
  at::Tensor mask = random_nm_mask(12, 19, 1, 4, 12);
  at::Tensor w = uniform({12, 19}, 13), x0 = uniform({5, 19}, 14), r = uniform({5, 12}, 15);
  auto nm = std::make_shared<gk::NmWeight>(gk::nm_from_dense(w, mask, 1, 4));
  nm->values.requires_grad_(true);
  at::Tensor x = x0.clone().requires_grad_(true);
  at::Tensor y = gk::sparse_linear(x, std::shared_ptr<const gk::NmWeight>(nm));
  (y * r).sum().backward();
  const DenseGrads ref = dense_masked(x0, w, mask, at::zeros({12}), r);
  EXPECT_LE(rel_err(y, ref.y), kTol);
  EXPECT_LE(rel_err(x.grad(), ref.dx), kTol);
  EXPECT_LE(rel_err(gk::nm_scatter_to_dense(*nm, nm->values.grad()), ref.dw), kTol);
}

TEST(SparseLinearFunction, OnlyInputGradientAndNoGradMode) {
  at::Tensor mask = random_mask(8, 9, 0.5, 16);
  auto csr = std::make_shared<const gk::CsrWeight>(gk::csr_from_dense(uniform({8, 9}, 17), mask));
  at::Tensor x = uniform({4, 9}, 18).requires_grad_(true);
  at::Tensor y = gk::sparse_linear(x, csr);
  y.sum().backward();
  EXPECT_LE(rel_err(x.grad(), at::ones({4, 8}).matmul(gk::csr_to_dense(*csr))), kTol);
  {
    at::NoGradGuard g;
    EXPECT_FALSE(gk::sparse_linear(x, csr).requires_grad());
  }
  EXPECT_THROW(gk::sparse_linear(uniform({4, 10}, 1), csr), std::invalid_argument);
  EXPECT_THROW(gk::sparse_linear(x, csr, at::zeros({7})), std::invalid_argument);
}

TEST(SparseLinearModule, BothPathsMatchTheDenseMaskedLayer) {
  const int64_t in = 64, out = 48, batch = 24;
  at::Tensor mask = random_mask(out, in, 0.9, 20);
  at::Tensor x0 = uniform({batch, in}, 21), r = uniform({batch, out}, 22);
  for (auto mode : {gk::SparseLinearMode::kDense, gk::SparseLinearMode::kSparse, gk::SparseLinearMode::kAuto}) {
    torch::manual_seed(5);
    gk::SparseLinear layer(gk::SparseLinearOptions(in, out).mode(mode));
    layer->set_mask(mask);
    const DenseGrads ref = dense_masked(x0, layer->weight, mask, layer->bias, r);
    at::Tensor x = x0.clone().requires_grad_(true);
    at::Tensor y = layer->forward(x);
    if (mode != gk::SparseLinearMode::kAuto) {
      EXPECT_EQ(layer->last_used_sparse(), mode == gk::SparseLinearMode::kSparse);
    }
    (y * r).sum().backward();
    EXPECT_LE(rel_err(y, ref.y), kTol);
    EXPECT_LE(rel_err(x.grad(), ref.dx), kTol);
    EXPECT_LE(rel_err(layer->weight.grad(), ref.dw), kTol);
    EXPECT_LE(rel_err(layer->bias.grad(), ref.db), kTol);
  }
}

TEST(SparseLinearModule, FollowsWeightAndMaskChanges) {
  gk::SparseLinear layer(gk::SparseLinearOptions(30, 10).mode(gk::SparseLinearMode::kSparse));
  at::Tensor mask = random_mask(10, 30, 0.7, 30);
  layer->set_mask(mask);
  at::Tensor x = uniform({6, 30}, 31);
  auto expect_dense_equal = [&] {
    at::NoGradGuard g;
    at::Tensor ref = at::linear(x, layer->weight * layer->mask(), layer->bias);
    EXPECT_LE(rel_err(layer->forward(x), ref), kTol);
  };
  expect_dense_equal();
  {
    at::NoGradGuard g;
    layer->weight.add_(1.0);  // an optimizer step: in place, version bump
  }
  expect_dense_equal();
  {
    at::NoGradGuard g;
    layer->weight.mul_(0.5);
  }
  layer->mask()[0].fill_(true);  // in-place mask edit
  expect_dense_equal();
  EXPECT_EQ(layer->csr()->nnz(), layer->mask().sum().item<int64_t>());
  // An optimizer step between forward and backward must not change the saved weight.
  at::Tensor xg = x.clone().requires_grad_(true);
  at::Tensor y = layer->forward(xg);
  const at::Tensor w_before = layer->weight.detach().clone() * layer->mask();
  {
    at::NoGradGuard g;
    layer->weight.add_(3.0);
  }
  layer->forward(x);  // refreshes the CSR values
  y.sum().backward();
  EXPECT_LE(rel_err(xg.grad(), at::ones({6, 10}).matmul(w_before)), kTol);
  EXPECT_THROW(layer->set_mask(at::ones({30, 10})), std::invalid_argument);
}

TEST(SparseLinearModule, AutoChoiceIsMeasuredAndNeverMuchSlower) {
  gk::SparseLinear layer(gk::SparseLinearOptions(256, 256));
  layer->set_mask(random_mask(256, 256, 0.95, 40));
  at::Tensor x = uniform({64, 256}, 41);
  {
    at::NoGradGuard g;
    layer->forward(x);
  }
  const auto [dense_s, sparse_s] = layer->measured(64, false);
  EXPECT_GT(dense_s, 0.0);
  EXPECT_GT(sparse_s, 0.0);
  if (layer->last_used_sparse()) {
    EXPECT_LE(sparse_s, dense_s * 1.05);
  } else {
    EXPECT_GT(sparse_s, dense_s);
  }
  // Training is measured separately.
  layer->forward(x.clone().requires_grad_(true)).sum().backward();
  EXPECT_GT(layer->measured(64, true).first, 0.0);
  layer->set_mask(at::ones({256, 256}));
  EXPECT_EQ(layer->measured(64, false).first, 0.0) << "a new mask must be measured again";
}

}  // namespace
