// DiLoCo-style outer step (Douillard et al. 2023, arXiv 2311.08105): `period` inner steps of the
// local optimizer (AdamW in the paper, any torch optimizer here) without communication, then one
// outer step shared by all workers on the averaged change:
//   Δ = x_anchor - mean_j x_j            (one allreduce)
//   b <- mu b + Δ  (b^0 = Δ);  d = Δ + mu b (Nesterov) or b (heavy ball);  mu = 0: d = Δ
//   x_i = x_anchor <- x_anchor - outer_lr * d
// x_anchor is the model at the previous outer step (the parameters at the first step() call).
// The inner optimizer's own state (AdamW moments) stays local, as in the paper.
#pragma once

#include <cstdint>

#include "gossamer/optim/distributed_optimizer.h"

namespace gossamer::optim {

struct DilocoOptions {
  int64_t period = 16;          // H: inner steps per outer step, >= 1 (the paper uses 500; 16 as optimizer.period)
  double outer_lr = 0.7;        // > 0
  double outer_momentum = 0.9;  // in [0, 1)
  bool nesterov = true;
  void validate() const;
};

class Diloco : public DistributedOptimizer {
 public:
  Diloco(std::vector<at::Tensor> params, comm::Communicator& comm, std::unique_ptr<torch::optim::Optimizer> local,
         DilocoOptions options = {});
  void step() override;
  std::string name() const override { return "diloco"; }
  const DilocoOptions& options() const { return options_; }
  std::map<std::string, at::Tensor> state() const override;
  void load_state(const std::map<std::string, at::Tensor>& state) override;

 protected:
  std::vector<at::Tensor> algorithm_state_tensors() override;

 private:
  DilocoOptions options_;
  std::vector<at::Tensor> anchor_;  // x at the last outer step; empty before the first step
  std::vector<at::Tensor> outer_momentum_;  // b; empty before the first outer step
};

}  // namespace gossamer::optim
