// Tensor-level sparse products (spmm.h): argument checks, packing, and the split of rows between
// threads. The arithmetic lives in raw_hwy.cpp.
#include "gossamer/kernels/spmm.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "gossamer/kernels/detail.h"
#include "gossamer/kernels/raw.h"

namespace gossamer::kernels {

namespace {

using detail::kSerialWork;

int64_t thread_parts(int64_t rows, int64_t work) {
  if (work < kSerialWork) return 1;
  return std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), rows));
}

template <class F>
void run_ranges(const std::vector<int64_t>& bounds, const F& f) {
  const int64_t parts = static_cast<int64_t>(bounds.size()) - 1;
  if (parts == 1) {
    f(bounds[0], bounds[1]);
    return;
  }
  at::parallel_for(0, parts, 1, [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) f(bounds[p], bounds[p + 1]);
  });
}

const float* check_bias(const at::Tensor& bias, int64_t out, const char* who) {
  if (!bias.defined()) return nullptr;
  if (bias.dim() != 1 || bias.size(0) != out || bias.scalar_type() != at::kFloat || !bias.is_contiguous()) {
    throw std::invalid_argument(std::string(who) + ": bias must be a contiguous float32 [" +
                                std::to_string(out) + "] tensor, got " + detail::shape_of(bias));
  }
  return bias.data_ptr<float>();
}

void check_panels(const Panels& p, int64_t k, const char* who, const char* what) {
  if (p.k != k) {
    throw std::invalid_argument(std::string(who) + ": " + what + " has " + std::to_string(p.k) +
                                " columns, the weight needs " + std::to_string(k));
  }
}

void check_pair(const Panels& g, const Panels& x, const char* who) {
  if (g.batch != x.batch || g.width != x.width) {
    throw std::invalid_argument(std::string(who) + ": grad_output (batch " + std::to_string(g.batch) +
                                ", width " + std::to_string(g.width) + ") and x (batch " +
                                std::to_string(x.batch) + ", width " + std::to_string(x.width) +
                                ") must have the same batch and panel width");
  }
}

}  // namespace

Panels pack_panels(const at::Tensor& a, int64_t width) {
  if (!a.defined() || a.dim() != 2 || a.scalar_type() != at::kFloat || !a.device().is_cpu()) {
    throw std::invalid_argument("pack_panels: activations must be a 2-D float32 CPU tensor, got " +
                                detail::shape_of(a));
  }
  Panels p;
  p.batch = a.size(0);
  p.k = a.size(1);
  const int64_t lanes = raw::simd_lanes();
  p.width = width > 0 ? width : raw::choose_panel_width(p.batch, p.k);
  if (p.width != lanes && p.width != 2 * lanes && p.width != 4 * lanes) {
    throw std::invalid_argument("pack_panels: width " + std::to_string(p.width) + " must be 1, 2 or 4 times " +
                                std::to_string(lanes) + " (the SIMD width of this CPU)");
  }
  const int64_t n_panels = (p.batch + p.width - 1) / p.width;
  p.data = at::empty({n_panels * p.k * p.width}, at::kFloat);
  if (n_panels == 0 || p.k == 0) return p;
  at::Tensor ac = a.contiguous();
  const float* src = ac.data_ptr<float>();
  float* dst = p.data.data_ptr<float>();
  const int64_t k = p.k, w = p.width, batch = p.batch;
  auto body = [&](int64_t p0, int64_t p1) { raw::pack_panels(src, batch, k, k, w, dst, p0, p1); };
  if (n_panels == 1 || batch * k < kSerialWork) body(0, n_panels);
  else at::parallel_for(0, n_panels, 1, body);
  return p;
}

// ---- CSR --------------------------------------------------------------------------------------

