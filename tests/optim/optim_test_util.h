// Helpers for the optimizer tests: a least-squares problem split over workers (float64), a runner
// that drives a real DistributedOptimizer on either backend and records every iterate, and the
// comparison used against the dense recursions written out in the tests.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gossamer/comm/communicator.h"
#include "gossamer/comm/gloo_communicator.h"
#include "gossamer/comm/inprocess_communicator.h"
#include "gossamer/data/synthetic.h"
#include "gossamer/optim/factory.h"
#include "gossamer/topology/spec.h"
#include "gossamer/topology/topology.h"

namespace gossamer::optim::testing {

// The setting: n = 8 workers, a small least-squares problem.
constexpr int kN = 8;
constexpr int64_t kDim = 5;

enum class Backend { InProcess, Gloo };

inline std::string backend_name(Backend b) { return b == Backend::InProcess ? "inprocess" : "gloo"; }

inline void run_backend(Backend b, int n, const std::function<void(comm::Communicator&)>& fn) {
  const auto timeout = std::chrono::milliseconds(60000);
  if (b == Backend::InProcess) {
    comm::run_inprocess(n, fn, timeout);
  } else {
    comm::run_gloo_threads(n, fn, timeout);
  }
}

// Worker i: f_i(x) = (1/2m) ||A_i x - b_i||^2 (scaled by the sample count m so that the step size
// does not depend on it); deterministic full gradients.
struct Problem {
  int n = 0;
  int64_t dim = 0;
  std::vector<at::Tensor> a;  // [m, dim] float64
  std::vector<at::Tensor> b;  // [m] float64

  at::Tensor grad(int i, const at::Tensor& x) const {
    const auto& A = a[static_cast<size_t>(i)];
    return A.t().mv(A.mv(x) - b[static_cast<size_t>(i)]) / static_cast<double>(A.size(0));
  }
  // Row i of the result is grad_i(X[i]); X [n, dim].
  at::Tensor grads(const at::Tensor& X) const {
    std::vector<at::Tensor> rows;
    for (int i = 0; i < n; ++i) rows.push_back(grad(i, X[i]));
    return at::stack(rows);
  }
  // argmin sum_i f_i.
  at::Tensor minimiser() const {
    at::Tensor h = at::zeros({dim, dim}, at::kDouble), r = at::zeros({dim}, at::kDouble);
    for (int i = 0; i < n; ++i) {
      const auto& A = a[static_cast<size_t>(i)];
      const double m = static_cast<double>(A.size(0));
      h += A.t().mm(A) / m;
      r += A.t().mv(b[static_cast<size_t>(i)]) / m;
    }
    return at::linalg_solve(h, r.unsqueeze(1)).squeeze(1);
  }
  // Largest smoothness constant over the workers.
  double smoothness() const {
    double l = 0;
    for (const auto& A : a) l = std::max(l, at::linalg_eigvalsh(A.t().mm(A) / double(A.size(0))).max().item<double>());
    return l;
  }
};

inline Problem make_problem(int n, int64_t dim, double heterogeneity, uint64_t seed = 3) {
  data::SyntheticSpec s;
  s.workers = n;
  s.samples_per_worker = 32;
  s.dim = dim;
  s.heterogeneity = heterogeneity;
  s.noise = 0.1;
  s.seed = seed;
  auto cp = data::make_least_squares(s);
  Problem p;
  p.n = n;
  p.dim = dim;
  for (const auto& d : cp.workers) {
    p.a.push_back(d.inputs.to(at::kDouble).contiguous());
    p.b.push_back(d.targets.to(at::kDouble).contiguous());
  }
  return p;
}

// Our own float64 data, heterogeneous only in the local minimisers (features stay iid, so the
// problem stays well conditioned): A_i ~ N(0, 1) [m, dim], b_i = A_i (x0 + h u_i), u_i ~ N(0, I).
inline Problem make_shifted_minimisers(int n, int64_t dim, int64_t m, double heterogeneity, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto f64 = at::TensorOptions().dtype(at::kDouble);
  Problem p;
  p.n = n;
  p.dim = dim;
  at::Tensor x0 = at::normal(0.0, 1.0, {dim}, gen, f64);
  for (int i = 0; i < n; ++i) {
    at::Tensor A = at::normal(0.0, 1.0, {m, dim}, gen, f64);
    at::Tensor truth = x0 + heterogeneity * at::normal(0.0, 1.0, {dim}, gen, f64);
    p.a.push_back(A);
    p.b.push_back(A.mv(truth));
  }
  return p;
}

// Distinct starting points per worker, [n, dim] float64.
inline at::Tensor initial_points(int n, int64_t dim, uint64_t seed = 11) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::normal(0.0, 1.0, {n, dim}, gen, at::TensorOptions().dtype(at::kDouble));
}

inline topology::Topology topo(const std::string& name, int n, uint64_t seed = 5) {
  topology::TopologySpec s;
  s.name = name;
  s.workers = n;
  if (name == "random-gossip" || name == "erdos-renyi") s.seed = seed;
  return topology::make_topology(s);
}

using LocalFactory = std::function<std::unique_ptr<torch::optim::Optimizer>(const at::Tensor& param, double lr)>;

inline LocalFactory plain_sgd() {
  return [](const at::Tensor& p, double lr) {
    return std::make_unique<torch::optim::SGD>(std::vector<at::Tensor>{p}, torch::optim::SGDOptions(lr));
  };
}
inline LocalFactory momentum_sgd(double beta) {
  return [beta](const at::Tensor& p, double lr) {
    return std::make_unique<torch::optim::SGD>(std::vector<at::Tensor>{p},
                                               torch::optim::SGDOptions(lr).momentum(beta));
  };
}

struct RunSpec {
  std::string algorithm;
  AlgorithmOptions options{};
  const topology::Topology* topology = nullptr;
  LocalFactory local = plain_sgd();
  double lr = 0.1;
  int steps = 50;
  // > 0: after this many steps, save state(), destroy the optimizer, build a fresh one (fresh
  // local optimizer) and load_state() into it, then continue (checkpoint round trip).
  int restart_at = 0;
};

// Runs spec on n = X0.size(0) workers; returns every iterate, [steps + 1, n, dim].
inline at::Tensor run_optimizer(Backend backend, const Problem& pb, const at::Tensor& X0, const RunSpec& spec) {
  const int n = static_cast<int>(X0.size(0));
  at::Tensor traj = at::zeros({spec.steps + 1, n, X0.size(1)}, at::kDouble);
  traj[0].copy_(X0);
  run_backend(backend, n, [&](comm::Communicator& comm) {
    const int r = comm.rank();
    at::Tensor x = X0[r].clone().contiguous().requires_grad_(true);
    auto build = [&] {
      return make_distributed_optimizer(spec.algorithm, spec.options, {x}, comm, spec.topology, spec.local(x, spec.lr));
    };
    auto opt = build();
    for (int k = 0; k < spec.steps; ++k) {
      if (spec.restart_at > 0 && k == spec.restart_at) {
        auto saved = opt->state();
        opt.reset();
        opt = build();
        opt->load_state(saved);
      }
      opt->set_lr(spec.lr);  // what the trainer does every step
      {
        torch::NoGradGuard no_grad;
        x.mutable_grad() = pb.grad(r, x.detach());
      }
      opt->step();
      traj[k + 1][r].copy_(x.detach());
    }
  });
  return traj;
}

inline double relative_error(const at::Tensor& got, const at::Tensor& want) {
  return (got - want).abs().max().item<double>() / want.abs().max().item<double>();
}

}  // namespace gossamer::optim::testing
