#include "gossamer/optim/dsgd.h"

#include <torch/torch.h>

#include "gossamer/comm/communicator.h"
#include "gossamer/topology/topology.h"

namespace gossamer::optim {

DSgd::DSgd(std::vector<at::Tensor> params, comm::Communicator& comm, std::unique_ptr<torch::optim::Optimizer> local,
           const topology::Topology& topology, GossipOrder order)
    : DistributedOptimizer(std::move(params), comm, std::move(local)), topology_(topology), order_(order) {
  if (topology_.size() != comm.size()) {
    throw std::invalid_argument("dsgd: topology '" + topology_.name() + "' has " + std::to_string(topology_.size()) +
                                " workers but the communicator has " + std::to_string(comm.size()));
  }
}

std::string DSgd::name() const { return order_ == GossipOrder::AdaptThenCombine ? "dsgd-atc" : "dsgd-cta"; }

void DSgd::step() {
  torch::NoGradGuard no_grad;
  if (order_ == GossipOrder::AdaptThenCombine) {
    local_->step();  // x_i - lr * u_i
    for (auto& p : params_) seam_.mix(p, topology_, step_);
  } else {
    // The local update direction is taken at x_i (gradients already computed there); mixing first
    // then adding -lr*u_i equals W x - lr u because the local step is additive in x.
    for (auto& p : params_) seam_.mix(p, topology_, step_);
    local_->step();
  }
  ++step_;
}

}  // namespace gossamer::optim
