// WoodFisher: the Woodbury-built block inverse against a dense float64 inverse, and the OBS
// scores and compensation against the exact quadratic model they are derived from.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "gossamer/sparse/woodfisher.h"

namespace gs = gossamer::sparse;

namespace {

at::Generator gen(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

// [rows, cols] float32 standard normal, deterministic.
at::Tensor randn(at::IntArrayRef shape, uint64_t seed) {
  at::Tensor t = at::empty(shape, at::kFloat);
  t.normal_(0.0, 1.0, gen(seed));
  return t;
}

// ‖a − b‖_F / ‖b‖_F in float64.
double rel_fro(const at::Tensor& a, const at::Tensor& b) {
  at::Tensor x = a.to(at::kDouble), y = b.to(at::kDouble);
  return (x - y).norm().item<double>() / y.norm().item<double>();
}

// Block-diagonal Fisher λI + (1/N) Σ g gᵀ in float64 (cross-block entries 0); G is [N, dim].
at::Tensor reference_fisher(const at::Tensor& G, int64_t block, double damping) {
  at::Tensor g = G.to(at::kDouble);
  const int64_t n = g.size(0), dim = g.size(1);
  at::Tensor full = g.t().mm(g).div_(static_cast<double>(n)) + damping * at::eye(dim, at::kDouble);
  at::Tensor out = at::zeros({dim, dim}, at::kDouble);
  for (int64_t s = 0; s < dim; s += block) {
    const int64_t len = std::min(block, dim - s);
    out.narrow(0, s, len).narrow(1, s, len).copy_(full.narrow(0, s, len).narrow(1, s, len));
  }
  return out;
}

// Its inverse, block by block, with the dense float64 solver.
at::Tensor reference_inverse(const at::Tensor& G, int64_t block, double damping) {
  at::Tensor f = reference_fisher(G, block, damping);
  const int64_t dim = f.size(0);
  at::Tensor out = at::zeros_like(f);
  for (int64_t s = 0; s < dim; s += block) {
    const int64_t len = std::min(block, dim - s);
    out.narrow(0, s, len).narrow(1, s, len).copy_(at::linalg_inv(f.narrow(0, s, len).narrow(1, s, len)));
  }
  return out;
}

gs::WoodFisherInverse build(const at::Tensor& G, int64_t block, double damping, at::ScalarType dtype = at::kFloat) {
  gs::WoodFisherOptions opt;
  opt.block_size = block;
  opt.damping = damping;
  opt.dtype = dtype;
  gs::WoodFisherInverse finv(G.size(1), G.size(0), opt);
  for (int64_t n = 0; n < G.size(0); ++n) finv.add_gradient(G[n]);
  return finv;
}

// ½ δᵀ F δ in float64: the loss increase of the quadratic model at w* + δ.
double quad_loss(const at::Tensor& delta, const at::Tensor& F) {
  at::Tensor d = delta.to(at::kDouble).reshape({-1});
  return 0.5 * d.dot(F.mv(d)).item<double>();
}

// Runs fn, expects std::invalid_argument whose message contains every piece.
void expect_invalid(const std::function<void()>& fn, const std::vector<std::string>& pieces) {
  try {
    fn();
    ADD_FAILURE() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    const std::string msg = e.what();
    for (const auto& p : pieces) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}

constexpr int64_t kDim = 37;    // blocks of 8: four full ones and a partial one of 5
constexpr int64_t kBlock = 8;
constexpr int64_t kSamples = 20;

}  // namespace

// ---- 1. the Woodbury recursion equals the dense block inverse --------------------------------

TEST(WoodFisherInverse, MatchesDenseBlockInverseFloat32) {
  const at::Tensor G = randn({kSamples, kDim}, 1);
  const double lambda = 1e-1;
  gs::WoodFisherInverse finv = build(G, kBlock, lambda);
  EXPECT_EQ(finv.samples_added(), kSamples);
  EXPECT_EQ(finv.num_blocks(), 5);
  const at::Tensor ref = reference_inverse(G, kBlock, lambda);
  const at::Tensor got = finv.dense();
  ASSERT_EQ(got.scalar_type(), at::kFloat);
  std::printf("[ info ] lambda 1e-1, N=20, c=8: rel error float32 %.2e\n", rel_fro(got, ref));
  EXPECT_LE(rel_fro(got, ref), 1e-5);
  EXPECT_LE(rel_fro(finv.diagonal(), ref.diagonal()), 1e-5);
  // Padding never leaks: the last block's padding rows/columns are still e_i/λ.
  at::Tensor last = finv.blocks()[4];
  EXPECT_TRUE(at::equal(last.narrow(0, 5, 3).narrow(1, 0, 5), at::zeros({3, 5})));
  EXPECT_TRUE(at::equal(last.narrow(0, 0, 5).narrow(1, 5, 3), at::zeros({5, 3})));
}

TEST(WoodFisherInverse, MatchesDenseBlockInverseFloat64) {
  const at::Tensor G = randn({kSamples, kDim}, 2);
  for (double lambda : {1e-1, 1e-5}) {
    gs::WoodFisherInverse finv = build(G, kBlock, lambda, at::kDouble);
    const at::Tensor got = finv.dense();
    ASSERT_EQ(got.scalar_type(), at::kDouble);
    EXPECT_LE(rel_fro(got, reference_inverse(G, kBlock, lambda)), 1e-10) << "lambda " << lambda;
  }
}

// Small damping, the paper's λ = 1e-5. With N ≥ c every block becomes full rank and the recursion
// subtracts entries of size 1/λ = 1e5 down to O(1): float32 loses digits (measured 9e-4 relative,
// bound 3e-2), float64 does not (1e-10). With N < c (the paper's regime: N = 400, c = 2000) the
// 1/λ null-space part dominates the norm and float32 stays accurate in that norm.
TEST(WoodFisherInverse, SmallDampingPrecision) {
  const double lambda = 1e-5;
  {
    const at::Tensor G = randn({kSamples, kDim}, 3);  // N = 20 ≥ c = 8
    const at::Tensor ref = reference_inverse(G, kBlock, lambda);
    const double err32 = rel_fro(build(G, kBlock, lambda).dense(), ref);
    const double err64 = rel_fro(build(G, kBlock, lambda, at::kDouble).dense(), ref);
    const double diag32 = (build(G, kBlock, lambda).diagonal().to(at::kDouble) / ref.diagonal() - 1).abs().max().item<double>();
    std::printf("[ info ] lambda 1e-5, N=20 >= c=8: rel error float32 %.2e, float64 %.2e; max rel error of the float32 diagonal %.2e\n", err32, err64, diag32);
    EXPECT_LE(err32, 3e-2);
    EXPECT_LE(err64, 1e-10);
  }
  {
    const at::Tensor G = randn({kSamples, 70}, 4);  // N = 20 < c = 32
    const at::Tensor ref = reference_inverse(G, 32, lambda);
    const double err32 = rel_fro(build(G, 32, lambda).dense(), ref);
    std::printf("[ info ] lambda 1e-5, N=20 < c=32: rel error float32 %.2e\n", err32);
    EXPECT_LE(err32, 1e-5);
  }
}

TEST(WoodFisherInverse, ApplyMatchesDenseAndBlocksStaySymmetric) {
  const at::Tensor G = randn({kSamples, kDim}, 5);
  gs::WoodFisherInverse finv = build(G, kBlock, 1e-1);
  const at::Tensor v = randn({kDim}, 6);
  EXPECT_LE(rel_fro(finv.apply(v), finv.dense().mv(v)), 1e-6);
  // float64 input and a 2-D view of the same entries are accepted.
  EXPECT_LE(rel_fro(finv.apply(v.to(at::kDouble).view({37, 1})), finv.dense().mv(v)), 1e-6);
  EXPECT_TRUE(at::equal(finv.blocks(), finv.blocks().transpose(1, 2)));  // exactly symmetric
}

TEST(WoodFisherInverse, BlockLargerThanDimIsClampedAndDimZeroWorks) {
  const at::Tensor G = randn({6, 5}, 7);
  gs::WoodFisherOptions opt;
  opt.block_size = 128;
  opt.damping = 1e-1;
  gs::WoodFisherInverse finv(5, 6, opt);
  for (int64_t n = 0; n < 6; ++n) finv.add_gradient(G[n]);
  EXPECT_EQ(finv.block_size(), 5);
  EXPECT_EQ(finv.blocks().sizes(), (std::vector<int64_t>{1, 5, 5}));
  EXPECT_LE(rel_fro(finv.dense(), reference_inverse(G, 5, 1e-1)), 1e-5);

  gs::WoodFisherInverse empty(0, 3, opt);
  empty.add_gradient(at::empty({0}));
  EXPECT_EQ(empty.diagonal().numel(), 0);
  EXPECT_EQ(gs::obs_prune(at::empty({0}), at::empty({0}, at::kBool), empty).numel(), 0);
}

// ---- 2. single-weight OBS on the quadratic model --------------------------------------------

TEST(WoodFisherObs, SingleWeightLossEqualsScoreAndUpdateIsOptimal) {
  const double lambda = 1e-1;
  const at::Tensor G = randn({kSamples, kDim}, 11);
  gs::WoodFisherInverse finv = build(G, kBlock, lambda);
  const at::Tensor F = reference_fisher(G, kBlock, lambda);
  const at::Tensor w = randn({kDim}, 12);  // w = w*: the loss increase is ½ δᵀ F δ
  const at::Tensor scores = gs::obs_scores(w, finv);
  ASSERT_EQ(scores.scalar_type(), at::kFloat);
  ASSERT_EQ(scores.sizes(), w.sizes());

  at::Generator g = gen(13);
  for (int64_t q = 0; q < kDim; ++q) {
    at::Tensor mask = at::zeros({kDim}, at::kBool);
    mask[q] = true;
    const at::Tensor w_new = gs::obs_prune(w, mask, finv);
    ASSERT_EQ(w_new[q].item<float>(), 0.0f);
    const at::Tensor delta = w_new.to(at::kDouble) - w.to(at::kDouble);
    const double loss = quad_loss(delta, F);
    const double score = scores[q].item<double>();
    EXPECT_NEAR(loss, score, 1e-4 * score) << "q " << q;

    // Zeroing w_q alone (magnitude pruning) can only be worse.
    at::Tensor mag = at::zeros({kDim}, at::kDouble);
    mag[q] = -w[q].item<double>();
    EXPECT_GE(quad_loss(mag, F), loss * (1 - 1e-6)) << "q " << q;

    // Any other point with w_q = 0 is worse: perturb the other weights.
    const double scale = 0.1 * delta.norm().item<double>();
    for (int trial = 0; trial < 10; ++trial) {
      at::Tensor p = at::empty({kDim}, at::kDouble);
      p.normal_(0.0, 1.0, g);
      p[q] = 0.0;
      p.mul_(scale / p.norm().item<double>());
      EXPECT_GT(quad_loss(delta + p, F), loss) << "q " << q << " trial " << trial;
    }
  }
}

// ---- 3. one pruned weight per block: the blocks are independent ---------------------------

TEST(WoodFisherObs, OnePerBlockLossIsSumOfScores) {
  const double lambda = 1e-1;
  const at::Tensor G = randn({kSamples, kDim}, 21);
  gs::WoodFisherInverse finv = build(G, kBlock, lambda);
  const at::Tensor F = reference_fisher(G, kBlock, lambda);
  const at::Tensor w = randn({kDim}, 22);
  const at::Tensor scores = gs::obs_scores(w, finv);

  at::Tensor mask = at::zeros({kDim}, at::kFloat);  // numeric mask: nonzero = prune
  double sum = 0.0;
  std::vector<int64_t> qs;
  for (int64_t s = 0; s < kDim; s += kBlock) {
    const int64_t len = std::min(kBlock, kDim - s);
    const int64_t q = s + (3 * s / kBlock + 1) % len;
    qs.push_back(q);
    mask[q] = 2.0f;
    sum += scores[q].item<double>();
  }
  ASSERT_EQ(qs.size(), 5u);
  const at::Tensor w_new = gs::obs_prune(w, mask, finv);
  for (int64_t q : qs) EXPECT_EQ(w_new[q].item<float>(), 0.0f) << "q " << q;
  const double loss = quad_loss(w_new.to(at::kDouble) - w.to(at::kDouble), F);
  EXPECT_NEAR(loss, sum, 1e-4 * sum);
}

// ---- 4. with F⁻¹ = I/λ the compensation is nothing: obs_prune just zeros --------------------

TEST(WoodFisherObs, DiagonalInverseJustZeros) {
  const double lambda = 1e-2;
  gs::WoodFisherOptions opt;
  opt.block_size = kBlock;
  opt.damping = lambda;
  gs::WoodFisherInverse finv(kDim, 4, opt);
  for (int n = 0; n < 4; ++n) finv.add_gradient(at::zeros({kDim}));
  const at::Tensor d = finv.diagonal();
  EXPECT_LE(rel_fro(d, at::full({kDim}, 1.0 / lambda, at::kDouble)), 1e-7);
  EXPECT_TRUE(at::equal(finv.dense(), at::diag(d)));  // off-diagonal exactly 0

  // w as a 2-D layer weight [37, 1]; the result keeps its shape.
  const at::Tensor w = randn({kDim, 1}, 31);
  const at::Tensor mask = at::rand({kDim, 1}, gen(32)).lt(0.4);
  const at::Tensor w_new = gs::obs_prune(w, mask, finv);
  ASSERT_EQ(w_new.sizes(), w.sizes());
  EXPECT_TRUE(at::equal(w_new.masked_select(mask), at::zeros({mask.sum().item<int64_t>()})));
  EXPECT_TRUE(at::equal(w_new.masked_select(mask.logical_not()), w.masked_select(mask.logical_not())));
  // Scores are then magnitude-based: w² λ / 2.
  EXPECT_LE(rel_fro(gs::obs_scores(w, finv), w.square() * (lambda / 2)), 1e-6);
}

// ---- 5. errors --------------------------------------------------------------------------------

TEST(WoodFisherErrors, BadOptionsAndConstruction) {
  gs::WoodFisherOptions opt;
  opt.block_size = 0;
  expect_invalid([&] { opt.validate(); }, {"block_size", "0"});
  expect_invalid([&] { gs::WoodFisherInverse(10, 5, opt); }, {"block_size"});
  opt = {};
  opt.damping = 0.0;
  expect_invalid([&] { opt.validate(); }, {"damping", "0"});
  opt.damping = std::nan("");
  expect_invalid([&] { opt.validate(); }, {"damping", "nan"});
  opt = {};
  opt.dtype = at::kInt;
  expect_invalid([&] { opt.validate(); }, {"dtype", "Int"});
  expect_invalid([] { gs::WoodFisherInverse(10, 0); }, {"num_samples", "0"});
  expect_invalid([] { gs::WoodFisherInverse(-1, 3); }, {"dim", "-1"});
}

TEST(WoodFisherErrors, BadGradientsAndInputs) {
  gs::WoodFisherOptions opt;
  opt.block_size = 4;
  gs::WoodFisherInverse finv(10, 2, opt);
  expect_invalid([&] { finv.add_gradient(at::zeros({9})); }, {"gradient", "9", "dim = 10"});
  expect_invalid([&] { finv.add_gradient(at::zeros({10}, at::kLong)); }, {"gradient", "Long", "float32"});
  expect_invalid([&] { finv.add_gradient(at::Tensor()); }, {"undefined"});
  at::Tensor nan = at::zeros({10});
  nan[3] = std::nanf("");
  expect_invalid([&] { finv.add_gradient(nan); }, {"NaN"});
  EXPECT_EQ(finv.samples_added(), 0);
  finv.add_gradient(at::ones({10}));
  finv.add_gradient(at::ones({10}));
  expect_invalid([&] { finv.add_gradient(at::ones({10})); }, {"num_samples = 2", "already added"});
  EXPECT_EQ(finv.samples_added(), 2);

  expect_invalid([&] { finv.apply(at::zeros({11})); }, {"apply", "11"});
  expect_invalid([&] { gs::obs_scores(at::zeros({3}), finv); }, {"obs_scores", "w"});
  expect_invalid([&] { gs::obs_scores(at::zeros({10}, at::kInt), finv); }, {"obs_scores", "Int"});
  expect_invalid([&] { gs::obs_prune(at::zeros({10}), at::zeros({5}, at::kBool), finv); }, {"prune_mask", "[5]"});
  expect_invalid([&] { gs::obs_prune(at::zeros({10}), at::zeros({2, 5}, at::kBool), finv); }, {"prune_mask"});
}
