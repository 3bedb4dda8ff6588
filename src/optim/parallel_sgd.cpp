#include "gossamer/optim/parallel_sgd.h"

#include <torch/torch.h>

#include "gossamer/comm/communicator.h"

namespace gossamer::optim {

void ParallelSgd::step() {
  for (auto& p : params_) {
    at::Tensor g = p.mutable_grad();
    if (!g.defined()) throw std::runtime_error("parallel-sgd: a parameter has no gradient (call backward() first)");
    seam_.average(g);
  }
  local_->step();
  ++step_;
}

}  // namespace gossamer::optim
