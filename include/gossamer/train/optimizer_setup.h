// Turning the [optimizer] section into optimizers: the local LibTorch optimizer, the distributed
// algorithm (by name, from optim/factory.h's registry) and the check of the algorithm's name.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>

#include "gossamer/config/config.h"
#include "gossamer/optim/factory.h"

namespace torch::optim {
class Optimizer;
}
namespace gossamer::comm {
class Communicator;
}
namespace gossamer::topology {
class Topology;
}
namespace gossamer::optim {
class DistributedOptimizer;
}

namespace gossamer::train {

class FlatParameters;

// Throws config::ConfigError when optimizer.algorithm is not a registered algorithm, listing them.
// The config layer cannot see the registry (it sits below optim/), so this is where the name is
// checked; run_training calls it before loading any data.
void check_optimizer_config(const config::Config& cfg);

// sgd or adamw over the one flat parameter tensor.
std::unique_ptr<torch::optim::Optimizer> make_local_optimizer(const config::OptimizerConfig& c, at::Tensor flat);

// [optimizer] (and, for choco, [compress]) as the algorithms' options.
optim::AlgorithmOptions algorithm_options(const config::OptimizerConfig& c, const config::CompressConfig& compress,
                                          uint64_t seed);

// The configured algorithm over `flat`, with `comm` and `topology` (null for the algorithms that
// need none); choco takes its compressor from `compress` (random draws seeded by `seed`). Throws
// std::invalid_argument for a combination the algorithm cannot run.
std::unique_ptr<optim::DistributedOptimizer> make_distributed_optimizer(const config::OptimizerConfig& c,
                                                                        const config::CompressConfig& compress,
                                                                        uint64_t seed, at::Tensor flat,
                                                                        comm::Communicator& comm,
                                                                        const topology::Topology* topology);

// [compress]: with a method other than none, the optimizer's averages travel compressed: packets
// (optim::CompressedAveraging over `flat`'s values; random draws seeded by `seed`), or, for
// powersgd, low-rank factors of each of `flat`'s tensors (optim::PowerSgdAveraging). Nothing to do
// for choco, whose gossip is already compressed.
void install_compression(const config::CompressConfig& c, uint64_t seed, const FlatParameters& flat,
                         optim::DistributedOptimizer& optimizer);

}  // namespace gossamer::train
