#include "gossamer/optim/dadam.h"

#include <torch/torch.h>

#include <cmath>

#include "gossamer/comm/communicator.h"
#include "gossamer/optim/detail.h"
#include "gossamer/topology/analysis.h"
#include "gossamer/topology/topology.h"

namespace gossamer::optim {

void DAdamOptions::validate() const {
  if (!(beta1 >= 0.0 && beta1 < 1.0)) {
    throw std::invalid_argument("DAdamOptions.beta1 = " + std::to_string(beta1) + ": must be in [0, 1)");
  }
  if (!(beta2 >= 0.0 && beta2 < 1.0)) {
    throw std::invalid_argument("DAdamOptions.beta2 = " + std::to_string(beta2) + ": must be in [0, 1)");
  }
  if (!(eps > 0.0)) throw std::invalid_argument("DAdamOptions.eps = " + std::to_string(eps) + ": must be > 0");
  if (accumulation < 1) {
    throw std::invalid_argument("DAdamOptions.accumulation = " + std::to_string(accumulation) + ": must be >= 1");
  }
}

DAdam::DAdam(std::vector<at::Tensor> params, comm::Communicator& comm, std::unique_ptr<torch::optim::Optimizer> local,
             const topology::Topology& topology, DAdamOptions options)
    : DistributedOptimizer(std::move(params), comm, std::move(local)), topology_(topology), options_(options) {
  options_.validate();
  detail::require_matching_size(topology_, comm, "dadam");
  if (options_.tracking && !topology::is_doubly_stochastic(topology_)) {
    throw std::invalid_argument("dadam: tracking = true needs a doubly stochastic W; topology '" + topology_.name() +
                                "' is not (" + topology::stochasticity_violation(topology_, true, true) + ")");
  }
  weight_decay_ = detail::require_plain_sgd(*local_, "dadam", /*allow_momentum=*/false).weight_decay;
}

void DAdam::step() {
  torch::NoGradGuard no_grad;
  const double a = lr();
  const bool first = m_.empty();
  const int64_t A = options_.accumulation;
  if (first) {
    m_.resize(params_.size());
    v_.resize(params_.size());
    if (A > 1) y_sum_.resize(params_.size());
    if (options_.tracking) {
      y_mixed_.resize(params_.size());
      g_prev_.resize(params_.size());
    }
  }
  const double b1 = options_.beta1, b2 = options_.beta2;
  const double c = static_cast<double>((step_ + A) / A);  // ceil((k + 1) / A): refreshes so far, counting this one
  const double c1 = 1.0 - std::pow(b1, c);
  const double c2 = 1.0 - std::pow(b2, c);
  const bool refresh = (step_ + 1) % A == 0;
  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor& x = params_[i];
    at::Tensor g = grad(i);
    if (weight_decay_ != 0.0) g = g + weight_decay_ * x;
    at::Tensor y = g;
    if (options_.tracking) y = first ? g.clone() : y_mixed_[i] + g - g_prev_[i];
    if (first) {
      m_[i] = at::zeros_like(x);
      v_[i] = at::zeros_like(x);
      if (A > 1) y_sum_[i] = at::zeros_like(x);
    }
    // This step's moments: the refreshed ones plus this step's y. For A = 1 they are the new M, V,
    // updated in place (no temporaries on the common path).
    at::Tensor m_step, v_step;
    if (A == 1) {
      m_step = m_[i].mul_(b1).add_(y, 1.0 - b1);
      v_step = v_[i].mul_(b2).addcmul_(y, y, 1.0 - b2);
    } else {
      m_step = b1 * m_[i] + (1.0 - b1) * y;
      v_step = b2 * v_[i] + (1.0 - b2) * y * y;
    }
    at::Tensor d = (m_step / c1) / ((v_step / c2).sqrt() + options_.eps);
    if (A > 1) {
      y_sum_[i].add_(y);
      if (refresh) {
        at::Tensor y_mean = y_sum_[i] / static_cast<double>(A);
        m_[i].mul_(b1).add_(y_mean, 1.0 - b1);
        v_[i].mul_(b2).addcmul_(y_mean, y_mean, 1.0 - b2);
        y_sum_[i].zero_();
      }
    }
    // What is mixed: the adapted model (ATC) or the current one (CTA), with the tracker if any.
    at::Tensor z = options_.adapt_then_combine ? x - a * d : x.clone();
    if (options_.tracking) {
      at::Tensor buf = at::stack({z, y}).contiguous();  // one message carries the model and the tracker
      seam_.mix(buf, topology_, step_);
      z = buf[0];
      y_mixed_[i] = buf[1].clone();
      g_prev_[i] = g.clone();
    } else {
      seam_.mix(z, topology_, step_);
    }
    if (options_.adapt_then_combine) {
      x.copy_(z);
    } else {
      x.copy_(z - a * d);
    }
  }
  ++step_;
}

std::map<std::string, at::Tensor> DAdam::state() const {
  auto s = DistributedOptimizer::state();
  put_tensors(s, "dadam.m", m_);
  put_tensors(s, "dadam.v", v_);
  put_tensors(s, "dadam.y_sum", y_sum_);
  put_tensors(s, "dadam.y_mixed", y_mixed_);
  put_tensors(s, "dadam.g_prev", g_prev_);
  return s;
}

void DAdam::load_state(const std::map<std::string, at::Tensor>& state) {
  DistributedOptimizer::load_state(state);
  m_.clear();
  v_.clear();
  y_sum_.clear();
  y_mixed_.clear();
  g_prev_.clear();
  if (step_ == 0) return;
  m_ = take_tensors(state, "dadam.m");
  v_ = take_tensors(state, "dadam.v");
  if (options_.accumulation > 1) y_sum_ = take_tensors(state, "dadam.y_sum");
  if (options_.tracking) {
    y_mixed_ = take_tensors(state, "dadam.y_mixed");
    g_prev_ = take_tensors(state, "dadam.g_prev");
  }
}

std::vector<at::Tensor> DAdam::algorithm_state_tensors() {
  return defined_tensors({&m_, &v_, &y_sum_, &y_mixed_, &g_prev_});
}

std::string DAdam::exact_mixing_need() const {
  return options_.tracking ? "tracking = true keeps sum_i y_i = sum_i g_i, which holds only when W is applied exactly" : "";
}

}  // namespace gossamer::optim
