// One entry point from an algorithm name (a config value) to a DistributedOptimizer.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "gossamer/optim/choco.h"
#include "gossamer/optim/dadam.h"
#include "gossamer/optim/diloco.h"
#include "gossamer/optim/distributed_optimizer.h"
#include "gossamer/optim/gossip_pga.h"
#include "gossamer/optim/local_sgd.h"
#include "gossamer/optim/wagma.h"

namespace gossamer::topology {
class Topology;
}

namespace gossamer::optim {

// Every algorithm's knobs; each algorithm reads only its own struct (the others are ignored).
// Learning rate, momentum and weight decay come from the local optimizer (see each header).
struct AlgorithmOptions {
  GossipPgaOptions gossip_pga;
  LocalSgdOptions local_sgd;
  WagmaOptions wagma;
  DilocoOptions diloco;
  DAdamOptions dadam;
  ChocoOptions choco;
};

// "parallel-sgd", "dsgd", "dsgd-cta", "gossip-pga", "local-sgd", "d2", "gradient-tracking",
// "decentlam", "wagma", "diloco", "dadam", "choco".
std::vector<std::string> algorithm_names();
// Whether `algorithm` gossips over a topology (false: only global collectives). Throws for unknown names.
bool algorithm_needs_topology(const std::string& algorithm);

// What an algorithm needs from the rest of a run, known before anything is built, so that a caller
// can check a whole configuration at once (train/preflight.h) instead of meeting one constructor
// error per attempt. The constructors keep their own checks.
struct AlgorithmNeeds {
  bool topology = false;           // gossips over a graph (false: only global collectives)
  bool own_update = false;         // defines its own update: the local optimizer must be SGD without Nesterov
  bool momentum_allowed = true;    // with own_update: whether that SGD may have momentum
  bool doubly_stochastic = false;  // W must be doubly stochastic
  bool exact_mixing = false;       // every mix must be exactly W: no lossy/robust mixing, shared masks
  bool static_topology = false;    // one fixed W at every step
  bool symmetric_with_momentum = false;  // with momentum, W must be symmetric
  bool symmetric = false;          // W must be symmetric at every step
};

// The needs of `algorithm` with these options (dadam needs exactness only with tracking). Throws
// for unknown names.
AlgorithmNeeds algorithm_needs(const std::string& algorithm, const AlgorithmOptions& options = {});

// Builds and validates. Throws std::invalid_argument for an unknown name (listing the known ones),
// a missing topology where one is needed, a topology whose size differs from the communicator's,
// bad options (naming the field, the value and what is allowed) and a local optimizer the algorithm
// cannot use (e.g. d2 with momentum). `topology` must outlive the optimizer.
std::unique_ptr<DistributedOptimizer> make_distributed_optimizer(const std::string& algorithm,
                                                                 const AlgorithmOptions& options,
                                                                 std::vector<at::Tensor> params,
                                                                 comm::Communicator& comm,
                                                                 const topology::Topology* topology,
                                                                 std::unique_ptr<torch::optim::Optimizer> local);

}  // namespace gossamer::optim
