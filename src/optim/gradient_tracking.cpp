#include "gossamer/optim/gradient_tracking.h"

#include <torch/torch.h>

#include "gossamer/comm/communicator.h"
#include "gossamer/optim/detail.h"
#include "gossamer/topology/analysis.h"
#include "gossamer/topology/topology.h"

namespace gossamer::optim {

GradientTracking::GradientTracking(std::vector<at::Tensor> params, comm::Communicator& comm,
                                   std::unique_ptr<torch::optim::Optimizer> local, const topology::Topology& topology)
    : DistributedOptimizer(std::move(params), comm, std::move(local)), topology_(topology) {
  detail::require_matching_size(topology_, comm, "gradient-tracking");
  // Column sums of 1 keep sum_i y_i = sum_i g_i (the tracking invariant); row sums of 1 give consensus.
  if (!topology::is_doubly_stochastic(topology_)) {
    throw std::invalid_argument("gradient-tracking: topology '" + topology_.name() +
                                "' is not doubly stochastic (" +
                                topology::stochasticity_violation(topology_, true, true) + ")");
  }
  weight_decay_ = detail::require_plain_sgd(*local_, "gradient-tracking", /*allow_momentum=*/false).weight_decay;
}

void GradientTracking::step() {
  torch::NoGradGuard no_grad;
  const double a = lr();
  const bool first = y_mixed_.empty();
  if (first) {
    y_mixed_.resize(params_.size());
    g_prev_.resize(params_.size());
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor& x = params_[i];
    at::Tensor g = grad(i);
    if (weight_decay_ != 0.0) g = g + weight_decay_ * x;
    at::Tensor y = first ? g.clone() : y_mixed_[i] + g - g_prev_[i];
    at::Tensor buf = at::stack({x, y}).contiguous();  // [2, ...]: one message carries x and y
    seam_.mix(buf, topology_, step_);
    x.copy_(buf[0] - a * y);
    y_mixed_[i] = buf[1].clone();
    g_prev_[i] = g.clone();
  }
  ++step_;
}

std::map<std::string, at::Tensor> GradientTracking::state() const {
  auto s = DistributedOptimizer::state();
  put_tensors(s, "gradient-tracking.y_mixed", y_mixed_);
  put_tensors(s, "gradient-tracking.g_prev", g_prev_);
  return s;
}

void GradientTracking::load_state(const std::map<std::string, at::Tensor>& state) {
  DistributedOptimizer::load_state(state);
  y_mixed_.clear();
  g_prev_.clear();
  if (step_ > 0) {
    y_mixed_ = take_tensors(state, "gradient-tracking.y_mixed");
    g_prev_ = take_tensors(state, "gradient-tracking.g_prev");
  }
}

std::vector<at::Tensor> GradientTracking::algorithm_state_tensors() { return defined_tensors({&y_mixed_, &g_prev_}); }

std::string GradientTracking::exact_mixing_need() const {
  return "its trackers keep sum_i y_i = sum_i g_i, which holds only when W is applied exactly";
}

}  // namespace gossamer::optim
