#include "gossamer/optim/decentlam.h"

#include <torch/torch.h>

#include "gossamer/comm/communicator.h"
#include "gossamer/optim/detail.h"
#include "gossamer/topology/topology.h"

namespace gossamer::optim {

DecentLam::DecentLam(std::vector<at::Tensor> params, comm::Communicator& comm,
                     std::unique_ptr<torch::optim::Optimizer> local, const topology::Topology& topology)
    : DistributedOptimizer(std::move(params), comm, std::move(local)), topology_(topology) {
  detail::require_matching_size(topology_, comm, "decentlam");
  auto sgd = detail::require_plain_sgd(*local_, "decentlam", /*allow_momentum=*/true);
  beta_ = sgd.momentum;
  weight_decay_ = sgd.weight_decay;
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
    comm_.neighbor_allreduce(y, topology_, step_);
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

}  // namespace gossamer::optim
