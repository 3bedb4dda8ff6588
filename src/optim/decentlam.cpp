#include "gossamer/optim/decentlam.h"

#include <torch/torch.h>

#include "gossamer/comm/communicator.h"
#include "gossamer/optim/detail.h"
#include "gossamer/topology/analysis.h"
#include "gossamer/topology/topology.h"

namespace gossamer::optim {

DecentLam::DecentLam(std::vector<at::Tensor> params, comm::Communicator& comm,
                     std::unique_ptr<torch::optim::Optimizer> local, const topology::Topology& topology)
    : DistributedOptimizer(std::move(params), comm, std::move(local)), topology_(topology) {
  detail::require_matching_size(topology_, comm, "decentlam");
  auto sgd = detail::require_plain_sgd(*local_, "decentlam", /*allow_momentum=*/true);
  beta_ = sgd.momentum;
  weight_decay_ = sgd.weight_decay;
  // The momentum also acts on the consensus part of ĝ, (x - Wx)/lr: per eigenvalue μ of I - W the
  // disagreement follows e^{k+1} = (1 + β - μ) e^k - β e^{k-1}, stable for real μ in [0, 2(1 + β)]
  // (symmetric W) but not for the complex μ of a directed W: with β = 0.9 the disagreement of the
  // static and one-peer exponential graphs grows ~1.25x and ~1.2x per step whatever the lr.
  if (beta_ > 0.0 && !topology::is_symmetric(topology_)) {
    throw std::invalid_argument(
        "decentlam: with momentum (" + std::to_string(beta_) + ") it needs a symmetric mixing matrix W; topology '" +
        topology_.name() +
        "' is directed at some step, where the momentum on the consensus term makes the models drift apart "
        "exponentially: use a symmetric topology (ring, torus, hypercube, complete, random-gossip, ...) or dsgd "
        "(DmSGD)");
  }
}

void DecentLam::step() {
  torch::NoGradGuard no_grad;
  const double a = lr();
  if (a < 0.0) throw std::invalid_argument("decentlam: learning rate " + std::to_string(a) + " must be >= 0");
  if (a == 0.0) {  // ĝ = (x - y)/lr is undefined; a zero step changes nothing (see header)
    ++step_;
    return;
  }
  const bool first = momentum_.empty();
  if (first) momentum_.resize(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor& x = params_[i];
    at::Tensor g = grad(i);
    if (weight_decay_ != 0.0) g = g + weight_decay_ * x;
    at::Tensor y = x - a * g;
    seam_.mix(y, topology_, step_);
    at::Tensor g_hat = (x - y) / a;
    if (first) {
      momentum_[i] = g_hat;
    } else {
      momentum_[i].mul_(beta_).add_(g_hat);
    }
    x.sub_(a * momentum_[i]);
  }
  ++step_;
}

std::map<std::string, at::Tensor> DecentLam::state() const {
  auto s = DistributedOptimizer::state();
  put_tensors(s, "decentlam.momentum", momentum_);
  return s;
}

void DecentLam::load_state(const std::map<std::string, at::Tensor>& state) {
  DistributedOptimizer::load_state(state);
  momentum_.clear();
  if (has_tensors(state, "decentlam.momentum")) momentum_ = take_tensors(state, "decentlam.momentum");
}

std::vector<at::Tensor> DecentLam::algorithm_state_tensors() { return defined_tensors({&momentum_}); }

std::string DecentLam::exact_mixing_need() const {
  return "its gradient estimate (x - W x) / lr is exact only when W is applied exactly";
}

}  // namespace gossamer::optim
