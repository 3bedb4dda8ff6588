// The pruner's masks as the message seam's MessageMasks (optim/message_seam.h): a sparse run's
// model and gradient messages carry only the weights its mask keeps, plus every parameter outside
// the pruned layers (biases, norms), packed in mask order with no indices.
//
// Which methods qualify: every method whose pruned weights are exactly zero on every worker
// whenever a message is sent (one-shot, GMP, GaP, RigL, SET; parallel GaP with a mask per
// worker). SR-STE does not: its weights stay dense between steps (the straight-through
// estimator updates the pruned ones too) and each worker computes its own N:M mask from its own
// weights, so packing would stop the pruned weights from being averaged. SR-STE runs send dense
// messages (supported() is false).
#pragma once

#include "gossamer/optim/message_seam.h"

namespace gossamer::sparse {

class Pruner;

class PrunerMasks final : public optim::MessageMasks {
 public:
  // Whether messages of a run pruned by `pruner` can be packed by its masks (see above).
  static bool supported(const Pruner& pruner);
  // Throws std::invalid_argument when !supported(pruner). `pruner` must outlive this object.
  explicit PrunerMasks(const Pruner& pruner);

  int64_t numel() const override;
  int64_t epoch() const override;
  bool may_differ() const override;
  bool differ() const override;
  at::Tensor mask(int rank) const override;
  std::string describe() const override;

 private:
  const Pruner& pruner_;
};

}  // namespace gossamer::sparse
