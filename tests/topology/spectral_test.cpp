// Spectral gaps against closed forms, and the exact averaging of the one-peer exponential graph.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "gossamer/topology/analysis.h"
#include "gossamer/topology/exponential.h"
#include "gossamer/topology/gossip.h"
#include "gossamer/topology/graph_builders.h"
#include "gossamer/topology/spec.h"
#include "gossamer/topology/weights.h"
#include "test_helpers.h"

namespace gossamer::topology {
namespace {

constexpr double kTol = 1e-10;
const double kPi = std::acos(-1.0);

Topology uniform(const Graph& g, const std::string& name) {
  return Topology(name, {mixing_matrix(g, WeightScheme::Uniform)});
}

// Ring with weights 1/3: W is circulant with eigenvalues 1/3 + 2/3 cos(2 pi k / n).
TEST(SpectralGap, RingMatchesCirculantEigenvalues) {
  for (int n : {5, 8, 16}) {
    double beta = 0.0;
    for (int k = 1; k < n; ++k) beta = std::max(beta, std::abs(1.0 / 3 + 2.0 / 3 * std::cos(2 * kPi * k / n)));
    const Topology t = uniform(ring_graph(n), "ring");
    EXPECT_NEAR(spectral_gap(t), 1.0 - beta, kTol) << "n = " << n;
    EXPECT_NEAR(spectral_gap(t.matrix(0)), 1.0 - beta, kTol) << "n = " << n;
    // The whole spectrum, not just its second value.
    at::Tensor expected = at::empty({n}, at::kDouble);
    for (int k = 0; k < n; ++k) expected[k] = 1.0 / 3 + 2.0 / 3 * std::cos(2 * kPi * k / n);
    expected = std::get<0>(at::sort(expected));
    EXPECT_TRUE(at::allclose(testing::sym_eigenvalues(t.dense(0)), expected, 0.0, kTol)) << "n = " << n;
  }
}

TEST(SpectralGap, LazyRingMovesEigenvaluesToOnePlusLambdaOverTwo) {
  for (int n : {5, 8}) {
    double beta = 0.0;
    for (int k = 1; k < n; ++k)
      beta = std::max(beta, std::abs((1.0 + 1.0 / 3 + 2.0 / 3 * std::cos(2 * kPi * k / n)) / 2));
    EXPECT_NEAR(spectral_gap(make_lazy(uniform(ring_graph(n), "ring"))), 1.0 - beta, kTol) << "n = " << n;
  }
}

TEST(SpectralGap, CompleteGraphAveragesInOneStep) {
  for (int n : {1, 2, 3, 7, 16}) EXPECT_NEAR(spectral_gap(uniform(complete_graph(n), "complete")), 1.0, kTol);
}

// Hypercube of dimension d with weights 1/(d+1): eigenvalues 1 - 2k/(d+1), multiplicity C(d, k).
TEST(SpectralGap, HypercubeMatchesClosedForm) {
  for (int d : {1, 2, 3, 4, 5}) {
    const int n = 1 << d;
    const Topology t = uniform(hypercube_graph(n), "hypercube");
    EXPECT_DOUBLE_EQ(t.self_weight(0, 0), 1.0 / (d + 1));
    double beta = 0.0;
    for (int k = 1; k <= d; ++k) beta = std::max(beta, std::abs(1.0 - 2.0 * k / (d + 1)));
    EXPECT_NEAR(spectral_gap(t), 1.0 - beta, kTol) << "d = " << d;
    at::Tensor expected = at::empty({n}, at::kDouble);
    int64_t at_index = 0;
    for (int k = 0; k <= d; ++k) {
      const int64_t mult = std::llround(std::tgamma(d + 1) / (std::tgamma(k + 1) * std::tgamma(d - k + 1)));
      for (int64_t m = 0; m < mult; ++m) expected[at_index++] = 1.0 - 2.0 * k / (d + 1);
    }
    ASSERT_EQ(at_index, n);
    expected = std::get<0>(at::sort(expected));
    EXPECT_TRUE(at::allclose(testing::sym_eigenvalues(t.dense(0)), expected, 0.0, kTol)) << "d = " << d;
  }
}

// Torus r x c with weights 1/5 (all sides >= 3): (1 + 2cos(2 pi a/r) + 2cos(2 pi b/c)) / 5.
TEST(SpectralGap, TorusMatchesClosedForm) {
  for (auto [r, c] : {std::pair<int, int>{3, 3}, {4, 4}, {3, 5}}) {
    double beta = 0.0;
    for (int a = 0; a < r; ++a)
      for (int b = 0; b < c; ++b)
        if (a || b) beta = std::max(beta, std::abs((1 + 2 * std::cos(2 * kPi * a / r) + 2 * std::cos(2 * kPi * b / c)) / 5));
    EXPECT_NEAR(spectral_gap(uniform(torus_graph(r * c, r, c), "torus")), 1.0 - beta, kTol) << r << "x" << c;
  }
}

TEST(SpectralGap, OnePeerExponentialPeriodAveragesExactlyForPowersOfTwo) {
  for (int n : {2, 4, 8, 16, 32, 64}) {
    const Topology t = one_peer_exponential_topology(n);
    const at::Tensor p = period_product(t);
    const at::Tensor j = at::full({n, n}, 1.0 / n, at::kDouble);
    EXPECT_LE((p - j).abs().max().item<double>(), 1e-15) << "n = " << n;
    EXPECT_NEAR(spectral_gap(t), 1.0, kTol) << "n = " << n;
  }
  // Not a power of two: no exact averaging, but it still mixes.
  const double gap6 = spectral_gap(one_peer_exponential_topology(6));
  EXPECT_GT(gap6, 0.0);
  EXPECT_LT(gap6, 1.0 - 1e-6);
}

TEST(SpectralGap, PeriodProductIsTheOrderedProduct) {
  const Topology t = random_gossip_topology(6, 3, 9);
  const at::Tensor expected = at::matmul(t.dense(2), at::matmul(t.dense(1), t.dense(0)));
  EXPECT_TRUE(at::allclose(period_product(t), expected, 0.0, 1e-14));
  const Topology s = uniform(ring_graph(5), "ring");
  EXPECT_TRUE(at::allclose(period_product(s), s.dense(0), 0.0, 0.0));
}

// Static exponential graph with n = 2^tau: W = (I + P + P^2 + ... + P^{2^(tau-1)}) / (tau + 1) for
// the cyclic shift P, so its eigenvalues are (1 + sum_t w^(2^t)) / (tau + 1) over the n-th roots w.
TEST(SpectralGap, StaticExponentialMatchesRootsOfUnity) {
  for (int n : {4, 8, 16, 12}) {
    const int tau = exponential_degree(n);
    double beta = 0.0;
    for (int k = 1; k < n; ++k) {
      double re = 1.0, im = 0.0;
      for (int hop = 1; hop < n; hop *= 2) {
        re += std::cos(2 * kPi * k * hop / n);
        im += std::sin(2 * kPi * k * hop / n);
      }
      // W is normal (circulant), so its singular values are the moduli of its eigenvalues.
      beta = std::max(beta, std::hypot(re, im) / (tau + 1));
    }
    EXPECT_NEAR(spectral_gap(exponential_topology(n)), 1.0 - beta, kTol) << "n = " << n;
  }
}

TEST(SpectralGap, SingleWorkerIsTriviallyAveraged) {
  for (const auto& name : topology_names()) {
    if (name == "edge-list") continue;
    TopologySpec s;
    s.name = name;
    s.workers = 1;
    if (name == "erdos-renyi") s.p = 0.5;
    EXPECT_NEAR(spectral_gap(make_topology(s)), 1.0, kTol) << name;
  }
}

}  // namespace
}  // namespace gossamer::topology
