#include "gossamer/train/optimizer_setup.h"

#include <torch/torch.h>

#include <algorithm>

#include "gossamer/compress/compressor.h"
#include "gossamer/optim/compressed_averaging.h"
#include "gossamer/optim/distributed_optimizer.h"
#include "gossamer/optim/factory.h"

namespace gossamer::train {

void check_optimizer_config(const config::Config& cfg) {
  const auto names = optim::algorithm_names();
  if (std::find(names.begin(), names.end(), cfg.optimizer.algorithm) != names.end()) return;
  std::string known;
  for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
  throw config::ConfigError("config: optimizer.algorithm = \"" + cfg.optimizer.algorithm + "\" is not one of: " +
                            known);
}

std::unique_ptr<torch::optim::Optimizer> make_local_optimizer(const config::OptimizerConfig& c, at::Tensor flat) {
  std::vector<at::Tensor> params{flat};
  if (c.name == "sgd") {
    return std::make_unique<torch::optim::SGD>(
        params, torch::optim::SGDOptions(c.lr).momentum(c.momentum).nesterov(c.nesterov).weight_decay(c.weight_decay));
  }
  if (c.name == "adamw") {
    return std::make_unique<torch::optim::AdamW>(
        params, torch::optim::AdamWOptions(c.lr).betas({c.beta1, c.beta2}).eps(c.eps).weight_decay(c.weight_decay));
  }
  throw std::invalid_argument("unknown optimizer '" + c.name + "': use sgd or adamw");
}

std::unique_ptr<optim::DistributedOptimizer> make_distributed_optimizer(const config::OptimizerConfig& c,
                                                                        at::Tensor flat, comm::Communicator& comm,
                                                                        const topology::Topology* topology) {
  optim::AlgorithmOptions o;
  o.gossip_pga.period = c.period;
  o.local_sgd.period = c.period;
  o.diloco.period = c.period;
  o.diloco.outer_lr = c.outer_lr;
  o.diloco.outer_momentum = c.outer_momentum;
  o.wagma.group_size = static_cast<int>(c.group_size);
  o.wagma.global_period = c.global_period;
  o.dadam.beta1 = c.beta1;
  o.dadam.beta2 = c.beta2;
  o.dadam.eps = c.eps;
  o.dadam.tracking = c.tracking;
  o.dadam.adapt_then_combine = c.form == "atc";
  o.dadam.accumulation = c.accumulation;
  return optim::make_distributed_optimizer(c.algorithm, o, {flat}, comm, topology, make_local_optimizer(c, flat));
}

void install_compression(const config::CompressConfig& c, uint64_t seed, int64_t numel,
                         optim::DistributedOptimizer& optimizer) {
  if (c.method == "none") return;
  compress::CompressorOptions o;
  o.method = c.method;
  o.density = c.density;
  o.levels = c.levels;
  o.bucket = c.bucket;
  o.seed = seed;
  optimizer.set_mixing(std::make_unique<optim::CompressedAveraging>(compress::make_compressor(o), c.error_feedback, numel));
}

}  // namespace gossamer::train
