// Every sparse product against the dense LibTorch result on the masked weight (float64
// reference), relative error max|a-b| / max(1, max|ref|) <= 1e-5.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <ostream>
#include <stdexcept>
#include <string>
#include <tuple>

#include "gossamer/kernels/raw.h"
#include "gossamer/kernels/spmm.h"
#include "kernel_test_util.h"

namespace gk = gossamer::kernels;
using gk::testing::random_mask;
using gk::testing::random_nm_mask;
using gk::testing::kTol;
using gk::testing::rel_err;
using gk::testing::uniform;

namespace {


struct Case {
  int64_t out, in, batch;
  double sparsity;
  bool empty_rows;
};

std::ostream& operator<<(std::ostream& os, const Case& c) {
  return os << c.out << "x" << c.in << " batch " << c.batch << " s=" << c.sparsity
            << (c.empty_rows ? " empty rows" : "");
}

// Dense references in float64 for weight wd (already masked): y, dx, and dW (dense).
struct Ref {
  at::Tensor y, dx, dw;
};

Ref reference(const at::Tensor& x, const at::Tensor& wd, const at::Tensor& bias, const at::Tensor& dy) {
  at::Tensor xd = x.to(at::kDouble), w = wd.to(at::kDouble), g = dy.to(at::kDouble);
  Ref r;
  r.y = at::matmul(xd, w.t());
  if (bias.defined()) r.y = r.y + bias.to(at::kDouble);
  r.dx = at::matmul(g, w);
  r.dw = at::matmul(g.t(), xd);
  return r;
}

class CsrProducts : public ::testing::TestWithParam<Case> {};

TEST_P(CsrProducts, MatchDense) {
  const Case c = GetParam();
  const uint64_t seed = static_cast<uint64_t>(c.out * 1000003 + c.in * 101 + c.batch * 7 + c.sparsity * 100);
  at::Tensor mask = random_mask(c.out, c.in, c.sparsity, seed);
  if (c.empty_rows) mask.slice(0, 0, c.out, 3).fill_(false);
  at::Tensor w = uniform({c.out, c.in}, seed + 1);
  at::Tensor x = uniform({c.batch, c.in}, seed + 2);
  at::Tensor dy = uniform({c.batch, c.out}, seed + 3);
  at::Tensor bias = uniform({c.out}, seed + 4);
  gk::CsrWeight csr = gk::csr_from_dense(w, mask);
  const Ref ref = reference(x, w * mask, bias, dy);

  EXPECT_LE(rel_err(gk::csr_forward(x, csr, bias), ref.y), kTol);
  EXPECT_LE(rel_err(gk::csr_forward(x, csr), ref.y - bias.to(at::kDouble)), kTol);
  EXPECT_LE(rel_err(gk::csr_input_grad(dy, csr), ref.dx), kTol);
  at::Tensor dw = gk::csr_weight_grad(dy, x, csr);
  ASSERT_EQ(dw.numel(), csr.nnz());
  EXPECT_LE(rel_err(gk::csr_scatter_to_dense(csr, dw), ref.dw * mask), kTol);

  // Every panel width the kernels support, not only the one chosen for this shape.
  const int64_t lanes = gk::raw::simd_lanes();
  for (int64_t width : {lanes, 2 * lanes, 4 * lanes}) {
    gk::Panels xp = gk::pack_panels(x, width), gp = gk::pack_panels(dy, width);
    EXPECT_LE(rel_err(gk::csr_forward(xp, csr, bias), ref.y), kTol) << "width " << width;
    EXPECT_LE(rel_err(gk::csr_input_grad(gp, csr), ref.dx), kTol) << "width " << width;
    EXPECT_LE(rel_err(gk::csr_scatter_to_dense(csr, gk::csr_weight_grad(gp, xp, csr)), ref.dw * mask), kTol)
        << "width " << width;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, CsrProducts,
    ::testing::Values(Case{1, 1, 1, 0.0, false}, Case{1, 1, 1, 1.0, false}, Case{3, 7, 5, 0.5, false},
                      Case{17, 33, 40, 0.8, false}, Case{128, 257, 64, 0.9, false},
                      Case{128, 257, 64, 0.0, false}, Case{128, 257, 1, 0.9, false},
                      Case{1, 300, 33, 0.5, false}, Case{300, 1, 33, 0.5, false},
                      Case{64, 100, 17, 0.95, true}, Case{50, 60, 70, 1.0, false},
                      Case{33, 65, 300, 0.7, true}, Case{7, 2000, 20, 0.98, false},
                      Case{300, 100, 256, 0.9, false}, Case{96, 96, 129, 0.5, true}));

class NmProducts : public ::testing::TestWithParam<std::tuple<int64_t, int64_t, int64_t, int64_t>> {};

TEST_P(NmProducts, MatchDense) {
  const auto [n, m, in, batch] = GetParam();
  const int64_t out = 37;
  const uint64_t seed = static_cast<uint64_t>(n * 7919 + m * 131 + in * 17 + batch);
  at::Tensor mask = random_nm_mask(out, in, n, m, seed);
  mask[3].fill_(false);  // an empty row: every slot padding
  at::Tensor w = uniform({out, in}, seed + 1);
  at::Tensor x = uniform({batch, in}, seed + 2);
  at::Tensor dy = uniform({batch, out}, seed + 3);
  at::Tensor bias = uniform({out}, seed + 4);
  gk::NmWeight nm = gk::nm_from_dense(w, mask, n, m);
  const Ref ref = reference(x, w * mask, bias, dy);

  EXPECT_LE(rel_err(gk::nm_forward(x, nm, bias), ref.y), kTol);
  EXPECT_LE(rel_err(gk::nm_input_grad(dy, nm), ref.dx), kTol);
  at::Tensor dw = gk::nm_weight_grad(dy, x, nm);
  EXPECT_LE(rel_err(gk::nm_scatter_to_dense(nm, dw), ref.dw * mask), kTol);
  for (int64_t s : nm.pad_slots) ASSERT_EQ(dw.view(-1)[s].item<float>(), 0.0f);

  const int64_t lanes = gk::raw::simd_lanes();
  for (int64_t width : {lanes, 2 * lanes, 4 * lanes}) {
    gk::Panels xp = gk::pack_panels(x, width), gp = gk::pack_panels(dy, width);
    EXPECT_LE(rel_err(gk::nm_forward(xp, nm, bias), ref.y), kTol) << "width " << width;
    EXPECT_LE(rel_err(gk::nm_input_grad(gp, nm), ref.dx), kTol) << "width " << width;
    EXPECT_LE(rel_err(gk::nm_scatter_to_dense(nm, gk::nm_weight_grad(gp, xp, nm)), ref.dw * mask), kTol)
        << "width " << width;
  }
}

// Every N < M for M in {2, 4, 8}, with inputs divisible by M and not, batch 1 and larger.
INSTANTIATE_TEST_SUITE_P(
    Patterns, NmProducts,
    ::testing::Values(std::make_tuple(1, 2, 64, 16), std::make_tuple(1, 2, 33, 1), std::make_tuple(1, 4, 64, 70),
                      std::make_tuple(2, 4, 64, 64), std::make_tuple(2, 4, 130, 5), std::make_tuple(3, 4, 67, 33),
                      std::make_tuple(1, 8, 64, 9), std::make_tuple(2, 8, 100, 64), std::make_tuple(3, 8, 61, 2),
                      std::make_tuple(4, 8, 256, 128), std::make_tuple(5, 8, 13, 31), std::make_tuple(6, 8, 64, 1),
                      std::make_tuple(7, 8, 71, 40), std::make_tuple(3, 4, 2, 3)));

// The N:M forward kernel blocks k (24 KiB of panel rows per block: 96 groups of 4 for one panel
// of width 16, 24 for four such panels or one of width 64), blocks rows by 256 and takes up to 4 panels per pass. These shapes
// cross every boundary: k not a multiple of the block, a partial last group, more than one row
// block with a partial last one, a single row, rows not a multiple of the register tile, a batch
// not a multiple of the panel width, and 1, 2, 3 and 5 panels (the remainders of the panel
// groups); each at every panel width.
TEST(NmForwardBlocking, MatchesDenseAcrossBlockBoundaries) {
  struct Shape {
    int64_t out, in, batch, n, m;
  };
  const int64_t lanes = gk::raw::simd_lanes();
  for (const Shape& s : {Shape{300, 1001, 67, 2, 4}, Shape{1, 2050, 5 * lanes + 3, 2, 4},
                         Shape{513, 777, 3 * lanes, 1, 4}, Shape{7, 1500, 2 * lanes - 1, 3, 8},
                         Shape{258, 4096, 4 * lanes + 1, 2, 4}, Shape{33, 999, 1, 1, 2}}) {
    const uint64_t seed = static_cast<uint64_t>(s.out * 31 + s.in * 7 + s.batch + s.n * 3 + s.m);
    at::Tensor mask = random_nm_mask(s.out, s.in, s.n, s.m, seed);
    at::Tensor w = uniform({s.out, s.in}, seed + 1);
    at::Tensor x = uniform({s.batch, s.in}, seed + 2);
    at::Tensor bias = uniform({s.out}, seed + 4);
    gk::NmWeight nm = gk::nm_from_dense(w, mask, s.n, s.m);
    at::Tensor ref = at::matmul(x.to(at::kDouble), (w * mask).to(at::kDouble).t()) + bias.to(at::kDouble);
    const std::string what = std::to_string(s.out) + "x" + std::to_string(s.in) + " batch " +
                             std::to_string(s.batch) + " " + std::to_string(s.n) + ":" + std::to_string(s.m);
    EXPECT_LE(rel_err(gk::nm_forward(x, nm, bias), ref), kTol) << what;
    for (int64_t width : {lanes, 2 * lanes, 4 * lanes}) {
      EXPECT_LE(rel_err(gk::nm_forward(gk::pack_panels(x, width), nm, bias), ref), kTol)
          << what << " width " << width;
      EXPECT_LE(rel_err(gk::nm_forward(gk::pack_panels(x, width), nm), ref - bias.to(at::kDouble)), kTol)
          << what << " width " << width << " no bias";
    }
  }
}

TEST(NmForwardBlocking, ThreadCountDoesNotChangeResults) {
  at::Tensor mask = random_nm_mask(600, 2000, 2, 4, 91);
  gk::NmWeight nm = gk::nm_from_dense(uniform({600, 2000}, 92), mask, 2, 4);
  at::Tensor x = uniform({100, 2000}, 93);
  const int saved = at::get_num_threads();
  at::set_num_threads(1);
  at::Tensor y1 = gk::nm_forward(x, nm);
  at::set_num_threads(2);
  EXPECT_TRUE(at::equal(gk::nm_forward(x, nm), y1));
  at::set_num_threads(saved);
}

TEST(Products, ThreadCountDoesNotChangeResults) {
  at::Tensor mask = random_mask(200, 300, 0.9, 77);
  gk::CsrWeight csr = gk::csr_from_dense(uniform({200, 300}, 78), mask);
  at::Tensor x = uniform({128, 300}, 79), dy = uniform({128, 200}, 80);
  const int saved = at::get_num_threads();
  at::set_num_threads(1);
  // 200 rows: the 2-thread split falls inside a 16-row output tile of the forward (with a bias).
  at::Tensor bias = uniform({200}, 81);
  at::Tensor y1 = gk::csr_forward(x, csr), dx1 = gk::csr_input_grad(dy, csr), dw1 = gk::csr_weight_grad(dy, x, csr);
  at::Tensor yb1 = gk::csr_forward(x, csr, bias);
  at::set_num_threads(2);
  // Each output is computed by one thread in a fixed order: bitwise equal whatever the split.
  EXPECT_TRUE(at::equal(gk::csr_forward(x, csr), y1));
  EXPECT_TRUE(at::equal(gk::csr_forward(x, csr, bias), yb1));
  EXPECT_TRUE(at::equal(gk::csr_input_grad(dy, csr), dx1));
  EXPECT_TRUE(at::equal(gk::csr_weight_grad(dy, x, csr), dw1));
  at::set_num_threads(saved);
}

TEST(Products, ZeroBatchAndNonContiguousInput) {
  gk::CsrWeight csr = gk::csr_from_dense(uniform({4, 6}, 1), random_mask(4, 6, 0.5, 2));
  EXPECT_EQ(gk::csr_forward(at::zeros({0, 6}), csr).sizes(), at::IntArrayRef({0, 4}));
  EXPECT_EQ(gk::csr_input_grad(at::zeros({0, 4}), csr).sizes(), at::IntArrayRef({0, 6}));
  EXPECT_TRUE(at::equal(gk::csr_weight_grad(at::zeros({0, 4}), at::zeros({0, 6}), csr), at::zeros({csr.nnz()})));
  at::Tensor xt = uniform({6, 9}, 3).t();  // [9, 6], not contiguous
  EXPECT_LE(rel_err(gk::csr_forward(xt, csr), at::matmul(xt, gk::csr_to_dense(csr).t())), kTol);
}

TEST(Products, ClearErrors) {
  gk::CsrWeight csr = gk::csr_from_dense(uniform({4, 6}, 1));
  try {
    gk::csr_forward(at::zeros({3, 5}), csr);
    FAIL() << "wrong width accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("[batch, 6]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[3, 5]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(gk::csr_forward(at::zeros({3, 6}), csr, at::zeros({5})), std::invalid_argument);
  EXPECT_THROW(gk::csr_input_grad(at::zeros({3, 6}), csr), std::invalid_argument);
  EXPECT_THROW(gk::csr_weight_grad(at::zeros({3, 4}), at::zeros({2, 6}), csr), std::invalid_argument);
  EXPECT_THROW(gk::csr_forward(at::zeros({3, 6}, at::kDouble), csr), std::invalid_argument);
  EXPECT_THROW(gk::pack_panels(at::zeros({3, 6}), 3), std::invalid_argument);
  const int64_t lanes = gk::raw::simd_lanes();
  EXPECT_THROW(gk::csr_weight_grad(gk::pack_panels(at::zeros({3, 4}), lanes),
                                   gk::pack_panels(at::zeros({3, 6}), 2 * lanes), csr),
               std::invalid_argument);
}

}  // namespace
