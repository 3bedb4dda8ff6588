#include "gossamer/optim/diloco.h"

#include <torch/torch.h>

#include "gossamer/comm/communicator.h"

namespace gossamer::optim {

void DilocoOptions::validate() const {
  if (period < 1) {
    throw std::invalid_argument("DilocoOptions.period = " + std::to_string(period) +
                                ": must be >= 1 (inner steps per outer step)");
  }
  if (!(outer_lr > 0.0)) {
    throw std::invalid_argument("DilocoOptions.outer_lr = " + std::to_string(outer_lr) + ": must be > 0 (paper: 0.7)");
  }
  if (!(outer_momentum >= 0.0 && outer_momentum < 1.0)) {
    throw std::invalid_argument("DilocoOptions.outer_momentum = " + std::to_string(outer_momentum) +
                                ": must be in [0, 1) (paper: 0.9)");
  }
}

Diloco::Diloco(std::vector<at::Tensor> params, comm::Communicator& comm, std::unique_ptr<torch::optim::Optimizer> local,
               DilocoOptions options)
    : DistributedOptimizer(std::move(params), comm, std::move(local)), options_(options) {
  options_.validate();
}

void Diloco::step() {
  if (anchor_.empty()) {
    torch::NoGradGuard no_grad;
    for (const auto& p : params_) anchor_.push_back(p.detach().clone());
  }
  local_->step();
  if ((step_ + 1) % options_.period == 0) {
    torch::NoGradGuard no_grad;
    const double mu = options_.outer_momentum;
    const bool first_outer = outer_momentum_.empty();
    if (first_outer) outer_momentum_.resize(params_.size());
    for (size_t i = 0; i < params_.size(); ++i) {
      at::Tensor mean = params_[i].detach().clone();
      seam_.average(mean);
      at::Tensor delta = anchor_[i] - mean;  // the outer "gradient"
      at::Tensor direction = delta;
      if (mu != 0.0) {
        if (first_outer) {
          outer_momentum_[i] = delta.clone();
        } else {
          outer_momentum_[i].mul_(mu).add_(delta);
        }
        direction = options_.nesterov ? delta + mu * outer_momentum_[i] : outer_momentum_[i];
      }
      anchor_[i].sub_(options_.outer_lr * direction);
      params_[i].copy_(anchor_[i]);
    }
  }
  ++step_;
}

std::map<std::string, at::Tensor> Diloco::state() const {
  auto s = DistributedOptimizer::state();
  put_tensors(s, "diloco.anchor", anchor_);
  put_tensors(s, "diloco.outer_momentum", outer_momentum_);
  return s;
}

void Diloco::load_state(const std::map<std::string, at::Tensor>& state) {
  DistributedOptimizer::load_state(state);
  anchor_.clear();
  outer_momentum_.clear();
  if (step_ > 0) anchor_ = take_tensors(state, "diloco.anchor");
  if (has_tensors(state, "diloco.outer_momentum")) outer_momentum_ = take_tensors(state, "diloco.outer_momentum");
}

std::vector<at::Tensor> Diloco::algorithm_state_tensors() { return defined_tensors({&anchor_, &outer_momentum_}); }

}  // namespace gossamer::optim
