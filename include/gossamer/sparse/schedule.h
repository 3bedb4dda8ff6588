// When masks change and by how much: pure functions of the step, so that a resumed run and every
// worker compute the same schedule without saving or exchanging it.
#pragma once

#include <cstdint>
#include <vector>

#include "gossamer/sparse/layout.h"

namespace gossamer::sparse {

// Gradual magnitude pruning (Zhu & Gupta 2017): s_t = s_f + (s_0 − s_f)(1 − (t − t_0)/(t_end − t_0))³,
// clamped to s_0 before t_0 and s_f after t_end.
double gmp_sparsity(int64_t step, int64_t start, int64_t end, double initial, double final_sparsity);

// RigL/SET drop fraction, cosine-decayed from f_0 at `start` to 0 at `end` (Evci et al. 2020).
double cosine_drop_fraction(int64_t step, int64_t start, int64_t end, double initial);

// GaP (Ma et al. 2021): the pruned layers split into K partitions of contiguous layers, the split
// whose largest partition is as small as possible (so no dense phase costs more than it must);
// partition (t / phase_steps) mod K is dense while t < end.
class GapTimeline {
 public:
  GapTimeline(const std::vector<ParamSlice>& layers, int64_t partitions, int64_t phase_steps, int64_t end);
  int64_t partitions() const { return static_cast<int64_t>(first_layer_.size()); }
  // Partition dense during step `step` (0-based), or -1 once the schedule has ended.
  int64_t dense_partition(int64_t step) const;
  // Phase index of step `step` (step / phase_steps), or -1 once the schedule has ended.
  int64_t phase(int64_t step) const { return step >= end_ ? -1 : step / phase_steps_; }
  // Layer indices [begin, end) of partition p.
  std::pair<size_t, size_t> layers_of(int64_t p) const;

 private:
  std::vector<size_t> first_layer_;  // first layer of each partition
  size_t num_layers_;
  int64_t phase_steps_, end_;
};

}  // namespace gossamer::sparse
