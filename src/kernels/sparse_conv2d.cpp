// Autograd for the sparse convolution (sparse_conv2d.h): a hand-written autograd Node, as for
// sparse_linear, holding the sparse weight by shared_ptr and x as a saved variable.
#include "gossamer/kernels/sparse_conv2d.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/csrc/autograd/saved_variable.h>

#include <stdexcept>
#include <string>

#include "gossamer/kernels/detail.h"

namespace gossamer::kernels {

namespace {

namespace ag = torch::autograd;

struct SparseConv2dBackward : public ag::Node {
  std::shared_ptr<const SparseConvWeight> weight;
  ag::SavedVariable x;  // only when the weight gradient is needed
  std::array<int64_t, 2> input_hw{0, 0};
  ConvGeometry geometry;
  bool dense_grad = false;  // return the weight gradient as a dense [out, in, kh, kw] tensor

  std::string name() const override { return "gossamer::kernels::SparseConv2dBackward"; }

  ag::variable_list apply(ag::variable_list&& grads) override {
    ag::variable_list out(3);
    if (!grads[0].defined()) return out;
    const bool need_x = should_compute_output(0), need_w = should_compute_output(1),
               need_b = should_compute_output(2);
    const at::Tensor& g = grads[0];
    at::Tensor xv = need_w ? x.unpack() : at::Tensor();
    SparseConvGrads r = sparse_conv2d_backward(g, xv, input_hw, *weight, geometry, need_x, need_w);
    if (need_x) out[0] = r.input;
    if (need_w) out[1] = dense_grad ? sparse_conv_scatter_to_dense(*weight, r.values) : r.values;
    if (need_b) out[2] = g.sum({0, 2, 3});
    return out;
  }

  void release_variables() override {
    x.reset_data();
    weight.reset();
  }
};

at::Tensor run(const at::Tensor& x, const at::Tensor& param, const std::shared_ptr<const SparseConvWeight>& w,
               const at::Tensor& bias, const ConvGeometry& g, bool dense_grad, const char* who) {
  if (!w) throw std::invalid_argument(std::string(who) + ": the sparse weight is null");
  if (!x.defined() || x.dim() != 4) {
    throw std::invalid_argument(std::string(who) + ": input must be 4-D [n, " + std::to_string(w->in_channels) +
                                ", h, w], got " + detail::shape_of(x));
  }
  const bool grad = ag::GradMode::is_enabled() &&
                    (x.requires_grad() || param.requires_grad() || (bias.defined() && bias.requires_grad()));
  at::Tensor y;
  {
    at::NoGradGuard no_grad;
    y = sparse_conv2d_forward(x.detach(), *w, bias.defined() ? bias.detach() : at::Tensor(), g);
  }
  if (!grad) return y;
  auto node = std::shared_ptr<SparseConv2dBackward>(new SparseConv2dBackward(), ag::deleteNode);
  node->set_next_edges(ag::collect_next_edges(x, param, bias));
  node->weight = w;
  node->input_hw = {x.size(2), x.size(3)};
  node->geometry = g;
  node->dense_grad = dense_grad;
  if (node->should_compute_output(1)) node->x = ag::SavedVariable(x, false);
  ag::set_history(y, node);
  return y;
}

}  // namespace

at::Tensor sparse_conv2d(const at::Tensor& x, const std::shared_ptr<const SparseConvWeight>& w, const at::Tensor& bias,
                         const ConvGeometry& g) {
  return run(x, w ? w->csr.values : at::Tensor(), w, bias, g, false, "sparse_conv2d");
}

at::Tensor sparse_conv2d_dense_grad(const at::Tensor& x, const at::Tensor& weight,
                                    const std::shared_ptr<const SparseConvWeight>& w, const at::Tensor& bias,
                                    const ConvGeometry& g) {
  if (w && (!weight.defined() || weight.dim() != 4 || weight.size(0) != w->out_channels ||
            weight.size(1) != w->in_channels || weight.size(2) != w->kernel_h || weight.size(3) != w->kernel_w)) {
    throw std::invalid_argument("sparse_conv2d_dense_grad: weight " + detail::shape_of(weight) +
                                " must match the sparse pattern [" + std::to_string(w->out_channels) + ", " +
                                std::to_string(w->in_channels) + ", " + std::to_string(w->kernel_h) + ", " +
                                std::to_string(w->kernel_w) + "]");
  }
  return run(x, weight, w, bias, g, true, "sparse_conv2d_dense_grad");
}

}  // namespace gossamer::kernels
