// Gossip-PGA (Chen et al. 2021, arXiv 2105.09080): gossip SGD with a periodic global average.
//   y_i = x_i - lr * u_i  (the local optimizer's step)
//   x_i = mean_j y_j            if (k + 1) mod period == 0   (allreduce)
//   x_i = sum_j w_ij(k) y_j     otherwise                    (neighbour gossip)
// The global average removes the consensus error that builds up on sparse graphs, so the transient
// stage no longer grows like 1/(1 - beta)^4; between averages only neighbour traffic is sent.
#pragma once

#include <cstdint>

#include "gossamer/optim/distributed_optimizer.h"

namespace gossamer::topology {
class Topology;
}

namespace gossamer::optim {

struct GossipPgaOptions {
  int64_t period = 16;  // H: steps between global averages, >= 1 (1 = parallel model averaging)
  // Throws std::invalid_argument naming the field, the value and what is allowed.
  void validate() const;
};

class GossipPga : public DistributedOptimizer {
 public:
  GossipPga(std::vector<at::Tensor> params, comm::Communicator& comm, std::unique_ptr<torch::optim::Optimizer> local,
            const topology::Topology& topology, GossipPgaOptions options = {});
  void step() override;
  std::string name() const override { return "gossip-pga"; }
  bool gossips() const override { return true; }
  const GossipPgaOptions& options() const { return options_; }

 private:
  const topology::Topology& topology_;
  GossipPgaOptions options_;
};

}  // namespace gossamer::optim
