// CSR form of a sparse weight W [out, in] (float32), plus its transposed pattern.
//
// The transposed pattern (CSR of Wᵀ, i.e. CSC of W) is built once with the structure so that the
// input gradient dX = dY W is a gather product like the forward, with no write conflicts between
// threads; only the values are permuted per call (t_perm), which costs one pass over nnz.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace gossamer::kernels {

struct CsrWeight {
  int64_t rows = 0;              // out
  int64_t cols = 0;              // in
  std::vector<int32_t> row_ptr;  // [rows + 1], row_ptr[0] = 0, non-decreasing
  std::vector<int32_t> col_idx;  // [nnz], strictly increasing within a row, in [0, cols)
  at::Tensor values;             // [nnz] float32, contiguous; entry k is W[row of k, col_idx[k]]

  // Transposed pattern: column i of W holds entries t_row_ptr[i] .. t_row_ptr[i+1]-1, entry j
  // lies in output row t_col_idx[j] and has value values[t_perm[j]].
  std::vector<int32_t> t_row_ptr;  // [cols + 1]
  std::vector<int32_t> t_col_idx;  // [nnz]
  std::vector<int32_t> t_perm;     // [nnz]

  int64_t nnz() const { return static_cast<int64_t>(col_idx.size()); }
  // Fraction of zeros, in [0, 1]; 0 for an empty shape.
  double sparsity() const;
};

// From a dense [out, in] float32 tensor: the exact zeros are dropped.
// Throws std::invalid_argument (naming the shape) if w is not 2-D float32 or too large for int32.
CsrWeight csr_from_dense(const at::Tensor& w);

// From a dense weight and a mask of the same shape (bool, or any dtype with 0/1 entries): every
// mask non-zero is an entry, even where the weight itself is 0 (the pattern is the mask's).
// Throws std::invalid_argument if the shapes differ or either is not 2-D.
CsrWeight csr_from_dense(const at::Tensor& w, const at::Tensor& mask);

// From explicit arrays; validates all invariants above and builds the transposed pattern.
CsrWeight csr_from_parts(int64_t rows, int64_t cols, std::vector<int32_t> row_ptr,
                         std::vector<int32_t> col_idx, at::Tensor values);

// Dense [rows, cols] float32 tensor with zeros off the pattern.
at::Tensor csr_to_dense(const CsrWeight& w);

// Re-reads the values from a dense weight of the same shape, keeping the pattern: the cheap
// refresh after an optimizer step (O(nnz)). Throws std::invalid_argument on a shape mismatch.
void csr_update_values(CsrWeight& w, const at::Tensor& dense);

// Scatters a values-aligned vector ([nnz], e.g. a weight gradient) into a dense [rows, cols]
// tensor with zeros off the pattern.
at::Tensor csr_scatter_to_dense(const CsrWeight& w, const at::Tensor& nz_values);

// Throws std::invalid_argument if any invariant does not hold (used by the builders and tests).
void csr_validate(const CsrWeight& w);

}  // namespace gossamer::kernels
