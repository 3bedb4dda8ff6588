// Sparsity metrics: per-layer and overall sparsity, multiply-adds per sample, mask flips (SAD).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "gossamer/sparse/layout.h"

namespace gossamer::sparse {

struct LayerSparsity {
  std::string name;
  int64_t numel = 0, nonzeros = 0;
  int64_t uses = 1;  // times each weight is used per sample (conv output positions)
  double sparsity() const { return numel ? 1.0 - static_cast<double>(nonzeros) / static_cast<double>(numel) : 0.0; }
};

struct SparsityReport {
  std::vector<LayerSparsity> layers;
  int64_t numel = 0, nonzeros = 0;  // over the pruned layers
  // FLOPs per sample of the pruned layers' products (2 per multiply-add); biases, activations and
  // pooling are left out, so these compare the part that sparsity can speed up.
  double dense_flops = 0, sparse_flops = 0;
  double sparsity() const { return numel ? 1.0 - static_cast<double>(nonzeros) / static_cast<double>(numel) : 0.0; }
};

// Counts the non-zeros of `flat` (a mask or the weights themselves) in each layer. `uses` holds one
// entry per layer (empty = 1 each).
SparsityReport sparsity_report(const std::vector<ParamSlice>& layers, const at::Tensor& flat,
                               const std::vector<int64_t>& uses = {});

// Number of positions where two masks differ over the given layers: the SAD of Zhou et al. (2021)
// between two points in training, before normalisation.
int64_t mask_flips(const std::vector<ParamSlice>& layers, const at::Tensor& a, const at::Tensor& b);

}  // namespace gossamer::sparse
