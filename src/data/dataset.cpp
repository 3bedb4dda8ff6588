#include "gossamer/data/dataset.h"

#include <ATen/ATen.h>

namespace gossamer::data {

Dataset Dataset::subset(const std::vector<int64_t>& indices) const {
  at::Tensor idx = at::tensor(indices, at::kLong);
  Dataset out;
  out.inputs = inputs.index_select(0, idx).contiguous();
  out.targets = targets.index_select(0, idx).contiguous();
  out.num_classes = num_classes;
  return out;
}

}  // namespace gossamer::data
