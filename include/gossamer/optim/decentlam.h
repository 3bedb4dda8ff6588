// DecentLaM (Yuan et al. 2021, arXiv 2104.11981): decentralized momentum SGD whose momentum acts on
// the mixed direction instead of the raw local gradient, which removes the extra inconsistency bias
// that DmSGD suffers at large batch sizes.
//   y_i = sum_j w_ij (x_j - lr * g_j);  ĝ_i = (x_i - y_i) / lr;  m_i <- beta m_i + ĝ_i;  x_i <- x_i - lr m_i
// (m^0 = 0). The local optimizer must be torch::optim::SGD without Nesterov or dampening; DecentLaM
// takes beta = its momentum and g = grad + weight_decay * x from it, and reads its lr every step.
// With momentum > 0, W(k) must be symmetric at every step (refused otherwise): on a directed graph
// the momentum on the consensus term (x - Wx)/lr is unstable (see the constructor).
// A step with lr == 0 (e.g. the first step of a warm-up from 0) leaves x and m unchanged (ĝ is not
// defined there) and sends nothing.
#pragma once

#include "gossamer/optim/distributed_optimizer.h"

namespace gossamer::topology {
class Topology;
}

namespace gossamer::optim {

class DecentLam : public DistributedOptimizer {
 public:
  DecentLam(std::vector<at::Tensor> params, comm::Communicator& comm, std::unique_ptr<torch::optim::Optimizer> local,
            const topology::Topology& topology);
  void step() override;
  std::string name() const override { return "decentlam"; }
  bool gossips() const override { return true; }
  std::map<std::string, at::Tensor> state() const override;
  void load_state(const std::map<std::string, at::Tensor>& state) override;
  std::string exact_mixing_need() const override;

 protected:
  std::vector<at::Tensor> algorithm_state_tensors() override;

 private:
  const topology::Topology& topology_;
  double beta_ = 0.0;
  double weight_decay_ = 0.0;
  std::vector<at::Tensor> momentum_;  // m_i per parameter; empty before the first step
};

}  // namespace gossamer::optim
