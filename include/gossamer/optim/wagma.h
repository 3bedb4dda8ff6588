// WAGMA-SGD (Li et al. 2020, arXiv 2005.00124), SYNCHRONOUS variant: group model averaging over
// groups of `group_size` workers that change every step in butterfly fashion, plus a global
// average every `global_period` steps.
//   x_i <- x_i - lr * u_i  (local optimizer step)
//   x_i <- mean_{j in G_i(k)} x_j     (group allreduce), or mean over all workers when (k+1) mod global_period == 0
// Groups (n and group_size powers of two, L = log2 n, s = log2 group_size): at step k the window of
// s rank bits starting at bit o_k = (k * s) mod L (wrapping) is free; G_i(k) = the ranks that agree
// with i on every other bit. Consecutive steps slide the window (recursive doubling), so after
// ceil(L / s) steps every model has reached every worker.
// Not implemented: the paper's wait-avoiding part (the first arrival triggers the group reduction and
// late members contribute stale models). Every group member waits for the others here.
#pragma once

#include <cstdint>

#include "gossamer/optim/distributed_optimizer.h"

namespace gossamer::optim {

struct WagmaOptions {
  int group_size = 4;         // S: workers per group; a power of two dividing the worker count
  int64_t global_period = 10;  // steps between synchronous global averages, >= 1
  void validate() const;
};

class Wagma : public DistributedOptimizer {
 public:
  Wagma(std::vector<at::Tensor> params, comm::Communicator& comm, std::unique_ptr<torch::optim::Optimizer> local,
        WagmaOptions options = {});
  void step() override;
  std::string name() const override { return "wagma"; }
  const WagmaOptions& options() const { return options_; }

  // G_rank(step), sorted; `workers` and `group_size` powers of two, group_size <= workers.
  static std::vector<int> group(int rank, int workers, int group_size, int64_t step);

 private:
  WagmaOptions options_;
};

}  // namespace gossamer::optim
