// D² / Exact-Diffusion (Yuan et al., arXiv 2105.08023 and references there): removes the bias that
// data heterogeneity causes in D-SGD, so with deterministic gradients and a constant step it
// converges to the exact minimiser of sum_i f_i.
//   W̄ = (W + I) / 2 (eigenvalues of a symmetric doubly stochastic W lie in (-1, 1], W̄'s in (0, 1])
//   ψ^{k+1} = x^k - lr_k * g^k              (adapt)
//   φ^{k+1} = ψ^{k+1} + x^k - ψ^k  (ψ^0 = x^0)  (correct)
//   x^{k+1} = W̄ φ^{k+1}                     (combine; W̄ φ = (W φ + φ) / 2, one neighbour exchange)
// With a constant lr this is x^1 = W̄(x^0 - lr g^0), x^{k+1} = W̄(2x^k - x^{k-1} - lr(g^k - g^{k-1})).
// Requirements: a symmetric doubly stochastic W at every step (checked; std::invalid_argument
// otherwise) and a plain SGD local optimizer (momentum 0): "lr * g" is the plain gradient step,
// with g = grad + weight_decay * x (the SGD's L2 weight decay). With momentum or Adam the update
// is not defined, so it is refused rather than guessed.
#pragma once

#include "gossamer/optim/distributed_optimizer.h"

namespace gossamer::topology {
class Topology;
}

namespace gossamer::optim {

class ExactDiffusion : public DistributedOptimizer {
 public:
  ExactDiffusion(std::vector<at::Tensor> params, comm::Communicator& comm,
                 std::unique_ptr<torch::optim::Optimizer> local, const topology::Topology& topology);
  void step() override;
  std::string name() const override { return "d2"; }
  bool gossips() const override { return true; }
  std::map<std::string, at::Tensor> state() const override;
  void load_state(const std::map<std::string, at::Tensor>& state) override;
  std::string exact_mixing_need() const override;

 protected:
  std::vector<at::Tensor> algorithm_state_tensors() override;

 private:
  const topology::Topology& topology_;
  double weight_decay_ = 0.0;
  std::vector<at::Tensor> psi_;  // ψ^k per parameter; empty before the first step
};

}  // namespace gossamer::optim
