#include "gossamer/optim/local_sgd.h"

#include <torch/torch.h>

#include "gossamer/comm/communicator.h"

namespace gossamer::optim {

void LocalSgdOptions::validate() const {
  if (period < 1) {
    throw std::invalid_argument("LocalSgdOptions.period = " + std::to_string(period) +
                                ": must be >= 1 (local steps between global averages)");
  }
}

LocalSgd::LocalSgd(std::vector<at::Tensor> params, comm::Communicator& comm,
                   std::unique_ptr<torch::optim::Optimizer> local, LocalSgdOptions options)
    : DistributedOptimizer(std::move(params), comm, std::move(local)), options_(options) {
  options_.validate();
}

void LocalSgd::step() {
  local_->step();
  if ((step_ + 1) % options_.period == 0) {
    torch::NoGradGuard no_grad;
    for (auto& p : params_) seam_.average(p);
  }
  ++step_;
}

}  // namespace gossamer::optim
