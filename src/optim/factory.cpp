#include "gossamer/optim/factory.h"

#include <torch/torch.h>

#include <algorithm>

#include "gossamer/comm/communicator.h"
#include "gossamer/optim/decentlam.h"
#include "gossamer/optim/dsgd.h"
#include "gossamer/optim/exact_diffusion.h"
#include "gossamer/optim/gradient_tracking.h"
#include "gossamer/optim/parallel_sgd.h"
#include "gossamer/topology/topology.h"

namespace gossamer::optim {

std::vector<std::string> algorithm_names() {
  return {"parallel-sgd", "dsgd",  "dsgd-cta", "gossip-pga", "local-sgd", "d2",
          "gradient-tracking", "decentlam", "wagma", "diloco", "dadam"};
}

namespace {

std::string known_list() {
  std::string s;
  for (const auto& n : algorithm_names()) s += (s.empty() ? "" : ", ") + n;
  return s;
}

void require_known(const std::string& algorithm) {
  const auto names = algorithm_names();
  if (std::find(names.begin(), names.end(), algorithm) == names.end()) {
    throw std::invalid_argument("unknown distributed optimizer algorithm '" + algorithm + "': known are " +
                                known_list());
  }
}

}  // namespace

bool algorithm_needs_topology(const std::string& algorithm) {
  require_known(algorithm);
  return !(algorithm == "parallel-sgd" || algorithm == "local-sgd" || algorithm == "wagma" || algorithm == "diloco");
}

std::unique_ptr<DistributedOptimizer> make_distributed_optimizer(const std::string& algorithm,
                                                                 const AlgorithmOptions& options,
                                                                 std::vector<at::Tensor> params,
                                                                 comm::Communicator& comm,
                                                                 const topology::Topology* topology,
                                                                 std::unique_ptr<torch::optim::Optimizer> local) {
  if (algorithm_needs_topology(algorithm) && topology == nullptr) {
    throw std::invalid_argument("distributed optimizer '" + algorithm +
                                "' gossips with graph neighbours and needs a topology (none was given)");
  }
  auto p = std::move(params);
  auto l = std::move(local);
  if (algorithm == "parallel-sgd") return std::make_unique<ParallelSgd>(std::move(p), comm, std::move(l));
  if (algorithm == "local-sgd") return std::make_unique<LocalSgd>(std::move(p), comm, std::move(l), options.local_sgd);
  if (algorithm == "wagma") return std::make_unique<Wagma>(std::move(p), comm, std::move(l), options.wagma);
  if (algorithm == "diloco") return std::make_unique<Diloco>(std::move(p), comm, std::move(l), options.diloco);
  const topology::Topology& topo = *topology;
  if (algorithm == "dsgd") {
    return std::make_unique<DSgd>(std::move(p), comm, std::move(l), topo, GossipOrder::AdaptThenCombine);
  }
  if (algorithm == "dsgd-cta") {
    return std::make_unique<DSgd>(std::move(p), comm, std::move(l), topo, GossipOrder::CombineThenAdapt);
  }
  if (algorithm == "gossip-pga") {
    return std::make_unique<GossipPga>(std::move(p), comm, std::move(l), topo, options.gossip_pga);
  }
  if (algorithm == "d2") return std::make_unique<ExactDiffusion>(std::move(p), comm, std::move(l), topo);
  if (algorithm == "gradient-tracking") {
    return std::make_unique<GradientTracking>(std::move(p), comm, std::move(l), topo);
  }
  if (algorithm == "decentlam") return std::make_unique<DecentLam>(std::move(p), comm, std::move(l), topo);
  if (algorithm == "dadam") return std::make_unique<DAdam>(std::move(p), comm, std::move(l), topo, options.dadam);
  throw std::logic_error("make_distributed_optimizer: '" + algorithm + "' is listed but not built");
}

}  // namespace gossamer::optim
