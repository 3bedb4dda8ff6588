// Differentiable sparse linear layer functions: y = x Wᵀ + b with W in CSR or packed N:M form.
//
// Two gradient conventions, because there are two kinds of owners of a sparse weight:
//  * sparse_linear(x, w, bias): the parameter is the values tensor w->values ([nnz] for CSR,
//    [out, groups * n] for N:M; set requires_grad on it). Its gradient is values-aligned: the
//    entries of dYᵀ X at the pattern, nothing else is computed.
//  * sparse_linear_dense_grad(x, weight, w, bias): the parameter is a dense weight [out, in] kept
//    next to a mask (what sparse/ and SparseLinear hold); the forward uses w->values (which the
//    caller keeps equal to weight at the pattern, e.g. with csr_update_values), and the gradient
//    of `weight` is a dense [out, in] tensor with zeros off the pattern, i.e. exactly the gradient
//    of the masked dense layer x (weight ⊙ mask)ᵀ.
// In both, dX = dY W and db = sum over the batch of dY. The sparse weight is held by shared_ptr
// because the backward pass keeps it (and the packed x) alive until it has run.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>

#include "gossamer/kernels/csr.h"
#include "gossamer/kernels/nm.h"

namespace gossamer::kernels {

// x [batch, in] float32, bias [out] or undefined -> [batch, out].
at::Tensor sparse_linear(const at::Tensor& x, const std::shared_ptr<const CsrWeight>& w,
                         const at::Tensor& bias = {});
at::Tensor sparse_linear(const at::Tensor& x, const std::shared_ptr<const NmWeight>& w,
                         const at::Tensor& bias = {});

at::Tensor sparse_linear_dense_grad(const at::Tensor& x, const at::Tensor& weight,
                                    const std::shared_ptr<const CsrWeight>& w,
                                    const at::Tensor& bias = {});
at::Tensor sparse_linear_dense_grad(const at::Tensor& x, const at::Tensor& weight,
                                    const std::shared_ptr<const NmWeight>& w,
                                    const at::Tensor& bias = {});

}  // namespace gossamer::kernels
