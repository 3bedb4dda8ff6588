// Local SGD (periodic model averaging): every worker takes `period` local optimizer steps on its own
// data, then all models are averaged with one allreduce.
//   x_i <- x_i - lr * u_i;  if (k + 1) mod period == 0: x_i <- mean_j x_j
// One allreduce per `period` steps: the cheapest in messages, but the models drift apart between
// averages when data are heterogeneous.
#pragma once

#include <cstdint>

#include "gossamer/optim/distributed_optimizer.h"

namespace gossamer::optim {

struct LocalSgdOptions {
  int64_t period = 16;  // H: local steps between global averages, >= 1
  void validate() const;
};

class LocalSgd : public DistributedOptimizer {
 public:
  LocalSgd(std::vector<at::Tensor> params, comm::Communicator& comm, std::unique_ptr<torch::optim::Optimizer> local,
           LocalSgdOptions options = {});
  void step() override;
  std::string name() const override { return "local-sgd"; }
  const LocalSgdOptions& options() const { return options_; }

 private:
  LocalSgdOptions options_;
};

}  // namespace gossamer::optim
