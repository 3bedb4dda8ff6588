// Distributed optimizers: drop-in for a LibTorch training loop. Build one from the parameters, a
// communicator (and a topology for gossip methods) and a local LibTorch optimizer; call step()
// after backward(). Written once against Communicator + Topology, so every algorithm runs on the
// InProcess and the Gloo backends alike.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace torch::optim {
class Optimizer;
}
namespace gossamer::comm {
class Communicator;
}

namespace gossamer::optim {

class DistributedOptimizer {
 public:
  // `params`: leaf tensors whose .grad() backward fills (pass one flat tensor for one message per
  // step); `local`: the update each worker applies to its own copy (SGD, AdamW, ...).
  DistributedOptimizer(std::vector<at::Tensor> params, comm::Communicator& comm,
                       std::unique_ptr<torch::optim::Optimizer> local);
  virtual ~DistributedOptimizer();
  DistributedOptimizer(const DistributedOptimizer&) = delete;
  DistributedOptimizer& operator=(const DistributedOptimizer&) = delete;

  // One iteration after backward(): communication and the local update, in the algorithm's order.
  virtual void step() = 0;
  virtual std::string name() const = 0;

  void set_lr(double lr);
  torch::optim::Optimizer& local() { return *local_; }
  comm::Communicator& communicator() { return comm_; }
  int64_t steps_taken() const { return step_; }

  // Algorithm state beyond the local optimizer's (previous iterates, trackers), for checkpoints.
  virtual std::map<std::string, at::Tensor> state() const;
  virtual void load_state(const std::map<std::string, at::Tensor>& state);

 protected:
  std::vector<at::Tensor> params_;
  comm::Communicator& comm_;
  std::unique_ptr<torch::optim::Optimizer> local_;
  int64_t step_ = 0;  // completed step() calls; the gossip step index for time-varying graphs
};

}  // namespace gossamer::optim
