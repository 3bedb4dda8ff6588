#include "gossamer/sparse/layout.h"

namespace gossamer::sparse {

std::vector<ParamSlice> prunable_layers(const std::vector<ParamSlice>& parameters) {
  std::vector<ParamSlice> out;
  for (const auto& p : parameters) {
    if (p.shape.size() >= 2 && p.prunable) out.push_back(p);
  }
  return out;
}

}  // namespace gossamer::sparse
