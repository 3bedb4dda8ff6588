// WoodFisher (arXiv 2004.14340): a block-diagonal inverse of the empirical Fisher, built one
// gradient at a time with Woodbury rank-1 updates, and the Optimal Brain Surgeon (OBS) pruning
// scores and weight compensation that use it.
//
// The weights of one tensor are seen as a flat vector of `dim` entries (row-major order). They are
// cut into blocks of c = block_size consecutive entries (the last block may be shorter) and the
// Fisher is approximated per block, ignoring cross-block terms:
//   F_b = λI + (1/N) Σ_n g_n,b g_n,bᵀ
// Starting from F_0⁻¹ = I/λ, each gradient applies
//   F_n⁻¹ = F_{n-1}⁻¹ − (F_{n-1}⁻¹ g)(F_{n-1}⁻¹ g)ᵀ / (N + gᵀ F_{n-1}⁻¹ g)
// to every block at once (batched products), so no matrix is ever inverted.
//
// Memory: the inverse is one [num_blocks, c, c] tensor, num_blocks = ceil(dim / c), i.e. about
// dim·c numbers (exactly num_blocks·c², at most (dim + c − 1)·c): 4·dim·c bytes in float32,
// e.g. 512 MB for a million weights with c = 128. Per gradient the update costs O(dim·c) time
// and only O(dim) scratch memory (the big tensor is updated in place).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace gossamer::sparse {

struct WoodFisherOptions {
  // c: consecutive weights per diagonal block; the last block may be shorter. A value larger
  // than dim is clamped to dim (one block, no wasted memory).
  int64_t block_size = 64;
  // λ > 0: the damping added to the Fisher's diagonal; F⁻¹ starts at I/λ.
  double damping = 1e-4;
  // Storage and arithmetic precision of the inverse: at::kFloat (default) or at::kDouble.
  // float32 keeps about 1e-6 relative accuracy while λ is not tiny compared with the gradients'
  // scale; with very small λ and N ≥ c the recursion cancels large numbers (values start at
  // 1/λ) and float64 is the safe choice (see docs/sparse.md for measured errors).
  at::ScalarType dtype = at::kFloat;

  // Throws std::invalid_argument naming the field and its value.
  void validate() const;
};

// Block-diagonal inverse of the empirical Fisher over `dim` weights, from N = num_samples
// gradients fixed up front (N is the 1/N of the average, so it must be known before the first
// update). Queries are allowed at any time; before all N gradients are added they describe
// λI + (1/N) Σ over the gradients added so far.
class WoodFisherInverse {
 public:
  // dim ≥ 0 weights, num_samples ≥ 1. Throws std::invalid_argument on bad values or options.
  WoodFisherInverse(int64_t dim, int64_t num_samples, WoodFisherOptions opt = {});

  // One gradient sample g (float32 or float64, dim entries in any shape, read in row-major
  // order). Throws std::invalid_argument for a wrong size, a non-floating dtype, a non-finite
  // entry, or when N gradients were already added.
  void add_gradient(const at::Tensor& g);

  int64_t dim() const { return dim_; }
  int64_t num_samples() const { return num_samples_; }
  int64_t samples_added() const { return samples_added_; }
  int64_t block_size() const { return block_; }  // effective c (after clamping to dim)
  int64_t num_blocks() const { return num_blocks_; }
  const WoodFisherOptions& options() const { return opt_; }

  // [dim] diagonal of F⁻¹, in the storage dtype.
  at::Tensor diagonal() const;
  // [dim, dim] block-diagonal F⁻¹ in the storage dtype: O(dim²) memory, for tests and small dims.
  at::Tensor dense() const;
  // F⁻¹ v for v with dim entries (float32 or float64, any shape); returns [dim] in the storage dtype.
  at::Tensor apply(const at::Tensor& v) const;
  // The stored blocks, [num_blocks, c, c]; padding rows/columns of the last block hold I/λ and
  // never interact with real weights.
  const at::Tensor& blocks() const { return blocks_; }

 private:
  // v (dim entries) copied into a zero-padded [num_blocks, c, 1] tensor of the storage dtype.
  at::Tensor padded(const at::Tensor& v) const;

  int64_t dim_ = 0;
  int64_t num_samples_ = 0;
  int64_t samples_added_ = 0;
  int64_t block_ = 1;
  int64_t num_blocks_ = 0;
  WoodFisherOptions opt_;
  at::Tensor blocks_;   // [num_blocks, c, c], F⁻¹ per block
  at::Tensor g_pad_;    // [num_blocks, c, 1] scratch: the padded gradient
  at::Tensor u_;        // [num_blocks, c, 1] scratch: F⁻¹ g per block
};

// OBS saliency ρ_q = w_q² / (2 [F⁻¹]_qq): the predicted loss increase when weight q alone is
// removed and the others are optimally adjusted. w: dim entries, float32 or float64; the result
// has w's shape and dtype.
at::Tensor obs_scores(const at::Tensor& w, const WoodFisherInverse& finv);

// Removes the weights where prune_mask != 0 (bool or numeric, w's shape) and moves the others
// to compensate: δw = −F⁻¹ Σ_{q pruned} (w_q / [F⁻¹]_qq) e_q, the paper's approximation that
// treats every pruned weight independently (exact for one pruned weight per block). Pruned
// entries of the result are then set to exactly 0. Returns the new weights (w's shape and dtype).
at::Tensor obs_prune(const at::Tensor& w, const at::Tensor& prune_mask, const WoodFisherInverse& finv);

}  // namespace gossamer::sparse
