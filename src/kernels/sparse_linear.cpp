// Autograd for the sparse linear functions (sparse_linear.h): a hand-written autograd Node, like
// the ones LibTorch generates, so that the backward can hold the sparse weight by shared_ptr and
// reuse the panels of x packed by the forward.
#include "gossamer/kernels/sparse_linear.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <stdexcept>
#include <string>

#include "gossamer/kernels/detail.h"
#include "gossamer/kernels/spmm.h"

namespace gossamer::kernels {

namespace {

namespace ag = torch::autograd;

// The format-specific operations, so that one Node serves both formats.
at::Tensor fwd(const Panels& x, const CsrWeight& w, const at::Tensor& b) { return csr_forward(x, w, b); }
at::Tensor fwd(const Panels& x, const NmWeight& w, const at::Tensor& b) { return nm_forward(x, w, b); }
at::Tensor dx_of(const Panels& g, const CsrWeight& w) { return csr_input_grad(g, w); }
at::Tensor dx_of(const Panels& g, const NmWeight& w) { return nm_input_grad(g, w); }
at::Tensor dw_of(const Panels& g, const Panels& x, const CsrWeight& w) { return csr_weight_grad(g, x, w); }
at::Tensor dw_of(const Panels& g, const Panels& x, const NmWeight& w) { return nm_weight_grad(g, x, w); }
at::Tensor to_dense(const CsrWeight& w, const at::Tensor& v) { return csr_scatter_to_dense(w, v); }
at::Tensor to_dense(const NmWeight& w, const at::Tensor& v) { return nm_scatter_to_dense(w, v); }
int64_t rows_of(const CsrWeight& w) { return w.rows; }
int64_t rows_of(const NmWeight& w) { return w.rows; }
int64_t cols_of(const CsrWeight& w) { return w.cols; }
int64_t cols_of(const NmWeight& w) { return w.cols; }

template <class W>
struct SparseLinearBackward : public ag::Node {
  std::shared_ptr<const W> weight;
  Panels x;                   // packed input, only when the weight gradient is needed
  bool dense_grad = false;    // return the weight gradient as a dense [out, in] tensor
  at::ScalarType x_dtype = at::kFloat;

  std::string name() const override { return "gossamer::kernels::SparseLinearBackward"; }

  ag::variable_list apply(ag::variable_list&& grads) override {
    ag::variable_list out(3);
    if (!grads[0].defined()) return out;
    at::Tensor g = grads[0].contiguous();
    const bool need_x = should_compute_output(0), need_w = should_compute_output(1),
               need_b = should_compute_output(2);
    // One packing of dY serves both products; its width must match x's for the weight gradient.
    Panels gp = pack_panels(g, need_w ? x.width : 0);
    if (need_x) out[0] = dx_of(gp, *weight);
    if (need_w) {
      at::Tensor dv = dw_of(gp, x, *weight);
      out[1] = dense_grad ? to_dense(*weight, dv) : dv.view(weight->values.sizes());
    }
    if (need_b) out[2] = g.sum(0);
    return out;
  }

  void release_variables() override {
    x = Panels();
    weight.reset();
  }
};

template <class W>
at::Tensor run(const at::Tensor& x, const at::Tensor& param, const std::shared_ptr<const W>& w,
               const at::Tensor& bias, bool dense_grad, const char* who) {
  if (!w) throw std::invalid_argument(std::string(who) + ": the sparse weight is null");
  detail::check_activations(x, cols_of(*w), who, "x");
  if (bias.defined() && (bias.dim() != 1 || bias.size(0) != rows_of(*w))) {
    throw std::invalid_argument(std::string(who) + ": bias must be [" + std::to_string(rows_of(*w)) +
                                "], got " + detail::shape_of(bias));
  }
  const bool grad = ag::GradMode::is_enabled() &&
                    (x.requires_grad() || param.requires_grad() || (bias.defined() && bias.requires_grad()));
  Panels xp = pack_panels(x.detach());
  at::Tensor y;
  {
    at::NoGradGuard no_grad;
    y = fwd(xp, *w, bias.defined() ? bias.detach().contiguous() : at::Tensor());
  }
  if (!grad) return y;
  auto node = std::shared_ptr<SparseLinearBackward<W>>(new SparseLinearBackward<W>(), ag::deleteNode);
  node->set_next_edges(ag::collect_next_edges(x, param, bias));
  node->weight = w;
  node->dense_grad = dense_grad;
  if (node->should_compute_output(1)) node->x = std::move(xp);
  ag::set_history(y, node);
  return y;
}

}  // namespace

at::Tensor sparse_linear(const at::Tensor& x, const std::shared_ptr<const CsrWeight>& w, const at::Tensor& bias) {
  return run(x, w ? w->values : at::Tensor(), w, bias, false, "sparse_linear");
}

at::Tensor sparse_linear(const at::Tensor& x, const std::shared_ptr<const NmWeight>& w, const at::Tensor& bias) {
  return run(x, w ? w->values : at::Tensor(), w, bias, false, "sparse_linear");
}

at::Tensor sparse_linear_dense_grad(const at::Tensor& x, const at::Tensor& weight,
                                    const std::shared_ptr<const CsrWeight>& w, const at::Tensor& bias) {
  if (w && (!weight.defined() || weight.dim() != 2 || weight.size(0) != w->rows || weight.size(1) != w->cols)) {
    throw std::invalid_argument("sparse_linear_dense_grad: weight " + detail::shape_of(weight) +
                                " must match the sparse pattern [" + std::to_string(w->rows) + ", " +
                                std::to_string(w->cols) + "]");
  }
  return run(x, weight, w, bias, true, "sparse_linear_dense_grad");
}

at::Tensor sparse_linear_dense_grad(const at::Tensor& x, const at::Tensor& weight,
                                    const std::shared_ptr<const NmWeight>& w, const at::Tensor& bias) {
  if (w && (!weight.defined() || weight.dim() != 2 || weight.size(0) != w->rows || weight.size(1) != w->cols)) {
    throw std::invalid_argument("sparse_linear_dense_grad: weight " + detail::shape_of(weight) +
                                " must match the sparse pattern [" + std::to_string(w->rows) + ", " +
                                std::to_string(w->cols) + "]");
  }
  return run(x, weight, w, bias, true, "sparse_linear_dense_grad");
}

}  // namespace gossamer::kernels
