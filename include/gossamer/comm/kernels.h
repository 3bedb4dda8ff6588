// The arithmetic both backends share, so that they produce the same bits where they run the same
// order: the rank-order sum of InProcess allreduce and the ascending-j mixing of
// neighbor_allreduce. Plain loops over blocks that stay in L1, no ATen dispatch per call.
#pragma once

#include <c10/core/ScalarType.h>

#include <cstdint>
#include <vector>

#include "gossamer/topology/topology.h"

namespace gossamer::comm {

// r[k] = ((src[0][k] + src[1][k]) + ...) for k in [0, numel), divided by srcs.size() when `mean`
// (a true division, not a multiplication by the reciprocal), written to every dst. A dst may alias a
// source: each block is reduced into an L1-resident buffer before any dst is written, so an
// allreduce moves each element once in and once out (no shared scratch). float32 / float64 only.
void sum_in_order(const std::vector<void*>& dsts, const std::vector<const void*>& srcs, int64_t numel,
                  c10::ScalarType dtype, bool mean);

// dst[k] = w[0]*src[0][k] + w[1]*src[1][k] + ..., accumulated left to right in the tensor's
// dtype (weights rounded to it first). float32 / float64 only. dst may not alias a source.
void mix_in_order(void* dst, const std::vector<const void*>& srcs, const std::vector<double>& weights,
                  int64_t numel, c10::ScalarType dtype);

// One term of a mixing row: weight times source `src`.
struct MixTerm {
  int src = 0;
  double weight = 0.0;
};

// For every output i: r_i[k] = sum over rows[i] (in the given order) of weight * srcs[src][k],
// with exactly the arithmetic of the single-output mix_in_order (an empty row gives 0), written
// to dsts[i]. A dst may alias a source: each 2048-element block is mixed for every output into
// L1/L2 buffers before any dst is written. float32 / float64 only.
void mix_in_order(const std::vector<void*>& dsts, const std::vector<const void*>& srcs,
                  const std::vector<std::vector<MixTerm>>& rows, int64_t numel, c10::ScalarType dtype);

// One row of W(k) applied to a worker's own tensor and the tensors it received from its
// in-neighbours: dst = sum over `row`, in its order (ascending j), of w_j * src_j, where src_j is
// `self` for j == rank and received[k] for j == ins[k].rank. The arithmetic of mix_in_order (an
// empty row gives 0). dst may not alias a source. float32 / float64 only.
void mix_row(void* dst, const std::vector<topology::Neighbor>& row, int rank, const void* self,
             const std::vector<topology::Neighbor>& ins, const std::vector<const void*>& received, int64_t numel,
             c10::ScalarType dtype);

}  // namespace gossamer::comm
