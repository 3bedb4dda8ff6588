#include "gossamer/sparse/schedule.h"

#include <algorithm>
#include <cmath>
#include <limits>
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
  // Contiguous split into k parts with the smallest possible largest part (linear partition,
  // dynamic programming over prefix sums; the layer counts here are small).
  const size_t n = layers.size();
  std::vector<double> prefix(n + 1, 0.0);
  for (size_t i = 0; i < n; ++i) prefix[i + 1] = prefix[i] + static_cast<double>(layers[i].numel);
  const double inf = std::numeric_limits<double>::infinity();
  // best[p][i]: smallest largest part splitting the first i layers into p parts; cut[p][i]: where
  // the last of those parts starts.
  std::vector<std::vector<double>> best(static_cast<size_t>(k) + 1, std::vector<double>(n + 1, inf));
  std::vector<std::vector<size_t>> cut(static_cast<size_t>(k) + 1, std::vector<size_t>(n + 1, 0));
  best[0][0] = 0.0;
  for (size_t p = 1; p <= static_cast<size_t>(k); ++p) {
    for (size_t i = p; i <= n; ++i) {
      for (size_t j = p - 1; j < i; ++j) {
        const double v = std::max(best[p - 1][j], prefix[i] - prefix[j]);
        if (v <= best[p][i]) {  // ties: the later cut, filling earlier partitions first
          best[p][i] = v;
          cut[p][i] = j;
        }
      }
    }
  }
  std::vector<size_t> starts(static_cast<size_t>(k));
  size_t stop = n;
  for (size_t p = static_cast<size_t>(k); p >= 1; --p) {
    starts[p - 1] = cut[p][stop];
    stop = cut[p][stop];
  }
  first_layer_ = starts;
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
