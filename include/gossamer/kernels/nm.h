// Packed N:M form of a sparse weight W [out, in] (float32).
//
// Every row is cut into groups = ceil(in / m) groups of m consecutive inputs (the last group is
// partial when m does not divide in) and every group stores exactly n slots: a value and the
// uint8 offset of its column inside the group. A group with fewer than n kept entries (allowed:
// a pruned mask may keep fewer; the partial last group may even be shorter than n) is padded with
// value 0 at a valid column; `pad_slots` lists those slots so that gradients there stay 0.
// Fixed-length rows need no row pointers, and the index costs 1 byte instead of 4.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace gossamer::kernels {

struct NmWeight {
  int64_t rows = 0;    // out
  int64_t cols = 0;    // in
  int64_t n = 0;       // kept per group, 1 <= n < m
  int64_t m = 0;       // group length, 2 <= m <= 255
  int64_t groups = 0;  // ceil(cols / m)
  at::Tensor values;   // [rows, groups * n] float32, contiguous; padding slots hold 0
  std::vector<uint8_t> idx;        // [rows * groups * n], offset of the column within its group
  std::vector<int64_t> pad_slots;  // flat slot indices (into values) that are padding, sorted

  // Transposed pattern of the real (non-padding) entries, as in CsrWeight: column i holds
  // t_row_ptr[i] .. t_row_ptr[i+1]-1, in output row t_col_idx[j], value values[t_perm[j]].
  std::vector<int32_t> t_row_ptr;  // [cols + 1]
  std::vector<int32_t> t_col_idx;
  std::vector<int32_t> t_perm;

  int64_t slots_per_row() const { return groups * n; }
  int64_t slots() const { return rows * groups * n; }
};

// From a dense weight whose non-zeros already follow the pattern (at most n per group).
// Throws std::invalid_argument naming the row and group otherwise, or for a bad n, m or shape.
NmWeight nm_from_dense(const at::Tensor& w, int64_t n, int64_t m);

// From a dense weight and a mask (bool or 0/1) with at most n non-zeros per group of m.
NmWeight nm_from_dense(const at::Tensor& w, const at::Tensor& mask, int64_t n, int64_t m);

// Dense [rows, cols] float32 tensor with zeros off the pattern.
at::Tensor nm_to_dense(const NmWeight& w);

// Re-reads the values from a dense weight of the same shape, keeping the pattern.
void nm_update_values(NmWeight& w, const at::Tensor& dense);

// Scatters a slot-aligned vector ([rows * groups * n]) into a dense [rows, cols] tensor.
at::Tensor nm_scatter_to_dense(const NmWeight& w, const at::Tensor& slot_values);

}  // namespace gossamer::kernels
