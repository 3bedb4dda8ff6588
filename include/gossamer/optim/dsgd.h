// Decentralized SGD (Lian et al. 2017): each worker takes its local step and averages models only
// with its graph neighbours through the mixing matrix W(k).
//   adapt-then-combine  (ATC): x_i <- sum_j w_ij (x_j - lr * u_j)     (u = the local update direction)
//   combine-then-adapt (CTA): x_i <- sum_j w_ij x_j - lr * u_i
// With a momentum SGD as the local optimizer, ATC is DmSGD (m_i <- b m_i + g_i; x_i <- W(x - lr m)).
#pragma once

#include "gossamer/optim/distributed_optimizer.h"

namespace gossamer::topology {
class Topology;
}

namespace gossamer::optim {

enum class GossipOrder { AdaptThenCombine, CombineThenAdapt };

class DSgd : public DistributedOptimizer {
 public:
  DSgd(std::vector<at::Tensor> params, comm::Communicator& comm, std::unique_ptr<torch::optim::Optimizer> local,
       const topology::Topology& topology, GossipOrder order = GossipOrder::AdaptThenCombine);
  void step() override;
  std::string name() const override;
  bool gossips() const override { return true; }

 private:
  const topology::Topology& topology_;
  GossipOrder order_;
};

}  // namespace gossamer::optim
