// Sparse 2-D convolution on the CSR kernels: a weight W [out, in, kh, kw] is the CSR matrix
// [out, in·kh·kw] (column i = (c·kh + ki)·kw + kj), and
//
//   forward   Y[n]  = W · unfold(X[n]) (+ b)      unfold(X[n]) [in·kh·kw, oh·ow] (im2col)
//   input     dX[n] = fold(Wᵀ · dY[n])             fold = col2im, the adjoint of unfold
//   weight    dW    = Σ_n dY[n] · unfold(X[n])ᵀ   at W's non-zeros only (sampled product)
//
// with the CSR kernels of raw.h (the ones the linear layer uses), in one of two ways:
//  * direct (stride 1 and padding <= (kernel - 1) · dilation, i.e. every ResNet / VGG style 3x3
//    and "valid" conv): nothing is unfolded. On a zero-padded copy of the input the operand of a
//    weight entry (c, ki, kj) for a run of output positions is a contiguous run of the input
//    plane, so the kernel reads it at a per-entry offset instead of from an unfolded row; the
//    input gradient is the same product over the transposed pattern on the padded dY.
//  * im2col (any stride, over-padding): the unfolded input is written straight into the panel
//    layout, one panel of output positions at a time, and only the columns of W that hold a
//    non-zero are unfolded at all; dX is Wᵀ dY folded back (col2im).
// Groups = 1; stride, zero padding and dilation per axis.
//
// Threads: at::parallel_for over the images of the batch when there are at least as many images
// as threads, otherwise over output rows / input channels / panels within each image. Scratch
// buffers are per thread and reused between calls (first touch of fresh memory is slow on the
// VMs we use), so a call allocates only its outputs.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <vector>

#include "gossamer/kernels/csr.h"

namespace gossamer::kernels {

// Stride, zero padding and dilation, each {height, width}; groups are always 1.
struct ConvGeometry {
  std::array<int64_t, 2> stride{1, 1};    // >= 1
  std::array<int64_t, 2> padding{0, 0};   // >= 0, zeros on both sides
  std::array<int64_t, 2> dilation{1, 1};  // >= 1
};

// kAuto: direct where it applies, else im2col. kDirect where it does not apply throws.
enum class ConvAlgorithm { kAuto, kDirect, kIm2col };

// Output height and width for an input of h x w; throws std::invalid_argument (naming the sizes)
// if the geometry is invalid or the (dilated) kernel does not fit in the padded input.
std::array<int64_t, 2> conv_output_size(int64_t h, int64_t w, int64_t kh, int64_t kw,
                                        const ConvGeometry& g);

struct SparseConvWeight {
  int64_t out_channels = 0;
  int64_t in_channels = 0;
  int64_t kernel_h = 0;
  int64_t kernel_w = 0;
  // [out, in·kh·kw]: the pattern and the values (the parameter; gradients align with csr.values).
  CsrWeight csr;
  // The columns that hold at least one non-zero, increasing ([k_used]); only these are unfolded.
  std::vector<int32_t> used_cols;
  // csr.col_idx renumbered into [0, k_used) ([nnz]), for the forward and the weight gradient.
  std::vector<int32_t> packed_col;
  // csr.t_row_ptr at the used columns ([k_used + 1]); with csr.t_col_idx / csr.t_perm it is the
  // transposed pattern without its empty rows, for the input gradient.
  std::vector<int32_t> packed_t_row_ptr;
  // The entries grouped by input channel (the transposed convolution's pattern, for the direct
  // input gradient): channel c holds in_row_ptr[c] .. in_row_ptr[c + 1] - 1, entry j is csr entry
  // in_entry[j] of output channel in_row_of[j]; ordered by (output channel, tap) within a channel.
  std::vector<int32_t> in_row_ptr;  // [in + 1]
  std::vector<int32_t> in_entry;    // [nnz]
  std::vector<int32_t> in_row_of;   // [nnz]

  int64_t k_used() const { return static_cast<int64_t>(used_cols.size()); }
  int64_t nnz() const { return csr.nnz(); }
};

// From a dense weight [out, in, kh, kw] float32 and a mask of the same shape (bool or 0/1; the
// pattern is the mask's, explicit zeros kept). Throws std::invalid_argument naming the shapes.
SparseConvWeight sparse_conv_weight(const at::Tensor& weight, const at::Tensor& mask);
// From a dense weight alone: its exact zeros are dropped.
SparseConvWeight sparse_conv_weight(const at::Tensor& weight);
// From a CSR matrix [out, in·kh·kw] as stored (e.g. read from a sparse model file), taken over:
// its pattern and values are used as they are. Throws std::invalid_argument if csr.cols is not
// in_channels·kernel_h·kernel_w or a size is < 1.
SparseConvWeight sparse_conv_weight(CsrWeight csr, int64_t in_channels, int64_t kernel_h, int64_t kernel_w);

// Refreshes the values from a dense [out, in, kh, kw] weight, keeping the pattern (O(nnz)); the
// values tensor is replaced, not written, so a graph that saved the old one is unaffected.
void sparse_conv_update_values(SparseConvWeight& w, const at::Tensor& weight);

// Dense [out, in, kh, kw] tensor from a values-aligned vector ([nnz], e.g. a weight gradient).
at::Tensor sparse_conv_scatter_to_dense(const SparseConvWeight& w, const at::Tensor& nz_values);

// x [n, in, h, w] float32 (any strides), bias [out] or undefined -> [n, out, oh, ow].
at::Tensor sparse_conv2d_forward(const at::Tensor& x, const SparseConvWeight& w,
                                 const at::Tensor& bias, const ConvGeometry& g,
                                 ConvAlgorithm algo = ConvAlgorithm::kAuto);

struct SparseConvGrads {
  at::Tensor input;   // [n, in, h, w], undefined unless asked for
  at::Tensor values;  // [nnz] aligned with w.csr.values, undefined unless asked for
};

// Gradients of a loss with grad_output = dL/dY [n, out, oh, ow]. x is the forward's input
// [n, in, h, w]; it may be undefined when the weight gradient is not needed. input_hw = {h, w}
// (the input's height and width, which the output size alone does not determine). One pass over
// the batch serves both gradients, sharing the packing of dY.
SparseConvGrads sparse_conv2d_backward(const at::Tensor& grad_output, const at::Tensor& x,
                                       std::array<int64_t, 2> input_hw, const SparseConvWeight& w,
                                       const ConvGeometry& g, bool need_input, bool need_weight,
                                       ConvAlgorithm algo = ConvAlgorithm::kAuto);

}  // namespace gossamer::kernels
