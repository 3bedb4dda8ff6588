#include "gossamer/optim/exact_diffusion.h"

#include <torch/torch.h>

#include "gossamer/comm/communicator.h"
#include "gossamer/optim/detail.h"
#include "gossamer/topology/analysis.h"
#include "gossamer/topology/topology.h"

namespace gossamer::optim {

ExactDiffusion::ExactDiffusion(std::vector<at::Tensor> params, comm::Communicator& comm,
                               std::unique_ptr<torch::optim::Optimizer> local, const topology::Topology& topology)
    : DistributedOptimizer(std::move(params), comm, std::move(local)), topology_(topology) {
  detail::require_matching_size(topology_, comm, "d2");
  if (!topology::is_symmetric(topology_)) {
    throw std::invalid_argument(
        "d2: needs a symmetric mixing matrix W (it mixes with W̄ = (W + I)/2, whose eigenvalues must be real and "
        "in (0, 1]); topology '" + topology_.name() +
        "' is not symmetric at some step: use ring, torus, hypercube, complete, star, erdos-renyi, an undirected "
        "edge-list (metropolis weights) or random-gossip, or use gradient-tracking, which accepts directed graphs");
  }
  if (!topology::is_doubly_stochastic(topology_)) {
    throw std::invalid_argument("d2: topology '" + topology_.name() + "' is not doubly stochastic (" +
                                topology::stochasticity_violation(topology_, true, true) + ")");
  }
  weight_decay_ = detail::require_plain_sgd(*local_, "d2", /*allow_momentum=*/false).weight_decay;
}

void ExactDiffusion::step() {
  torch::NoGradGuard no_grad;
  const double a = lr();
  const bool first = psi_.empty();
  if (first) psi_.resize(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor& x = params_[i];
    at::Tensor g = grad(i);
    if (weight_decay_ != 0.0) g = g + weight_decay_ * x;
    at::Tensor psi_new = x - a * g;
    // ψ^0 = x^0, so the first correction vanishes: φ^1 = ψ^1.
    at::Tensor phi = first ? psi_new.clone() : psi_new + x - psi_[i];
    at::Tensor mixed = phi.clone();
    seam_.mix(mixed, topology_, step_);
    x.copy_((mixed + phi) * 0.5);  // W̄ φ = (W φ + φ) / 2
    psi_[i] = psi_new;
  }
  ++step_;
}

std::map<std::string, at::Tensor> ExactDiffusion::state() const {
  auto s = DistributedOptimizer::state();
  put_tensors(s, "d2.psi", psi_);
  return s;
}

void ExactDiffusion::load_state(const std::map<std::string, at::Tensor>& state) {
  DistributedOptimizer::load_state(state);
  psi_.clear();
  if (step_ > 0) psi_ = take_tensors(state, "d2.psi");
}

std::vector<at::Tensor> ExactDiffusion::algorithm_state_tensors() { return defined_tensors({&psi_}); }

std::string ExactDiffusion::exact_mixing_need() const {
  return "its correction x - psi cancels the consensus error only when every mix is exactly W";
}

}  // namespace gossamer::optim
