#include "gossamer/optim/choco.h"

#include <torch/torch.h>

#include "gossamer/optim/compressed_gossip.h"
#include "gossamer/topology/topology.h"

namespace gossamer::optim {

namespace {

std::vector<int64_t> sizes_of(const std::vector<at::Tensor>& params) {
  std::vector<int64_t> n;
  for (const auto& p : params) n.push_back(p.numel());
  return n;
}

}  // namespace

Choco::Choco(std::vector<at::Tensor> params, comm::Communicator& comm, std::unique_ptr<torch::optim::Optimizer> local,
             const topology::Topology& topology, const ChocoOptions& options)
    : DSgd(std::move(params), comm, std::move(local), topology, GossipOrder::AdaptThenCombine) {
  require_static_topology(topology);  // at construction, not at the first step
  set_mixing(std::make_unique<CompressedGossip>(compress::make_compressor(options.compressor), options.consensus_step,
                                                sizes_of(params_)));
}

}  // namespace gossamer::optim
