// SparseLinear (sparse_linear_module.h): dense weight + mask, CSR kernels when measured faster.
#include "gossamer/kernels/sparse_linear_module.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <cmath>
#include <limits>
#include <ostream>
#include <stdexcept>
#include <string>

#include "gossamer/kernels/detail.h"
#include "gossamer/kernels/path_timing.h"
#include "gossamer/kernels/sparse_linear.h"

namespace gossamer::kernels {

SparseLinearImpl::SparseLinearImpl(const SparseLinearOptions& options) : options_(options) {
  if (options_.in_features() < 1 || options_.out_features() < 1 || options_.timing_reps() < 1) {
    throw std::invalid_argument("SparseLinear: need in_features >= 1, out_features >= 1 and timing_reps >= 1, got " +
                                std::to_string(options_.in_features()) + ", " +
                                std::to_string(options_.out_features()) + ", " +
                                std::to_string(options_.timing_reps()));
  }
  reset();
}

void SparseLinearImpl::reset() {
  const int64_t in = options_.in_features(), out = options_.out_features();
  // The same initialisation as torch::nn::Linear (kaiming_uniform with a = sqrt(5)).
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  weight = register_parameter("weight", at::empty({out, in}, at::kFloat).uniform_(-bound, bound));
  if (options_.bias()) {
    bias = register_parameter("bias", at::empty({out}, at::kFloat).uniform_(-bound, bound));
  } else {
    bias = at::Tensor();
  }
  mask_ = register_buffer("mask", at::ones({out, in}, at::kBool));
  csr_.reset();
  timings_.clear();
}

void SparseLinearImpl::set_mask(const at::Tensor& mask) {
  at::Tensor m = detail::mask_as_bool(mask, weight, "SparseLinear::set_mask");
  mask_.set_data(m.clone());
  csr_.reset();  // structure changes: rebuild and re-measure at the next forward
  timings_.clear();
}

void SparseLinearImpl::refresh() {
  const bool mask_changed = !csr_ || mask_._version() != mask_version_ || mask_.data_ptr() != mask_data_;
  if (mask_changed) {
    csr_ = std::make_shared<CsrWeight>(csr_from_dense(weight.detach(), mask_));
    if (mask_data_ != nullptr && (mask_._version() != mask_version_ || mask_.data_ptr() != mask_data_))
      timings_.clear();
  } else if (weight._version() != weight_version_ || weight.data_ptr() != weight_data_) {
    // A graph that has not run its backward yet still holds the old weight: copy, don't mutate.
    if (csr_.use_count() > 1) csr_ = std::make_shared<CsrWeight>(*csr_);
    csr_update_values(*csr_, weight.detach());
  }
  mask_version_ = mask_._version();
  mask_data_ = mask_.data_ptr();
  weight_version_ = weight._version();
  weight_data_ = weight.data_ptr();
}

std::shared_ptr<const CsrWeight> SparseLinearImpl::csr() {
  refresh();
  return csr_;
}

at::Tensor SparseLinearImpl::dense_path(const at::Tensor& x) {
  return at::linear(x, weight * mask_, bias.defined() ? bias : at::Tensor());
}

at::Tensor SparseLinearImpl::sparse_path(const at::Tensor& x) {
  refresh();
  return sparse_linear_dense_grad(x, weight, csr_, bias);
}

void SparseLinearImpl::measure(int64_t batch, bool training) {
  refresh();
  at::Tensor x = at::empty({batch, options_.in_features()}, at::kFloat).uniform_(-1, 1);
  if (training) x.requires_grad_(true);
  const PathTimes pt = time_paths(
      [&](bool sparse) {
        at::Tensor y = sparse ? sparse_path(x) : dense_path(x);
        if (training) {
          std::vector<at::Tensor> inputs{x, weight};
          if (bias.defined()) inputs.push_back(bias);
          // autograd::grad, not backward: the timing must not accumulate into weight.grad.
          torch::autograd::grad({y}, inputs, {at::ones_like(y)});
        }
      },
      options_.timing_reps());
  Timing t;
  t.dense_s = pt.dense_s;
  t.sparse_s = pt.sparse_s;
  t.sparse = pt.sparse_faster();
  timings_[{batch, training}] = t;
}

bool SparseLinearImpl::uses_sparse(int64_t batch, bool training) {
  switch (options_.mode()) {
    case SparseLinearMode::kDense:
      return false;
    case SparseLinearMode::kSparse:
      return true;
    case SparseLinearMode::kAuto:
      break;
  }
  refresh();  // a changed mask clears the timings
  auto it = timings_.find({batch, training});
  if (it == timings_.end()) {
    measure(batch, training);
    it = timings_.find({batch, training});
  }
  return it->second.sparse;
}

std::pair<double, double> SparseLinearImpl::measured(int64_t batch, bool training) const {
  auto it = timings_.find({batch, training});
  if (it == timings_.end()) return {0.0, 0.0};
  return {it->second.dense_s, it->second.sparse_s};
}

at::Tensor SparseLinearImpl::forward(const at::Tensor& x) {
  detail::check_activations(x, options_.in_features(), "SparseLinear::forward", "x");
  const bool training = torch::autograd::GradMode::is_enabled() &&
                        (x.requires_grad() || weight.requires_grad() || (bias.defined() && bias.requires_grad()));
  last_sparse_ = uses_sparse(x.size(0), training);
  return last_sparse_ ? sparse_path(x) : dense_path(x);
}

void SparseLinearImpl::pretty_print(std::ostream& stream) const {
  const double density = mask_.defined() ? mask_.to(at::kFloat).mean().item<double>() : 1.0;
  stream << "gossamer::kernels::SparseLinear(in_features=" << options_.in_features()
         << ", out_features=" << options_.out_features() << ", bias=" << (options_.bias() ? "true" : "false")
         << ", density=" << density << ")";
}

}  // namespace gossamer::kernels