at::Tensor csr_forward(const Panels& x, const CsrWeight& w, const at::Tensor& bias) {
  check_panels(x, w.cols, "csr_forward", "x");
  const float* b = check_bias(bias, w.rows, "csr_forward");
  at::Tensor y = at::empty({x.batch, w.rows}, at::kFloat);
  if (x.batch == 0 || w.rows == 0) return y;
  const float* xp = x.data.data_ptr<float>();
  const float* vals = w.values.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  const auto bounds = detail::split_rows(w.row_ptr.data(), w.rows, thread_parts(w.rows, (w.nnz() + w.rows) * x.batch));
  run_ranges(bounds, [&](int64_t r0, int64_t r1) {
    raw::csr_spmm_panels(w.row_ptr.data(), w.col_idx.data(), vals, r0, r1, xp, x.batch, x.k, x.width, b,
                         yp, w.rows);
  });
  return y;
}

at::Tensor csr_forward(const at::Tensor& x, const CsrWeight& w, const at::Tensor& bias) {
  detail::check_activations(x, w.cols, "csr_forward", "x");
  return csr_forward(pack_panels(x), w, bias);
}

// Gather form over the transposed pattern: column i of W is a row of Wᵀ, so threads own disjoint
// columns of dX and no atomics or private copies are needed.
static at::Tensor transposed_product(const Panels& g, int64_t cols, const std::vector<int32_t>& t_row_ptr,
                                     const std::vector<int32_t>& t_col_idx, const std::vector<int32_t>& t_perm,
                                     const float* vals) {
  at::Tensor dx = at::empty({g.batch, cols}, at::kFloat);
  if (g.batch == 0 || cols == 0) return dx;
  const int64_t nnz = static_cast<int64_t>(t_col_idx.size());
  std::vector<float> vals_t(static_cast<size_t>(nnz));
  const float* gp = g.data.data_ptr<float>();
  float* dxp = dx.data_ptr<float>();
  const auto bounds = detail::split_rows(t_row_ptr.data(), cols, thread_parts(cols, (nnz + cols) * g.batch));
  run_ranges(bounds, [&](int64_t c0, int64_t c1) {
    for (int32_t j = t_row_ptr[c0]; j < t_row_ptr[c1]; ++j) vals_t[j] = vals[t_perm[j]];
    raw::csr_spmm_panels(t_row_ptr.data(), t_col_idx.data(), vals_t.data(), c0, c1, gp, g.batch, g.k, g.width,
                         nullptr, dxp, cols);
  });
  return dx;
}

at::Tensor csr_input_grad(const Panels& grad_out, const CsrWeight& w) {
  check_panels(grad_out, w.rows, "csr_input_grad", "grad_output");
  return transposed_product(grad_out, w.cols, w.t_row_ptr, w.t_col_idx, w.t_perm, w.values.data_ptr<float>());
}

at::Tensor csr_input_grad(const at::Tensor& grad_out, const CsrWeight& w) {
  detail::check_activations(grad_out, w.rows, "csr_input_grad", "grad_output");
  return csr_input_grad(pack_panels(grad_out), w);
}

at::Tensor csr_weight_grad(const Panels& g, const Panels& x, const CsrWeight& w) {
  check_panels(g, w.rows, "csr_weight_grad", "grad_output");
  check_panels(x, w.cols, "csr_weight_grad", "x");
  check_pair(g, x, "csr_weight_grad");
  at::Tensor out = at::empty({w.nnz()}, at::kFloat);
  if (w.nnz() == 0) return out;
  if (g.batch == 0) return out.zero_();
  const float* gp = g.data.data_ptr<float>();
  const float* xp = x.data.data_ptr<float>();
  float* op = out.data_ptr<float>();
  const auto bounds = detail::split_rows(w.row_ptr.data(), w.rows, thread_parts(w.rows, (w.nnz() + w.rows) * g.batch));
  run_ranges(bounds, [&](int64_t r0, int64_t r1) {
    raw::csr_sddmm_panels(w.row_ptr.data(), w.col_idx.data(), r0, r1, gp, g.k, xp, x.k, g.batch, g.width, op);
  });
  return out;
}

at::Tensor csr_weight_grad(const at::Tensor& grad_out, const at::Tensor& x, const CsrWeight& w) {
  detail::check_activations(grad_out, w.rows, "csr_weight_grad", "grad_output");
  detail::check_activations(x, w.cols, "csr_weight_grad", "x");
  if (grad_out.size(0) != x.size(0)) {
    throw std::invalid_argument("csr_weight_grad: grad_output " + detail::shape_of(grad_out) + " and x " +
                                detail::shape_of(x) + " must have the same batch");
  }
  Panels xp = pack_panels(x);
  return csr_weight_grad(pack_panels(grad_out, xp.width), xp, w);
}

