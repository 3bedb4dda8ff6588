// Patterns: which sets of weights a mask may keep, given a score per weight (higher = keep).
//
// Every selection is deterministic: among equal scores the weight with the lower flat index is
// kept, so that workers computing a mask from the same scores get the same mask.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace gossamer::sparse {

enum class PatternKind { Unstructured, NM, Block };

struct Pattern {
  PatternKind kind = PatternKind::Unstructured;
  int64_t n = 2, m = 4;                 // N:M: keep n of every m consecutive input weights
  int64_t block_rows = 1, block_cols = 4;  // Block: keep or drop whole [rows x cols] tiles of [out, in*k*k]
  void validate() const;                // std::invalid_argument naming the field
  std::string describe() const;         // "unstructured", "2:4", "block 1x4"
};

// Keeps the `keep` highest scores (0 <= keep <= numel). Returns a float mask shaped like scores.
at::Tensor topk_mask(const at::Tensor& scores, int64_t keep);

// N:M along the input dimension: for a weight [out, in, *kernel] the groups are m consecutive
// input channels at a fixed (out, kernel position), as sparse tensor cores and our packed format
// expect. A partial group at the edge (in % m = r > 0) keeps min(n, r): it behaves as a full
// group padded with weights that can never be kept.
at::Tensor nm_mask(const at::Tensor& scores, int64_t n, int64_t m);

// Tiles of [rows x cols] over the weight viewed as [out, in*kernel]; a tile's score is the mean of
// its entries (edge tiles are smaller, and the mean keeps them comparable). Keeps the best tiles
// until at least `keep` weights are kept.
at::Tensor block_mask(const at::Tensor& scores, int64_t rows, int64_t cols, int64_t keep);

// Dispatch on the pattern; `keep` is ignored by N:M (its density is n/m by definition).
at::Tensor select_mask(const at::Tensor& scores, int64_t keep, const Pattern& pattern);

// The density a pattern forces (n/m for N:M), or a negative value when the caller chooses.
double forced_density(const Pattern& pattern);

}  // namespace gossamer::sparse
