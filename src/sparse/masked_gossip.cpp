#include "gossamer/sparse/masked_gossip.h"

#include <ATen/ATen.h>

#include "gossamer/sparse/pruner.h"
#include "gossamer/topology/topology.h"

namespace gossamer::sparse {

MaskedGossip::MaskedGossip(comm::Communicator& inner) : comm::Communicator(inner.timeout()), inner_(inner) {}

void MaskedGossip::attach(const Pruner* pruner) {
  pruner_ = pruner;
  epoch_ = -1;
  cache_.clear();
}

bool MaskedGossip::applies(const at::Tensor& t) const {
  return pruner_ != nullptr && pruner_->masks_differ() && t.is_floating_point() &&
         t.numel() == pruner_->mask().numel();
}

at::Tensor MaskedGossip::scale_for(const std::vector<std::pair<int, double>>& weights) {
  const at::Tensor& own = pruner_->mask();
  at::Tensor held = at::zeros_like(own);  // sum_j w_j m_j[c]
  double total = 0;
  for (const auto& [j, w] : weights) {
    held.add_(pruner_->worker_mask(j), w);
    total += w;
  }
  // Where this worker holds the coordinate, held >= its own weight; where nobody does, the
  // reduced value is 0 anyway.
  at::Tensor safe = at::where(held.gt(0), held, at::ones_like(held));
  return own * total / safe;
}

const at::Tensor& MaskedGossip::cached(const std::vector<std::pair<int, double>>& weights) {
  if (pruner_->mask_epoch() != epoch_) {
    cache_.clear();
    epoch_ = pruner_->mask_epoch();
  }
  auto it = cache_.find(weights);
  if (it == cache_.end()) it = cache_.emplace(weights, scale_for(weights)).first;
  return it->second;
}

void MaskedGossip::allreduce(at::Tensor& t, comm::ReduceOp op) {
  inner_.allreduce(t, op);
  if (op != comm::ReduceOp::Mean || !applies(t)) return;
  std::vector<std::pair<int, double>> all;
  for (int j = 0; j < size(); ++j) all.emplace_back(j, 1.0);
  t.mul_(cached(all).view(t.sizes()).to(t.scalar_type()));
}

void MaskedGossip::group_allreduce(at::Tensor& t, const std::vector<int>& group, comm::ReduceOp op) {
  inner_.group_allreduce(t, group, op);
  if (op != comm::ReduceOp::Mean || !applies(t)) return;
  std::vector<std::pair<int, double>> members;
  for (int j : group) members.emplace_back(j, 1.0);
  t.mul_(cached(members).view(t.sizes()).to(t.scalar_type()));
}

void MaskedGossip::neighbor_allreduce(at::Tensor& t, const topology::Topology& topo, int64_t step) {
  inner_.neighbor_allreduce(t, topo, step);
  if (!applies(t)) return;
  std::vector<std::pair<int, double>> row;
  for (const auto& n : topo.matrix(step).row(rank())) row.emplace_back(n.rank, n.weight);
  t.mul_(cached(row).view(t.sizes()).to(t.scalar_type()));
}

}  // namespace gossamer::sparse
