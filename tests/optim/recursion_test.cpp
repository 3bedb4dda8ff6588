// Every algorithm against its dense matrix recursion, written out here independently of src/optim:
// n = 8 workers, least squares with heterogeneous data, deterministic full gradients, 50 steps,
// float64, on the InProcess and the Gloo backends. Max relative error over the whole trajectory
// must be <= 1e-5 (the backends differ only in float64 summation order).
#include <cmath>
#include <gtest/gtest.h>

#include "optim_test_util.h"

namespace gossamer::optim::testing {
namespace {

constexpr int kSteps = 50;
constexpr double kTol = 1e-5;

at::Tensor W(const topology::Topology& t, int64_t k) { return t.dense(k); }
at::Tensor J(int n) { return at::full({n, n}, 1.0 / n, at::kDouble); }

// Records X_0 .. X_T from a recursion step(k, X) -> X_{k+1}.
at::Tensor unroll(const at::Tensor& X0, int steps, const std::function<at::Tensor(int64_t, const at::Tensor&)>& f) {
  std::vector<at::Tensor> xs{X0.clone()};
  for (int64_t k = 0; k < steps; ++k) xs.push_back(f(k, xs.back()));
  return at::stack(xs);
}

class Recursion : public ::testing::TestWithParam<Backend> {
 protected:
  Problem pb = make_problem(kN, kDim, /*heterogeneity=*/1.0);
  at::Tensor X0 = initial_points(kN, kDim);
  double alpha = 0.3 / pb.smoothness();

