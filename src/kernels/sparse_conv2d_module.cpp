// SparseConv2d (sparse_conv2d_module.h): dense weight + mask, sparse conv kernels when faster.
#include "gossamer/kernels/sparse_conv2d_module.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "gossamer/kernels/detail.h"
#include "gossamer/kernels/path_timing.h"
#include "gossamer/kernels/sparse_conv2d.h"

namespace gossamer::kernels {

namespace {

std::vector<int64_t> as_vec(const torch::ExpandingArray<2>& a) { return {(*a)[0], (*a)[1]}; }

// The mask as a contiguous bool tensor of the weight's shape (bool, or 0/1 of any dtype).
at::Tensor mask_for(const at::Tensor& mask, const at::Tensor& weight, const char* who) {
  if (!mask.defined() || mask.sizes() != weight.sizes()) {
    throw std::invalid_argument(std::string(who) + ": mask " + detail::shape_of(mask) +
                                " must have the weight's shape " + detail::shape_of(weight));
  }
  return detail::mask_as_bool(mask.reshape({weight.size(0), -1}), weight.reshape({weight.size(0), -1}), who)
      .view(weight.sizes());
}

SparseConv2dOptions options_from(const torch::nn::Conv2d& conv, SparseConv2dMode mode) {
  const char* who = "SparseConv2d(Conv2d, mask)";
  if (!conv) throw std::invalid_argument(std::string(who) + ": the Conv2d is empty");
  const auto& o = conv->options;
  if (o.groups() != 1) {
    throw std::invalid_argument(std::string(who) + ": groups = " + std::to_string(o.groups()) +
                                " is not supported (only 1)");
  }
  if (o.transposed()) throw std::invalid_argument(std::string(who) + ": transposed convolutions are not supported");
  if (!c10::get_if<torch::enumtype::kZeros>(&o.padding_mode())) {
    throw std::invalid_argument(std::string(who) + ": only padding_mode kZeros is supported, got " +
                                torch::enumtype::get_enum_name(o.padding_mode()));
  }
  torch::ExpandingArray<2> padding(0);
  if (const auto* p = c10::get_if<torch::ExpandingArray<2>>(&o.padding())) {
    padding = *p;
  } else if (!c10::get_if<torch::enumtype::kValid>(&o.padding())) {
    throw std::invalid_argument(std::string(who) + ": padding kSame is not supported; give the padding explicitly");
  }
  return SparseConv2dOptions(o.in_channels(), o.out_channels(), o.kernel_size())
      .stride(o.stride())
      .padding(padding)
      .dilation(o.dilation())
      .bias(o.bias())
      .mode(mode);
}

}  // namespace

ConvGeometry SparseConv2dOptions::geometry() const {
  ConvGeometry g;
  g.stride = {(*stride_)[0], (*stride_)[1]};
  g.padding = {(*padding_)[0], (*padding_)[1]};
  g.dilation = {(*dilation_)[0], (*dilation_)[1]};
  return g;
}

SparseConv2dImpl::SparseConv2dImpl(const SparseConv2dOptions& options) : options_(options) {
  const auto k = as_vec(options_.kernel_size());
  if (options_.in_channels() < 1 || options_.out_channels() < 1 || k[0] < 1 || k[1] < 1 ||
      options_.timing_reps() < 1) {
    throw std::invalid_argument("SparseConv2d: need in_channels, out_channels, kernel sizes and timing_reps >= 1, got " +
                                std::to_string(options_.in_channels()) + ", " + std::to_string(options_.out_channels()) +
                                ", " + std::to_string(k[0]) + "x" + std::to_string(k[1]) + ", " +
                                std::to_string(options_.timing_reps()));
  }
  // Validates stride / padding / dilation (an input as large as the dilated kernel always fits).
  (void)conv_output_size(k[0] * (*options_.dilation())[0], k[1] * (*options_.dilation())[1], k[0], k[1],
                         options_.geometry());
  reset();
}

SparseConv2dImpl::SparseConv2dImpl(const at::Tensor& w, const at::Tensor& mask, const at::Tensor& b,
                                   SparseConv2dOptions options)
    : SparseConv2dImpl([&] {
        if (!w.defined() || w.dim() != 4 || w.scalar_type() != at::kFloat) {
          throw std::invalid_argument("SparseConv2d: weight must be a 4-D float32 tensor [out, in, kh, kw], got " +
                                      detail::shape_of(w));
        }
        if (b.defined() && (b.dim() != 1 || b.size(0) != w.size(0))) {
          throw std::invalid_argument("SparseConv2d: bias must be [" + std::to_string(w.size(0)) + "], got " +
                                      detail::shape_of(b));
        }
        return options.in_channels(w.size(1))
            .out_channels(w.size(0))
            .kernel_size(torch::ExpandingArray<2>({w.size(2), w.size(3)}))
            .bias(b.defined());
      }()) {
  at::NoGradGuard no_grad;
  weight.copy_(w);
  if (b.defined()) bias.copy_(b);
  set_mask(mask);
}

SparseConv2dImpl::SparseConv2dImpl(const torch::nn::Conv2d& conv, const at::Tensor& mask, SparseConv2dMode mode)
    : SparseConv2dImpl(conv ? conv->weight.detach() : at::Tensor(), mask,
                       conv && conv->bias.defined() ? conv->bias.detach() : at::Tensor(), options_from(conv, mode)) {}

void SparseConv2dImpl::reset() {
  const auto k = as_vec(options_.kernel_size());
  const int64_t in = options_.in_channels(), out = options_.out_channels();
  // The same initialisation as torch::nn::Conv2d (kaiming_uniform with a = sqrt(5)).
  const double bound = 1.0 / std::sqrt(static_cast<double>(in * k[0] * k[1]));
  weight = register_parameter("weight", at::empty({out, in, k[0], k[1]}, at::kFloat).uniform_(-bound, bound));
  if (options_.bias()) {
    bias = register_parameter("bias", at::empty({out}, at::kFloat).uniform_(-bound, bound));
  } else {
    bias = at::Tensor();
  }
  mask_ = register_buffer("mask", at::ones({out, in, k[0], k[1]}, at::kBool));
  sparse_.reset();
  timings_.clear();
}

void SparseConv2dImpl::set_mask(const at::Tensor& mask) {
  at::Tensor m = mask_for(mask, weight, "SparseConv2d::set_mask");
  mask_.set_data(m.clone());
  sparse_.reset();  // structure changes: rebuild and re-measure at the next forward
  timings_.clear();
}

void SparseConv2dImpl::refresh() {
  const bool mask_changed = !sparse_ || mask_._version() != mask_version_ || mask_.data_ptr() != mask_data_;
  if (mask_changed) {
    sparse_ = std::make_shared<SparseConvWeight>(sparse_conv_weight(weight.detach(), mask_));
    if (mask_data_ != nullptr && (mask_._version() != mask_version_ || mask_.data_ptr() != mask_data_))
      timings_.clear();
  } else if (weight._version() != weight_version_ || weight.data_ptr() != weight_data_) {
    // A graph that has not run its backward yet still holds the old weight: copy, don't mutate.
    if (sparse_.use_count() > 1) sparse_ = std::make_shared<SparseConvWeight>(*sparse_);
    sparse_conv_update_values(*sparse_, weight.detach());
  }
  mask_version_ = mask_._version();
  mask_data_ = mask_.data_ptr();
  weight_version_ = weight._version();
  weight_data_ = weight.data_ptr();
}

std::shared_ptr<const SparseConvWeight> SparseConv2dImpl::sparse_weight() {
  refresh();
  return sparse_;
}

at::Tensor SparseConv2dImpl::dense_path(const at::Tensor& x) {
  return at::conv2d(x, weight * mask_, bias.defined() ? bias : at::Tensor(), as_vec(options_.stride()),
                    as_vec(options_.padding()), as_vec(options_.dilation()), 1);
}

at::Tensor SparseConv2dImpl::sparse_path(const at::Tensor& x) {
  refresh();
  return sparse_conv2d_dense_grad(x, weight, sparse_, bias, options_.geometry());
}

void SparseConv2dImpl::measure(const Key& key) {
  const auto [n, h, w, training, input_grad] = key;
  refresh();
  at::Tensor x = at::empty({n, options_.in_channels(), h, w}, at::kFloat).uniform_(-1, 1);
  if (input_grad) x.requires_grad_(true);
  const PathTimes pt = time_paths(
      [&](bool sparse) {
        at::Tensor y;
        {
          // Inference timings must not build a graph even though weight requires grad.
          c10::optional<at::NoGradGuard> no_grad;
          if (!training) no_grad.emplace();
          y = sparse ? sparse_path(x) : dense_path(x);
        }
        if (training) {
          std::vector<at::Tensor> inputs;
          if (weight.requires_grad()) inputs.push_back(weight);
          if (input_grad) inputs.push_back(x);
          if (bias.defined() && bias.requires_grad()) inputs.push_back(bias);
          // autograd::grad, not backward: the timing must not accumulate into weight.grad.
          torch::autograd::grad({y}, inputs, {at::ones_like(y)});
        }
      },
      options_.timing_reps());
  Timing t;
  t.dense_s = pt.dense_s;
  t.sparse_s = pt.sparse_s;
  t.sparse = pt.sparse_faster();
  timings_[key] = t;
}

bool SparseConv2dImpl::uses_sparse(const Key& key) {
  switch (options_.mode()) {
    case SparseConv2dMode::kDense:
      return false;
    case SparseConv2dMode::kSparse:
      return true;
    case SparseConv2dMode::kAuto:
      break;
  }
  refresh();  // a changed mask clears the timings
  auto it = timings_.find(key);
  if (it == timings_.end()) {
    measure(key);
    it = timings_.find(key);
  }
  return it->second.sparse;
}

std::pair<double, double> SparseConv2dImpl::measured(int64_t batch, int64_t h, int64_t w, bool training,
                                                     bool input_grad) const {
  auto it = timings_.find(Key{batch, h, w, training, training && input_grad});
  if (it == timings_.end()) return {0.0, 0.0};
  return {it->second.dense_s, it->second.sparse_s};
}

at::Tensor SparseConv2dImpl::forward(const at::Tensor& x) {
  if (!x.defined() || x.dim() != 4 || x.scalar_type() != at::kFloat || !x.device().is_cpu() ||
      x.size(1) != options_.in_channels()) {
    throw std::invalid_argument("SparseConv2d::forward: x must be a 4-D float32 CPU tensor [n, " +
                                std::to_string(options_.in_channels()) + ", h, w], got " + detail::shape_of(x));
  }
  const bool grad_mode = torch::autograd::GradMode::is_enabled();
  const bool input_grad = grad_mode && x.requires_grad();
  const bool training =
      grad_mode && (input_grad || weight.requires_grad() || (bias.defined() && bias.requires_grad()));
  last_sparse_ = uses_sparse(Key{x.size(0), x.size(2), x.size(3), training, input_grad});
  return last_sparse_ ? sparse_path(x) : dense_path(x);
}

void SparseConv2dImpl::pretty_print(std::ostream& stream) const {
  const double density = mask_.defined() ? mask_.to(at::kFloat).mean().item<double>() : 1.0;
  const auto k = as_vec(options_.kernel_size()), s = as_vec(options_.stride()), p = as_vec(options_.padding());
  stream << "gossamer::kernels::SparseConv2d(" << options_.in_channels() << ", " << options_.out_channels()
         << ", kernel_size=[" << k[0] << ", " << k[1] << "], stride=[" << s[0] << ", " << s[1] << "], padding=["
         << p[0] << ", " << p[1] << "], bias=" << (options_.bias() ? "true" : "false") << ", density=" << density
         << ")";
}

}  // namespace gossamer::kernels
