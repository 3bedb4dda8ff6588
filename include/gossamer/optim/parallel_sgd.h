// Parallel SGD: average the gradients over all workers (allreduce), then every worker applies the
// same local update, so all replicas stay identical. The baseline every gossip method is compared to.
#pragma once

#include "gossamer/optim/distributed_optimizer.h"

namespace gossamer::optim {

class ParallelSgd : public DistributedOptimizer {
 public:
  using DistributedOptimizer::DistributedOptimizer;
  void step() override;
  std::string name() const override { return "parallel-sgd"; }
};

}  // namespace gossamer::optim
