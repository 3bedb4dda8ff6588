#include "gossamer/sparse/schedule.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace gossamer::sparse {

double gmp_sparsity(int64_t step, int64_t start, int64_t end, double initial, double final_sparsity) {
  if (step <= start) return initial;
  if (step >= end || end <= start) return final_sparsity;
  const double progress = static_cast<double>(step - start) / static_cast<double>(end - start);
  const double remaining = 1.0 - progress;
  return final_sparsity + (initial - final_sparsity) * remaining * remaining * remaining;
}

double cosine_drop_fraction(int64_t step, int64_t start, int64_t end, double initial) {
  if (step <= start) return initial;
  if (step >= end || end <= start) return 0.0;
  const double progress = static_cast<double>(step - start) / static_cast<double>(end - start);
  return 0.5 * initial * (1.0 + std::cos(M_PI * progress));
}

GapTimeline::GapTimeline(const std::vector<ParamSlice>& layers, int64_t partitions, int64_t phase_steps, int64_t end)
    : num_layers_(layers.size()), phase_steps_(phase_steps), end_(end) {
  if (layers.empty()) throw std::invalid_argument("GaP: the model has no prunable layers");
  if (partitions < 1) throw std::invalid_argument("GaP: sparse.gap_partitions must be >= 1");
  if (phase_steps < 1) throw std::invalid_argument("GaP: a phase must last at least one step");
  const int64_t k = std::min<int64_t>(partitions, static_cast<int64_t>(layers.size()));
  double total = 0;
  for (const auto& l : layers) total += static_cast<double>(l.numel);
  // Greedy split in model order: close a partition once it holds its share of the parameters,
  // leaving at least one layer for every partition still to come.
  first_layer_.push_back(0);
  double acc = 0;
  for (size_t i = 0; i < layers.size() && static_cast<int64_t>(first_layer_.size()) < k; ++i) {
    acc += static_cast<double>(layers[i].numel);
    const int64_t filled = static_cast<int64_t>(first_layer_.size());
    const size_t layers_left = layers.size() - (i + 1);
    const bool share_reached = acc >= total * static_cast<double>(filled) / static_cast<double>(k);
    const bool must_close = layers_left == static_cast<size_t>(k - filled);
    if (share_reached || must_close) first_layer_.push_back(i + 1);
  }
}

int64_t GapTimeline::dense_partition(int64_t step) const {
  if (step >= end_) return -1;
  return (step / phase_steps_) % partitions();
}

std::pair<size_t, size_t> GapTimeline::layers_of(int64_t p) const {
  const size_t begin = first_layer_.at(static_cast<size_t>(p));
  const size_t end = static_cast<size_t>(p) + 1 < first_layer_.size() ? first_layer_[p + 1] : num_layers_;
  return {begin, end};
}

}  // namespace gossamer::sparse
