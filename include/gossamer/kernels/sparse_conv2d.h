// Differentiable sparse 2-D convolution: y = conv2d(x, W) + b with W a SparseConvWeight (conv.h),
// groups = 1. The same two gradient conventions as sparse_linear.h:
//  * sparse_conv2d(x, w, bias, g): the parameter is w->csr.values ([nnz]; set requires_grad on
//    it); its gradient is values-aligned (dY ⋆ X at the pattern only).
//  * sparse_conv2d_dense_grad(x, weight, w, bias, g): the parameter is a dense weight
//    [out, in, kh, kw] kept next to a mask; the forward uses w->csr.values (keep them equal to
//    weight at the pattern with sparse_conv_update_values) and the gradient of `weight` is dense
//    with zeros off the pattern: the gradient of the masked dense conv2d(x, weight ⊙ mask).
// dX is the transposed convolution of dY and db the sum of dY over batch and positions. The
// backward keeps x (a saved variable: modifying x in place before backward is an error) and the
// sparse weight (shared_ptr), and recomputes the unfolded x instead of storing it.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>

#include "gossamer/kernels/conv.h"

namespace gossamer::kernels {

// x [n, in, h, w] float32, bias [out] or undefined -> [n, out, oh, ow].
at::Tensor sparse_conv2d(const at::Tensor& x, const std::shared_ptr<const SparseConvWeight>& w,
                         const at::Tensor& bias = {}, const ConvGeometry& g = {});

at::Tensor sparse_conv2d_dense_grad(const at::Tensor& x, const at::Tensor& weight,
                                    const std::shared_ptr<const SparseConvWeight>& w,
                                    const at::Tensor& bias = {}, const ConvGeometry& g = {});

}  // namespace gossamer::kernels
