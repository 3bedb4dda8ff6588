// The convex test problem of the synthetic reproductions: L2-regularised logistic regression
// split over n workers with heterogeneous data (data::make_logistic_regression), float64:
//   f(x) = (1/n) Σ_i f_i(x),  f_i(x) = (1/m) Σ_s [log(1 + exp(a_s·x)) − y_s a_s·x] + (ρ/2)‖x‖².
// Header-only for the same reason as repro_common.h.
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "gossamer/data/synthetic.h"

namespace gossamer::repro {

struct Logistic {
  std::vector<at::Tensor> a;  // per worker [m, d]
  std::vector<at::Tensor> y;  // per worker [m], in {0, 1}
  double rho = 0;

  int n() const { return static_cast<int>(a.size()); }
  int64_t dim() const { return a[0].size(1); }
  int64_t samples(int i) const { return a[static_cast<size_t>(i)].size(0); }

  // ∇f_i(x), the full local gradient.
  at::Tensor grad(int i, const at::Tensor& x) const {
    const auto& A = a[static_cast<size_t>(i)];
    return A.t().mv(at::sigmoid(A.mv(x)) - y[static_cast<size_t>(i)]) / static_cast<double>(A.size(0)) + rho * x;
  }
  // Mini-batch gradient of f_i on the rows `idx` ([b] int64).
  at::Tensor grad(int i, const at::Tensor& x, const at::Tensor& idx) const {
    const at::Tensor A = a[static_cast<size_t>(i)].index_select(0, idx);
    const at::Tensor yb = y[static_cast<size_t>(i)].index_select(0, idx);
    return A.t().mv(at::sigmoid(A.mv(x)) - yb) / static_cast<double>(idx.size(0)) + rho * x;
  }
  // f_i(x).
  double local_loss(int i, const at::Tensor& x) const {
    const at::Tensor z = a[static_cast<size_t>(i)].mv(x);
    return (at::softplus(z) - y[static_cast<size_t>(i)] * z).mean().item<double>() + 0.5 * rho * x.dot(x).item<double>();
  }
  // f(x).
  double loss(const at::Tensor& x) const {
    double s = 0;
    for (int i = 0; i < n(); ++i) s += local_loss(i, x);
    return s / n();
  }
  // ‖∇f(x)‖.
  double grad_norm(const at::Tensor& x) const {
    at::Tensor g = at::zeros_like(x);
    for (int i = 0; i < n(); ++i) g += grad(i, x) / n();
    return g.norm().item<double>();
  }
  // Largest smoothness constant over the workers: L_i = λmax(A_iᵀA_i / m) / 4 + ρ.
  double smoothness() const {
    double l = 0;
    for (const auto& A : a) {
      const double lam = at::linalg_eigvalsh(A.t().mm(A) / static_cast<double>(A.size(0))).max().item<double>();
      l = std::max(l, 0.25 * lam + rho);
    }
    return l;
  }
  // argmin f by Newton's method (strongly convex for ρ > 0), to ‖∇f‖ ~ 1e-16.
  at::Tensor minimiser() const {
    at::Tensor x = at::zeros({dim()}, at::kDouble);
    for (int it = 0; it < 100; ++it) {
      at::Tensor g = rho * x;
      at::Tensor h = rho * at::eye(dim(), at::kDouble);
      for (int i = 0; i < n(); ++i) {
        const auto& A = a[static_cast<size_t>(i)];
        const double m = static_cast<double>(A.size(0));
        const at::Tensor s = at::sigmoid(A.mv(x));
        g += A.t().mv(s - y[static_cast<size_t>(i)]) / (m * n());
        h += A.t().mm(A * (s * (1 - s)).unsqueeze(1)) / (m * n());
      }
      x = x - at::linalg_solve(h, g.unsqueeze(1)).squeeze(1);
      if (g.norm().item<double>() < 1e-15) break;
    }
    return x;
  }
};

inline Logistic make_logistic(int n, int64_t m, int64_t dim, double heterogeneity, double rho, uint64_t seed) {
  data::SyntheticSpec s;
  s.workers = n;
  s.samples_per_worker = m;
  s.dim = dim;
  s.heterogeneity = heterogeneity;
  s.seed = seed;
  const data::ConvexProblem cp = data::make_logistic_regression(s);
  Logistic p;
  p.rho = rho;
  for (const auto& d : cp.workers) {
    p.a.push_back(d.inputs.to(at::kDouble).contiguous());
    p.y.push_back(d.targets.to(at::kDouble).contiguous());
  }
  return p;
}

}  // namespace gossamer::repro
