// MaskedGossip: the communicator a distributed optimizer uses during parallel GaP.
//
// In a parallel-GaP phase worker r holds the common sparse mask plus partition (r mod K) dense, so
// a weight outside the common mask lives on some workers only; the others hold an exact 0 there.
// A plain gossip or allreduce average would mix those zeros in and shrink every grown weight by
// the share of its neighbours that do not grow it (on a ring of 4 workers with K = 4, to a third
// of its value at every step). MaskedGossip forwards every call to the real communicator and
// then, on tensors shaped like the flat parameters, divides each coordinate by the weight of the
// workers that hold it:
//
//   x_i[c] <- (sum_j w_ij x_j[c]) * S / (sum_j w_ij m_j[c])   where m_i[c] = 1, else 0
//
// with S = sum_j w_ij (1 for a row-stochastic W; the number of workers for allreduce Mean, the
// group size for group_allreduce Mean). On the common mask every m_j = 1 and nothing changes; on a
// grown coordinate the result is the weighted average over the holders only. The masks of other
// workers are known locally (Pruner::worker_mask), so this costs no extra traffic. Outside a
// phase (and for other methods) every call passes straight through. Sum reductions, broadcasts,
// gathers and byte exchanges are never rescaled.
//
// Traffic counters stay on the wrapped communicator (this object records nothing itself).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "gossamer/comm/communicator.h"

namespace gossamer::sparse {

class Pruner;

class MaskedGossip final : public comm::Communicator {
 public:
  explicit MaskedGossip(comm::Communicator& inner);

  // The pruner whose masks decide the rescaling; null (the default) passes everything through.
  void attach(const Pruner* pruner);

  int rank() const override { return inner_.rank(); }
  int size() const override { return inner_.size(); }
  std::string backend() const override { return inner_.backend(); }

  void allreduce(at::Tensor& t, comm::ReduceOp op = comm::ReduceOp::Sum) override;
  void broadcast(at::Tensor& t, int root) override { inner_.broadcast(t, root); }
  std::vector<at::Tensor> allgather(const at::Tensor& t) override { return inner_.allgather(t); }
  void barrier() override { inner_.barrier(); }
  void neighbor_allreduce(at::Tensor& t, const topology::Topology& topo, int64_t step) override;
  void group_allreduce(at::Tensor& t, const std::vector<int>& group, comm::ReduceOp op = comm::ReduceOp::Mean) override;
  std::vector<comm::Bytes> exchange(const std::vector<std::pair<int, comm::Bytes>>& out,
                                    const std::vector<int>& from) override {
    return inner_.exchange(out, from);
  }

 private:
  bool applies(const at::Tensor& t) const;
  // [numel] own_mask * S / sum_j w_j m_j (0 where nobody holds the coordinate).
  at::Tensor scale_for(const std::vector<std::pair<int, double>>& weights);
  const at::Tensor& cached(const std::vector<std::pair<int, double>>& weights);

  comm::Communicator& inner_;
  const Pruner* pruner_ = nullptr;
  int64_t epoch_ = -1;
  // Scales for the weight lists seen in the current mask epoch (a static topology has one; a
  // periodic one has one per matrix of its period).
  std::map<std::vector<std::pair<int, double>>, at::Tensor> cache_;
};

}  // namespace gossamer::sparse
