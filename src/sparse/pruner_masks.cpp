#include "gossamer/sparse/pruner_masks.h"

#include <stdexcept>

#include "gossamer/sparse/pruner.h"

namespace gossamer::sparse {

bool PrunerMasks::supported(const Pruner& pruner) {
  return pruner.enabled() && pruner.spec().method != PruneMethod::SrSte;
}

PrunerMasks::PrunerMasks(const Pruner& pruner) : pruner_(pruner) {
  if (!supported(pruner)) {
    throw std::invalid_argument("sparse-aware messages: method '" + to_string(pruner.spec().method) +
                                "' keeps live values outside its mask (srste) or prunes nothing (none); its "
                                "messages must stay dense");
  }
}

int64_t PrunerMasks::numel() const { return pruner_.mask().numel(); }

int64_t PrunerMasks::epoch() const { return pruner_.mask_epoch(); }

bool PrunerMasks::may_differ() const {
  return pruner_.spec().method == PruneMethod::Gap && pruner_.spec().gap_mode == GapMode::Parallel;
}

bool PrunerMasks::differ() const { return pruner_.masks_differ(); }

at::Tensor PrunerMasks::mask(int rank) const { return pruner_.worker_mask(rank); }

std::string PrunerMasks::describe() const {
  std::string s = "the pruner's masks (" + to_string(pruner_.spec().method);
  if (may_differ()) s += ", parallel";
  return s + ")";
}

}  // namespace gossamer::sparse
