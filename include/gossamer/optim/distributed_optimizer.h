// Distributed optimizers: drop-in for a LibTorch training loop. Build one from the parameters, a
// communicator (and a topology for gossip methods) and a local LibTorch optimizer; call step()
// after backward(). Written once against Communicator + Topology, so every algorithm runs on the
// InProcess and the Gloo backends alike. The algorithms and their options: docs/optimizers.md;
// one entry point by name: factory.h.
#pragma once

#include <ATen/core/Tensor.h>

#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gossamer/optim/message_seam.h"

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
  // step); `local`: the update each worker applies to its own copy (SGD, AdamW, ...). Algorithms
  // that define their own update (d2, gradient-tracking, decentlam, dadam) use it only for its
  // learning rate and weight decay and say so in their header.
  DistributedOptimizer(std::vector<at::Tensor> params, comm::Communicator& comm,
                       std::unique_ptr<torch::optim::Optimizer> local);
  virtual ~DistributedOptimizer();
  DistributedOptimizer(const DistributedOptimizer&) = delete;
  DistributedOptimizer& operator=(const DistributedOptimizer&) = delete;

  // One iteration after backward(): communication and the local update, in the algorithm's order.
  virtual void step() = 0;
  virtual std::string name() const = 0;

  // Sets the learning rate of every parameter group of the local optimizer; the algorithms read it
  // back at every step, so a schedule that calls set_lr before each step() is honoured.
  void set_lr(double lr);
  torch::optim::Optimizer& local() { return *local_; }
  comm::Communicator& communicator() { return comm_; }
  int64_t steps_taken() const { return step_; }

  // How this optimizer's messages travel (message_seam.h): read-only here; change it with
  // use_masks / set_mixing, which check that the algorithm can work with the result.
  const MessageSeam& seam() const { return seam_; }
  // The mixing rule's measurements since the last call (Mixing::take_metrics), for metrics.jsonl.
  std::map<std::string, double> take_mixing_metrics() { return seam_.mixing().take_metrics(); }
  // Sparse-aware messages: only the values inside `masks` travel. Needs exactly one parameter
  // tensor (the flat buffer) of masks->numel() values. Throws std::invalid_argument naming the
  // algorithm and the masks when the algorithm needs exact linear mixing and the masks differ
  // between workers. `masks` must outlive the optimizer; null restores dense messages.
  void use_masks(const MessageMasks* masks);
  // Replaces the mixing rule (compression, robust aggregation, ...); same check as use_masks.
  void set_mixing(std::unique_ptr<Mixing> mixing);
  // Why the algorithm needs every mix to be exact linear mixing with W and every average the
  // exact mean (empty: it does not). Refused combinations name it.
  virtual std::string exact_mixing_need() const { return {}; }
  // Whether step() mixes with graph neighbours (MessageSeam::mix); false: only averages.
  virtual bool gossips() const { return false; }

  // Every live tensor of optimizer state shaped like a parameter: the local optimizer's buffers
  // (momenta, Adam moments) and the algorithm's own (algorithm_state_tensors). Handles that share
  // storage with the state, not copies: a mask multiplied into them in place reaches the
  // algorithm. Valid until the next step().
  std::vector<at::Tensor> state_tensors();

  // Algorithm state beyond the local optimizer's (previous iterates, trackers, momenta, outer
  // state), for checkpoints: "step" plus "<algorithm>.<what>.<param index>" tensors (copies).
  // load_state(state()) on a fresh optimizer built the same way continues bit for bit.
  virtual std::map<std::string, at::Tensor> state() const;
  virtual void load_state(const std::map<std::string, at::Tensor>& state);

 protected:
  // The local optimizer's learning rate (first parameter group; set_lr sets them all).
  double lr() const;
  // params_[i].grad(); throws std::runtime_error naming the algorithm when backward() did not fill it.
  at::Tensor grad(size_t i) const;
  // Checkpoint helpers: put_tensors stores copies under "<prefix>.<i>"; take_tensors reads them
  // back, checking that every key is there and each shape matches params_[i] (throws naming the key).
  static void put_tensors(std::map<std::string, at::Tensor>& out, const std::string& prefix,
                          const std::vector<at::Tensor>& tensors);
  std::vector<at::Tensor> take_tensors(const std::map<std::string, at::Tensor>& in, const std::string& prefix) const;
  static bool has_tensors(const std::map<std::string, at::Tensor>& in, const std::string& prefix);

  // The algorithm's own state tensors shaped like a parameter, by handle (see state_tensors()).
  virtual std::vector<at::Tensor> algorithm_state_tensors() { return {}; }
  // The defined tensors of `lists`, in order (state before the first step is empty or undefined).
  static std::vector<at::Tensor> defined_tensors(std::initializer_list<const std::vector<at::Tensor>*> lists);

  std::vector<at::Tensor> params_;
  comm::Communicator& comm_;
  MessageSeam seam_;  // every message of the algorithm goes through it
  std::unique_ptr<torch::optim::Optimizer> local_;
  int64_t step_ = 0;  // completed step() calls; the gossip step index for time-varying graphs
};

// The state tensors of a LibTorch optimizer shaped like its parameters (SGD momentum buffers,
// Adam/AdamW moments), by handle: what a mask must also zero.
std::vector<at::Tensor> local_state_tensors(torch::optim::Optimizer& local);

}  // namespace gossamer::optim
