// Decentralized Adam: every worker runs Adam on its local gradient (or, with tracking, on a
// gradient-tracking estimate of the average gradient) and gossips the adapted model (ATC form).
//   y_i = g_i                                               (tracking = false)
//   y_i^k = sum_j w_ij(k-1) y_j^{k-1} + g_i^k - g_i^{k-1}, y^0 = g^0   (tracking = true)
//   m_i <- b1 m_i + (1 - b1) y_i;   v_i <- b2 v_i + (1 - b2) y_i²
//   x_i <- sum_j w_ij(k) (x_j - lr * m̂_j / (sqrt(v̂_j) + eps)),  m̂ = m / (1 - b1^{k+1}), v̂ = v / (1 - b2^{k+1})
// With tracking, x and y travel in one neighbour exchange. Moments are local (never communicated).
// The local optimizer must be plain torch::optim::SGD (momentum 0): it supplies the learning rate
// and an L2 weight decay (g = grad + weight_decay * x); betas and eps come from DAdamOptions.
// What was and was not taken from arXiv 2410.11998: docs/optimizers.md.
#pragma once

#include "gossamer/optim/distributed_optimizer.h"

namespace gossamer::topology {
class Topology;
}

namespace gossamer::optim {

struct DAdamOptions {
  double beta1 = 0.9;    // in [0, 1)
  double beta2 = 0.999;  // in [0, 1)
  double eps = 1e-8;     // > 0
  bool tracking = false;  // Adam on a gradient tracker instead of the local gradient
  void validate() const;
};

class DAdam : public DistributedOptimizer {
 public:
  DAdam(std::vector<at::Tensor> params, comm::Communicator& comm, std::unique_ptr<torch::optim::Optimizer> local,
        const topology::Topology& topology, DAdamOptions options = {});
  void step() override;
  std::string name() const override { return "dadam"; }
  const DAdamOptions& options() const { return options_; }
  std::map<std::string, at::Tensor> state() const override;
  void load_state(const std::map<std::string, at::Tensor>& state) override;

 private:
  const topology::Topology& topology_;
  DAdamOptions options_;
  double weight_decay_ = 0.0;
  std::vector<at::Tensor> m_, v_;           // Adam moments; empty before the first step
  std::vector<at::Tensor> y_mixed_, g_prev_;  // tracking only
};

}  // namespace gossamer::optim
