// Low-rank pieces of PowerSGD (Vogels, Karimireddy, Jaggi 2019, arXiv 1905.13727): which layers
// are worth factoring, and the orthogonalisation of the left factor. The averaging itself, which
// needs two allreduces, is a mixing rule (optim/powersgd_averaging.h).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace gossamer::compress {

// A layer's matrix view: rows = the first dimension, cols = the product of the others (a conv
// weight [out, in, kh, kw] is [out, in*kh*kw]); 1-D tensors have rows = numel, cols = 1.
struct MatrixShape {
  int64_t rows = 0, cols = 0;
};

// Whether rank-r factors (rows + cols) r are worth sending instead of the rows*cols matrix: PyTorch's
// PowerSGD hook rule with its default min_compression_rate 2, (rows + cols) * r * 2 < rows * cols.
// Vectors (cols = 1) never are.
bool low_rank_pays(const MatrixShape& m, int64_t rank);

// Gram-Schmidt on the columns of p ([rows, r], float32, in place): each column minus its
// projections on the previous ones, then divided by (its norm + eps). eps > 0 keeps an all-zero
// column at zero instead of dividing by zero (PyTorch recommends 1e-8 for the same reason).
void orthogonalize_columns(at::Tensor& p, double eps = 1e-8);

}  // namespace gossamer::compress
