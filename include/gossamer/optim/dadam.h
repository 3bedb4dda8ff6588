// Decentralized Adam (arXiv 2410.11998, "DAdam"): every worker keeps its own Adam moments of its
// local gradient (or, with tracking, of a gradient-tracking estimate of the average gradient) and
// gossips its model. Two orders of mixing and adapting:
//   combine-then-adapt (default, the paper's "communicate while adapting" schema: the mixing of
//   x^k needs nothing from step k's gradient, so it can overlap the forward/backward pass):
//     x_i^{k+1} = sum_j w_ij(k) x_j^k - lr * d_i^k
//   adapt-then-combine (DADAM of Nazari et al. 2019; `adapt_then_combine = true`):
//     x_i^{k+1} = sum_j w_ij(k) (x_j^k - lr * d_j^k)
// with d = m̂ / (sqrt(v̂) + eps) and, for `accumulation` = A (the paper's remedy for the variance of
// small local batches), moments that are refreshed only every A steps with the mean gradient of
// those A steps, while each step's direction adds its own gradient on top:
//   m̃ = b1 M + (1 - b1) y^k,  ṽ = b2 V + (1 - b2) (y^k)²,  m̂ = m̃ / (1 - b1^c), v̂ = ṽ / (1 - b2^c),
//   c = ceil((k+1) / A);   after steps A, 2A, ...:  M <- b1 M + (1 - b1) ȳ,  V <- b2 V + (1 - b2) ȳ²,
// where ȳ is the mean of the last A y's. A = 1 is plain Adam (M = m̃ at every step).
//   y_i = g_i                                                           (tracking = false)
//   y_i^k = sum_j w_ij(k-1) y_j^{k-1} + g_i^k - g_i^{k-1}, y^0 = g^0       (tracking = true)
// With tracking, x and y travel in one neighbour exchange. Moments are local (never communicated).
// The local optimizer must be plain torch::optim::SGD (momentum 0): it supplies the learning rate
// and an L2 weight decay (g = grad + weight_decay * x); betas, eps, the form and A come from
// DAdamOptions. The communicator is blocking, so the overlap is in the algebra, not in wall time.
#pragma once

#include <cstdint>

#include "gossamer/optim/distributed_optimizer.h"

namespace gossamer::topology {
class Topology;
}

namespace gossamer::optim {

struct DAdamOptions {
  double beta1 = 0.9;    // in [0, 1)
  double beta2 = 0.999;  // in [0, 1)
  double eps = 1e-8;     // > 0
  bool tracking = false;            // Adam on a gradient tracker instead of the local gradient
  bool adapt_then_combine = false;  // false: the paper's combine-then-adapt order
  int64_t accumulation = 1;         // A >= 1: steps whose mean gradient refreshes the moments
  void validate() const;
};

class DAdam : public DistributedOptimizer {
 public:
  DAdam(std::vector<at::Tensor> params, comm::Communicator& comm, std::unique_ptr<torch::optim::Optimizer> local,
        const topology::Topology& topology, DAdamOptions options = {});
  void step() override;
  std::string name() const override { return "dadam"; }
  bool gossips() const override { return true; }
  const DAdamOptions& options() const { return options_; }
  std::map<std::string, at::Tensor> state() const override;
  void load_state(const std::map<std::string, at::Tensor>& state) override;
  std::string exact_mixing_need() const override;

 protected:
  std::vector<at::Tensor> algorithm_state_tensors() override;

 private:
  const topology::Topology& topology_;
  DAdamOptions options_;
  double weight_decay_ = 0.0;
  std::vector<at::Tensor> m_, v_;           // the refreshed moments M, V; empty before the first step
  std::vector<at::Tensor> y_sum_;           // accumulation > 1: sum of the y's since the last refresh
  std::vector<at::Tensor> y_mixed_, g_prev_;  // tracking only
};

}  // namespace gossamer::optim