// ---- N:M --------------------------------------------------------------------------------------

at::Tensor nm_forward(const Panels& x, const NmWeight& w, const at::Tensor& bias) {
  check_panels(x, w.cols, "nm_forward", "x");
  const float* b = check_bias(bias, w.rows, "nm_forward");
  at::Tensor y = at::empty({x.batch, w.rows}, at::kFloat);
  if (x.batch == 0 || w.rows == 0) return y;
  const float* xp = x.data.data_ptr<float>();
  const float* vals = w.values.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  // A second thread costs ~10-20 us to wake (OpenMP); below ~2M multiply-adds (100x300 and
  // 120x400 at batch 64, measured) one thread is faster.
  constexpr int64_t kNmSerialWork = 1 << 21;
  const int64_t work = (w.slots() + w.rows) * x.batch;
  const auto bounds = detail::split_rows(nullptr, w.rows, work < kNmSerialWork ? 1 : thread_parts(w.rows, work));
  run_ranges(bounds, [&](int64_t r0, int64_t r1) {
    raw::nm_spmm_panels(w.idx.data(), vals, w.n, w.m, w.slots_per_row(), r0, r1, xp, x.batch, x.k, x.width, b,
                        yp, w.rows);
  });
  return y;
}

at::Tensor nm_forward(const at::Tensor& x, const NmWeight& w, const at::Tensor& bias) {
  detail::check_activations(x, w.cols, "nm_forward", "x");
  return nm_forward(pack_panels(x), w, bias);
}

at::Tensor nm_input_grad(const Panels& grad_out, const NmWeight& w) {
  check_panels(grad_out, w.rows, "nm_input_grad", "grad_output");
  return transposed_product(grad_out, w.cols, w.t_row_ptr, w.t_col_idx, w.t_perm, w.values.data_ptr<float>());
}

at::Tensor nm_input_grad(const at::Tensor& grad_out, const NmWeight& w) {
  detail::check_activations(grad_out, w.rows, "nm_input_grad", "grad_output");
  return nm_input_grad(pack_panels(grad_out), w);
}

at::Tensor nm_weight_grad(const Panels& g, const Panels& x, const NmWeight& w) {
  check_panels(g, w.rows, "nm_weight_grad", "grad_output");
  check_panels(x, w.cols, "nm_weight_grad", "x");
  check_pair(g, x, "nm_weight_grad");
  at::Tensor out = at::empty({w.rows, w.slots_per_row()}, at::kFloat);
  if (w.slots() == 0) return out;
  if (g.batch == 0) return out.zero_();
  const float* gp = g.data.data_ptr<float>();
  const float* xp = x.data.data_ptr<float>();
  float* op = out.data_ptr<float>();
  const auto bounds = detail::split_rows(nullptr, w.rows, thread_parts(w.rows, (w.slots() + w.rows) * g.batch));
  run_ranges(bounds, [&](int64_t r0, int64_t r1) {
    raw::nm_sddmm_panels(w.idx.data(), w.n, w.m, w.slots_per_row(), r0, r1, gp, g.k, xp, x.k, g.batch, g.width, op);
  });
  for (int64_t s : w.pad_slots) op[s] = 0.0f;  // not part of the pattern
  return out;
}

at::Tensor nm_weight_grad(const at::Tensor& grad_out, const at::Tensor& x, const NmWeight& w) {
  detail::check_activations(grad_out, w.rows, "nm_weight_grad", "grad_output");
  detail::check_activations(x, w.cols, "nm_weight_grad", "x");
  if (grad_out.size(0) != x.size(0)) {
    throw std::invalid_argument("nm_weight_grad: grad_output " + detail::shape_of(grad_out) + " and x " +
                                detail::shape_of(x) + " must have the same batch");
  }
  Panels xp = pack_panels(x);
  return nm_weight_grad(pack_panels(grad_out, xp.width), xp, w);
}

}  // namespace gossamer::kernels
