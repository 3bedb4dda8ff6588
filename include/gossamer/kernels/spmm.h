// Tensor-level sparse products for a sparse weight W [out, in] and dense activations, threaded
// with at::parallel_for (at::get_num_threads() threads, rows split by non-zeros, not by count).
//
//   forward        Y  = X Wᵀ (+ b)      X [batch, in]   -> Y  [batch, out]
//   input grad     dX = dY W            dY [batch, out] -> dX [batch, in]
//   weight grad    dW = (dYᵀ X) at W's pattern only     -> [nnz] aligned with W.values
//                  (for N:M: [out, groups * n] aligned with the slots; padding slots are 0)
//
// All activations are 2-D float32 CPU tensors (any strides; they are packed once). Products that
// need the same activations several times (the training step) can pack them once with
// pack_panels and pass the Panels instead.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "gossamer/kernels/csr.h"
#include "gossamer/kernels/nm.h"

namespace gossamer::kernels {

// Activations A [batch, k] in the panel layout of raw.h.
struct Panels {
  at::Tensor data;    // [ceil(batch / width) * k * width] float32, 64-byte aligned
  int64_t batch = 0;  // rows of A
  int64_t k = 0;      // columns of A
  int64_t width = 0;  // floats per panel row, a multiple of the SIMD width
};

// width = 0 chooses raw::choose_panel_width(batch, k).
Panels pack_panels(const at::Tensor& a, int64_t width = 0);

at::Tensor csr_forward(const at::Tensor& x, const CsrWeight& w, const at::Tensor& bias = {});
at::Tensor csr_forward(const Panels& x, const CsrWeight& w, const at::Tensor& bias = {});
at::Tensor csr_input_grad(const at::Tensor& grad_out, const CsrWeight& w);
at::Tensor csr_input_grad(const Panels& grad_out, const CsrWeight& w);
at::Tensor csr_weight_grad(const at::Tensor& grad_out, const at::Tensor& x, const CsrWeight& w);
// Both panels must have the same width (pack grad_out with x's width).
at::Tensor csr_weight_grad(const Panels& grad_out, const Panels& x, const CsrWeight& w);

at::Tensor nm_forward(const at::Tensor& x, const NmWeight& w, const at::Tensor& bias = {});
at::Tensor nm_forward(const Panels& x, const NmWeight& w, const at::Tensor& bias = {});
at::Tensor nm_input_grad(const at::Tensor& grad_out, const NmWeight& w);
at::Tensor nm_input_grad(const Panels& grad_out, const NmWeight& w);
at::Tensor nm_weight_grad(const at::Tensor& grad_out, const at::Tensor& x, const NmWeight& w);
at::Tensor nm_weight_grad(const Panels& grad_out, const Panels& x, const NmWeight& w);

}  // namespace gossamer::kernels
