#include "gossamer/optim/factory.h"

#include <torch/torch.h>

#include <algorithm>
#include <functional>

#include "gossamer/comm/communicator.h"
#include "gossamer/optim/decentlam.h"
#include "gossamer/optim/dsgd.h"
#include "gossamer/optim/exact_diffusion.h"
#include "gossamer/optim/gradient_tracking.h"
#include "gossamer/optim/parallel_sgd.h"
#include "gossamer/topology/topology.h"

namespace gossamer::optim {

namespace {

// What a builder gets: the factory's arguments, the topology checked to be present where needed.
struct BuildArgs {
  const AlgorithmOptions& options;
  std::vector<at::Tensor> params;
  comm::Communicator& comm;
  const topology::Topology* topology;  // non-null when the entry needs one
  std::unique_ptr<torch::optim::Optimizer> local;
};

struct Entry {
  const char* name;
  AlgorithmNeeds needs;
  std::function<std::unique_ptr<DistributedOptimizer>(BuildArgs&)> build;
};

// The one list of algorithms: adding one is its header and source plus one line here.
const std::vector<Entry>& registry() {
  static const std::vector<Entry> entries{
      {"parallel-sgd", AlgorithmNeeds{},
       [](BuildArgs& a) { return std::make_unique<ParallelSgd>(std::move(a.params), a.comm, std::move(a.local)); }},
      {"dsgd", AlgorithmNeeds{/*topology=*/true},
       [](BuildArgs& a) {
         return std::make_unique<DSgd>(std::move(a.params), a.comm, std::move(a.local), *a.topology,
                                       GossipOrder::AdaptThenCombine);
       }},
      {"dsgd-cta", AlgorithmNeeds{/*topology=*/true},
       [](BuildArgs& a) {
         return std::make_unique<DSgd>(std::move(a.params), a.comm, std::move(a.local), *a.topology,
                                       GossipOrder::CombineThenAdapt);
       }},
      {"gossip-pga", AlgorithmNeeds{/*topology=*/true},
       [](BuildArgs& a) {
         return std::make_unique<GossipPga>(std::move(a.params), a.comm, std::move(a.local), *a.topology,
                                            a.options.gossip_pga);
       }},
      {"local-sgd", AlgorithmNeeds{},
       [](BuildArgs& a) {
         return std::make_unique<LocalSgd>(std::move(a.params), a.comm, std::move(a.local), a.options.local_sgd);
       }},
      {"d2", AlgorithmNeeds{true, true, false, /*doubly_stochastic=*/true, /*exact_mixing=*/true, false, false,
                            /*symmetric=*/true},
       [](BuildArgs& a) {
         return std::make_unique<ExactDiffusion>(std::move(a.params), a.comm, std::move(a.local), *a.topology);
       }},
      {"gradient-tracking", AlgorithmNeeds{true, true, false, /*doubly_stochastic=*/true, /*exact_mixing=*/true},
       [](BuildArgs& a) {
         return std::make_unique<GradientTracking>(std::move(a.params), a.comm, std::move(a.local), *a.topology);
       }},
      {"decentlam", AlgorithmNeeds{true, true, /*momentum_allowed=*/true, false, /*exact_mixing=*/true, false, /*symmetric_with_momentum=*/true},
       [](BuildArgs& a) {
         return std::make_unique<DecentLam>(std::move(a.params), a.comm, std::move(a.local), *a.topology);
       }},
      {"wagma", AlgorithmNeeds{},
       [](BuildArgs& a) {
         return std::make_unique<Wagma>(std::move(a.params), a.comm, std::move(a.local), a.options.wagma);
       }},
      {"diloco", AlgorithmNeeds{},
       [](BuildArgs& a) {
         return std::make_unique<Diloco>(std::move(a.params), a.comm, std::move(a.local), a.options.diloco);
       }},
      {"dadam", AlgorithmNeeds{true, true, false, /*doubly_stochastic=*/true, /*exact_mixing=*/true},
       [](BuildArgs& a) {
         return std::make_unique<DAdam>(std::move(a.params), a.comm, std::move(a.local), *a.topology,
                                        a.options.dadam);
       }},
      {"choco", AlgorithmNeeds{true, false, true, false, false, /*static_topology=*/true},
       [](BuildArgs& a) {
         return std::make_unique<Choco>(std::move(a.params), a.comm, std::move(a.local), *a.topology,
                                        a.options.choco);
       }},
  };
  return entries;
}

const Entry& find(const std::string& algorithm) {
  for (const auto& e : registry()) {
    if (algorithm == e.name) return e;
  }
  std::string known;
  for (const auto& e : registry()) known += (known.empty() ? "" : ", ") + std::string(e.name);
  throw std::invalid_argument("unknown distributed optimizer algorithm '" + algorithm + "': known are " + known);
}

}  // namespace

std::vector<std::string> algorithm_names() {
  std::vector<std::string> names;
  for (const auto& e : registry()) names.emplace_back(e.name);
  return names;
}

bool algorithm_needs_topology(const std::string& algorithm) { return find(algorithm).needs.topology; }

AlgorithmNeeds algorithm_needs(const std::string& algorithm, const AlgorithmOptions& options) {
  AlgorithmNeeds needs = find(algorithm).needs;
  if (algorithm == "dadam" && !options.dadam.tracking) needs.doubly_stochastic = needs.exact_mixing = false;
  return needs;
}

std::unique_ptr<DistributedOptimizer> make_distributed_optimizer(const std::string& algorithm,
                                                                 const AlgorithmOptions& options,
                                                                 std::vector<at::Tensor> params,
                                                                 comm::Communicator& comm,
                                                                 const topology::Topology* topology,
                                                                 std::unique_ptr<torch::optim::Optimizer> local) {
  const Entry& e = find(algorithm);
  if (e.needs.topology && topology == nullptr) {
    throw std::invalid_argument("distributed optimizer '" + algorithm +
                                "' gossips with graph neighbours and needs a topology (none was given)");
  }
  BuildArgs args{options, std::move(params), comm, topology, std::move(local)};
  return e.build(args);
}

}  // namespace gossamer::optim
