#include "gossamer/optim/gossip_pga.h"

#include <torch/torch.h>

#include "gossamer/comm/communicator.h"
#include "gossamer/optim/detail.h"
#include "gossamer/topology/topology.h"

namespace gossamer::optim {

void GossipPgaOptions::validate() const {
  if (period < 1) {
    throw std::invalid_argument("GossipPgaOptions.period = " + std::to_string(period) +
                                ": must be >= 1 (steps between global averages; 1 averages every step)");
  }
}

GossipPga::GossipPga(std::vector<at::Tensor> params, comm::Communicator& comm,
                     std::unique_ptr<torch::optim::Optimizer> local, const topology::Topology& topology,
                     GossipPgaOptions options)
    : DistributedOptimizer(std::move(params), comm, std::move(local)), topology_(topology), options_(options) {
  options_.validate();
  detail::require_matching_size(topology_, comm, "gossip-pga");
}

void GossipPga::step() {
  local_->step();
  torch::NoGradGuard no_grad;
  const bool global = (step_ + 1) % options_.period == 0;
  for (auto& p : params_) {
    if (global) {
      seam_.average(p);
    } else {
      seam_.mix(p, topology_, step_);
    }
  }
  ++step_;
}

}  // namespace gossamer::optim