  void expect_match(const RunSpec& spec, const at::Tensor& ref) {
    at::Tensor got = run_optimizer(GetParam(), pb, X0, spec);
    ASSERT_TRUE(ref.isfinite().all().item<bool>());
    const double err = relative_error(got, ref);
    EXPECT_LE(err, kTol) << spec.algorithm << " on " << backend_name(GetParam());
    // The run must actually move (guards against a no-op optimizer matching a no-op reference).
    EXPECT_GT((ref[kSteps] - X0).abs().max().item<double>(), 1e-3);
  }
  RunSpec spec(const std::string& algorithm, const topology::Topology* t, double lr) {
    RunSpec s;
    s.algorithm = algorithm;
    s.topology = t;
    s.lr = lr;
    s.steps = kSteps;
    return s;
  }
};

TEST_P(Recursion, ParallelSgd) {
  // X_{k+1} = X_k - a 1 (mean_i g_i)^T
  at::Tensor ref = unroll(X0, kSteps, [&](int64_t, const at::Tensor& X) {
    return X - alpha * pb.grads(X).mean(0, /*keepdim=*/true);
  });
  expect_match(spec("parallel-sgd", nullptr, alpha), ref);
}

TEST_P(Recursion, DsgdAdaptThenCombineTimeVarying) {
  auto t = topo("one-peer-exponential", kN);
  at::Tensor ref = unroll(X0, kSteps, [&](int64_t k, const at::Tensor& X) {
    return W(t, k).mm(X - alpha * pb.grads(X));
  });
  expect_match(spec("dsgd", &t, alpha), ref);
}

TEST_P(Recursion, DsgdCombineThenAdapt) {
  auto t = topo("one-peer-exponential", kN);
  at::Tensor ref = unroll(X0, kSteps, [&](int64_t k, const at::Tensor& X) {
    return W(t, k).mm(X) - alpha * pb.grads(X);
  });
  expect_match(spec("dsgd-cta", &t, alpha), ref);
}

TEST_P(Recursion, DmSgdIsDsgdWithMomentum) {
  auto t = topo("exponential", kN);
  const double beta = 0.9;
  at::Tensor M;
  at::Tensor ref = unroll(X0, kSteps, [&](int64_t k, const at::Tensor& X) {
    at::Tensor G = pb.grads(X);
    M = k == 0 ? G : beta * M + G;
    return W(t, k).mm(X - alpha * M);
  });
  auto s = spec("dsgd", &t, alpha);
  s.local = momentum_sgd(beta);
  expect_match(s, ref);
}

TEST_P(Recursion, GossipPga) {
  auto t = topo("ring", kN);
  const int64_t H = 4;
  at::Tensor ref = unroll(X0, kSteps, [&](int64_t k, const at::Tensor& X) {
    at::Tensor Y = X - alpha * pb.grads(X);
    return ((k + 1) % H == 0 ? J(kN) : W(t, k)).mm(Y);
  });
  auto s = spec("gossip-pga", &t, alpha);
  s.options.gossip_pga.period = H;
  expect_match(s, ref);
}

TEST_P(Recursion, LocalSgd) {
  const int64_t H = 5;
  at::Tensor ref = unroll(X0, kSteps, [&](int64_t k, const at::Tensor& X) {
    at::Tensor Y = X - alpha * pb.grads(X);
    return (k + 1) % H == 0 ? J(kN).mm(Y) : Y;
  });
  auto s = spec("local-sgd", nullptr, alpha);
  s.options.local_sgd.period = H;
  expect_match(s, ref);
}

// x^1 = W̄(x^0 - a g^0); x^{k+1} = W̄(2x^k - x^{k-1} - a(g^k - g^{k-1})), W̄ = (W + I)/2.
at::Tensor d2_reference(const Problem& pb, const topology::Topology& t, const at::Tensor& X0, double alpha, int steps) {
  const at::Tensor I = at::eye(pb.n, at::kDouble);
  std::vector<at::Tensor> xs{X0.clone()};
  at::Tensor G_prev;
  for (int64_t k = 0; k < steps; ++k) {
    const at::Tensor Wb = (t.dense(k) + I) / 2;
    const at::Tensor& X = xs.back();
    at::Tensor G = pb.grads(X);
    if (k == 0) {
      xs.push_back(Wb.mm(X - alpha * G));
    } else {
      xs.push_back(Wb.mm(2 * X - xs[xs.size() - 2] - alpha * (G - G_prev)));
    }
    G_prev = G;
  }
  return at::stack(xs);
}

TEST_P(Recursion, D2OnRing) {
  auto t = topo("ring", kN);
  expect_match(spec("d2", &t, alpha), d2_reference(pb, t, X0, alpha, kSteps));
}

TEST_P(Recursion, D2OnTimeVaryingSymmetricGossip) {
  auto t = topo("random-gossip", kN);
  ASSERT_FALSE(t.is_static());
  expect_match(spec("d2", &t, alpha), d2_reference(pb, t, X0, alpha, kSteps));
}

// X_{k+1} = W_k X_k - a Y_k;  Y_{k+1} = W_k Y_k + G_{k+1} - G_k;  Y_0 = G_0.
at::Tensor gt_reference(const Problem& pb, const topology::Topology& t, const at::Tensor& X0, double alpha, int steps) {
  at::Tensor X = X0.clone(), G = pb.grads(X), Y = G.clone();
  std::vector<at::Tensor> xs{X};
  for (int64_t k = 0; k < steps; ++k) {
    at::Tensor Xn = t.dense(k).mm(X) - alpha * Y;
    at::Tensor Gn = pb.grads(Xn);
    Y = t.dense(k).mm(Y) + Gn - G;
    X = Xn;
    G = Gn;
    xs.push_back(X);
  }
  return at::stack(xs);
}

TEST_P(Recursion, GradientTrackingTimeVaryingDirected) {
  auto t = topo("one-peer-exponential", kN);
  expect_match(spec("gradient-tracking", &t, alpha), gt_reference(pb, t, X0, alpha, kSteps));
}

TEST_P(Recursion, DecentLam) {
  auto t = topo("random-gossip", kN);  // symmetric (required with momentum) and time-varying
  const double beta = 0.9;
  at::Tensor M = at::zeros({kN, kDim}, at::kDouble);
  at::Tensor ref = unroll(X0, kSteps, [&](int64_t k, const at::Tensor& X) {
    at::Tensor Y = W(t, k).mm(X - alpha * pb.grads(X));
    at::Tensor Ghat = (X - Y) / alpha;
    M = beta * M + Ghat;
    return X - alpha * M;
  });
  auto s = spec("decentlam", &t, alpha);
  s.local = momentum_sgd(beta);
  expect_match(s, ref);
}

// Group averaging matrix: i and j share a group at step k iff their ranks differ only in the
// window of log2(S) bits starting at bit (k log2 S) mod log2 n (wrapping).
at::Tensor wagma_matrix(int n, int S, int64_t k) {
  int L = 0, s = 0;
  while ((1 << L) < n) ++L;
  while ((1 << s) < S) ++s;
  int window = 0;
  for (int t = 0; t < s; ++t) window |= 1 << ((k * s + t) % L);
  at::Tensor B = at::zeros({n, n}, at::kDouble);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j)
      if (((i ^ j) & ~window) == 0) B[i][j] = 1.0 / S;
  return B;
}

TEST_P(Recursion, WagmaGroupsOfFourWithGlobalAverage) {
  const int S = 4;
  const int64_t T = 10;
  at::Tensor ref = unroll(X0, kSteps, [&](int64_t k, const at::Tensor& X) {
    at::Tensor Y = X - alpha * pb.grads(X);
    return ((k + 1) % T == 0 ? J(kN) : wagma_matrix(kN, S, k)).mm(Y);
  });
  auto s = spec("wagma", nullptr, alpha);
  s.options.wagma.group_size = S;
  s.options.wagma.global_period = T;
  expect_match(s, ref);
}

TEST_P(Recursion, WagmaPairs) {
  const int S = 2;
  const int64_t T = 7;
  at::Tensor ref = unroll(X0, kSteps, [&](int64_t k, const at::Tensor& X) {
    at::Tensor Y = X - alpha * pb.grads(X);
    return ((k + 1) % T == 0 ? J(kN) : wagma_matrix(kN, S, k)).mm(Y);
  });
  auto s = spec("wagma", nullptr, alpha);
  s.options.wagma.group_size = S;
  s.options.wagma.global_period = T;
  expect_match(s, ref);
}

TEST_P(Recursion, DilocoOuterNesterov) {
  const int64_t H = 5;
  const double outer_lr = 0.7, mu = 0.9;
  at::Tensor anchor = X0.clone(), buf;
  at::Tensor ref = unroll(X0, kSteps, [&](int64_t k, const at::Tensor& X) {
    at::Tensor Y = X - alpha * pb.grads(X);
    if ((k + 1) % H != 0) return Y;
    at::Tensor delta = anchor - Y.mean(0, true);  // row i: anchor_i - mean_j y_j
    buf = buf.defined() ? mu * buf + delta : delta;
    anchor = anchor - outer_lr * (delta + mu * buf);
    return anchor.clone();
  });
  auto s = spec("diloco", nullptr, alpha);
  s.options.diloco.period = H;
  s.options.diloco.outer_lr = outer_lr;
  s.options.diloco.outer_momentum = mu;
  expect_match(s, ref);
}

// Written from the update rule in dadam.h, independently of the optimizer: combine-then-adapt
// (x ← W x − lr·d) unless `atc`; moments refreshed every `A` steps with the mean y of those steps.
at::Tensor dadam_reference(const Problem& pb, const topology::Topology& t, const at::Tensor& X0, double lr,
                           int steps, bool tracking, bool atc = false, int A = 1) {
  const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  at::Tensor X = X0.clone(), M = at::zeros_like(X), V = at::zeros_like(X), S = at::zeros_like(X);
  at::Tensor G_prev, Y;
  std::vector<at::Tensor> xs{X};
  for (int64_t k = 0; k < steps; ++k) {
    at::Tensor G = pb.grads(X);
    if (!tracking) {
      Y = G;
    } else {
      Y = k == 0 ? G : t.dense(k - 1).mm(Y) + G - G_prev;
    }
    G_prev = G;
    const double refreshes = std::ceil(static_cast<double>(k + 1) / A);
    at::Tensor Mt = b1 * M + (1 - b1) * Y, Vt = b2 * V + (1 - b2) * Y * Y;
    at::Tensor D = (Mt / (1 - std::pow(b1, refreshes))) / ((Vt / (1 - std::pow(b2, refreshes))).sqrt() + eps);
    X = atc ? t.dense(k).mm(X - lr * D) : t.dense(k).mm(X) - lr * D;
    S = S + Y;
    if ((k + 1) % A == 0) {
      at::Tensor Ybar = S / A;
      M = b1 * M + (1 - b1) * Ybar;
      V = b2 * V + (1 - b2) * Ybar * Ybar;
      S = at::zeros_like(X);
    }
    xs.push_back(X);
  }
  return at::stack(xs);
}

TEST_P(Recursion, DAdam) {
  auto t = topo("one-peer-exponential", kN);
  expect_match(spec("dadam", &t, 0.02), dadam_reference(pb, t, X0, 0.02, kSteps, false));
}

TEST_P(Recursion, DAdamAdaptThenCombine) {
  auto t = topo("one-peer-exponential", kN);
  auto s = spec("dadam", &t, 0.02);
  s.options.dadam.adapt_then_combine = true;
  expect_match(s, dadam_reference(pb, t, X0, 0.02, kSteps, false, /*atc=*/true));
}

TEST_P(Recursion, DAdamWithAccumulation) {
  auto t = topo("ring", kN);
  auto s = spec("dadam", &t, 0.02);
  s.options.dadam.accumulation = 3;
  expect_match(s, dadam_reference(pb, t, X0, 0.02, kSteps, false, false, 3));
}

TEST_P(Recursion, DAdamWithTracking) {
  auto t = topo("one-peer-exponential", kN);
  auto s = spec("dadam", &t, 0.02);
  s.options.dadam.tracking = true;
  expect_match(s, dadam_reference(pb, t, X0, 0.02, kSteps, true));
}

TEST_P(Recursion, DAdamWithTrackingAdaptThenCombine) {
  auto t = topo("one-peer-exponential", kN);
  auto s = spec("dadam", &t, 0.02);
  s.options.dadam.tracking = true;
  s.options.dadam.adapt_then_combine = true;
  expect_match(s, dadam_reference(pb, t, X0, 0.02, kSteps, true, true));
}

INSTANTIATE_TEST_SUITE_P(Backends, Recursion, ::testing::Values(Backend::InProcess, Backend::Gloo),
                         [](const auto& info) { return backend_name(info.param); });

}  // namespace
}  // namespace gossamer::optim::testing
