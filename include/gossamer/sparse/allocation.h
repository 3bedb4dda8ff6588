// Allocation: how a target sparsity is spread over the pruned layers.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "gossamer/sparse/layout.h"

namespace gossamer::sparse {

enum class AllocationKind {
  Uniform,  // every layer at the target
  Global,   // one score threshold across layers (scores must be comparable across layers)
  Erk       // Erdős–Rényi-Kernel: density ∝ (Σ dims)/(Π dims), layers that would exceed 1 are dense
};

struct AllocationSpec {
  AllocationKind kind = AllocationKind::Uniform;
  // Fixed per-layer sparsity by parameter name; these layers are outside the target's budget.
  std::map<std::string, double> overrides;
  bool exempt_first = false, exempt_last = false;  // shorthand for an override of 0 on that layer
};

AllocationKind parse_allocation(const std::string& name);  // uniform | global | erk
// "fc3.weight=0.5,conv1.weight=0" -> map; std::invalid_argument on a malformed entry or a value outside [0, 1].
std::map<std::string, double> parse_overrides(const std::string& text);

// Number of weights to keep in each layer so that the layers not overridden reach `sparsity`
// overall. `scores` (one per layer, shaped like it) are used only by Global. Throws
// std::invalid_argument when an override names no pruned layer.
std::vector<int64_t> keep_counts(const std::vector<ParamSlice>& layers, double sparsity, const AllocationSpec& spec,
                                 const std::vector<at::Tensor>& scores = {});

// ERK densities for the layers (in [0, 1]) with Σ density·numel = (1 − sparsity)·Σ numel.
std::vector<double> erk_densities(const std::vector<ParamSlice>& layers, double sparsity);

}  // namespace gossamer::sparse
