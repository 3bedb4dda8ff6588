#include "gossamer/sparse/metrics.h"

#include <ATen/ATen.h>

#include <stdexcept>

namespace gossamer::sparse {

SparsityReport sparsity_report(const std::vector<ParamSlice>& layers, const at::Tensor& flat,
                               const std::vector<int64_t>& uses) {
  if (!uses.empty() && uses.size() != layers.size()) throw std::invalid_argument("sparsity_report: one use count per layer");
  SparsityReport r;
  for (size_t i = 0; i < layers.size(); ++i) {
    const auto& l = layers[i];
    LayerSparsity ls;
    ls.name = l.name;
    ls.numel = l.numel;
    ls.nonzeros = flat.narrow(0, l.offset, l.numel).ne(0).sum().item<int64_t>();
    ls.uses = uses.empty() ? 1 : uses[i];
    r.numel += ls.numel;
    r.nonzeros += ls.nonzeros;
    r.dense_flops += 2.0 * static_cast<double>(ls.numel) * static_cast<double>(ls.uses);
    r.sparse_flops += 2.0 * static_cast<double>(ls.nonzeros) * static_cast<double>(ls.uses);
    r.layers.push_back(ls);
  }
  return r;
}

int64_t mask_flips(const std::vector<ParamSlice>& layers, const at::Tensor& a, const at::Tensor& b) {
  int64_t flips = 0;
  for (const auto& l : layers) {
    flips += a.narrow(0, l.offset, l.numel).ne(b.narrow(0, l.offset, l.numel)).sum().item<int64_t>();
  }
  return flips;
}

}  // namespace gossamer::sparse
