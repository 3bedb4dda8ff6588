#include "gossamer/train/optimizer_setup.h"

#include <torch/torch.h>

#include <algorithm>

#include "gossamer/compress/compressor.h"
#include "gossamer/compress/layerwise.h"
#include "gossamer/optim/compressed_averaging.h"
#include "gossamer/optim/distributed_optimizer.h"
#include "gossamer/optim/factory.h"
#include "gossamer/optim/powersgd_averaging.h"
#include "gossamer/train/flat_parameters.h"

namespace gossamer::train {

void check_optimizer_config(const config::Config& cfg) {
  const auto names = optim::algorithm_names();
  if (std::find(names.begin(), names.end(), cfg.optimizer.algorithm) != names.end()) return;
  std::string known;
  for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
  const bool local_name = cfg.optimizer.algorithm == "sgd" || cfg.optimizer.algorithm == "adamw";
  throw config::ConfigError("config: optimizer.algorithm = \"" + cfg.optimizer.algorithm + "\" is not one of: " +
                            known +
                            (local_name ? " (the local optimizer, sgd or adamw, is optimizer.name; the algorithm "
                                          "says how workers combine their updates)"
                                        : ""));
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

namespace {

compress::CompressorOptions compressor_options(const config::CompressConfig& c, uint64_t seed) {
  compress::CompressorOptions o;
  o.method = c.method;
  o.density = c.density;
  o.levels = c.levels;
  o.bucket = c.bucket;
  o.seed = seed;
  return o;
}

}  // namespace

optim::AlgorithmOptions algorithm_options(const config::OptimizerConfig& c, const config::CompressConfig& compress,
                                          uint64_t seed) {
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
  o.choco.consensus_step = c.consensus_step;
  if (c.algorithm == "choco") o.choco.compressor = compressor_options(compress, seed);
  return o;
}

std::unique_ptr<optim::DistributedOptimizer> make_distributed_optimizer(const config::OptimizerConfig& c,
                                                                        const config::CompressConfig& compress,
                                                                        uint64_t seed, at::Tensor flat,
                                                                        comm::Communicator& comm,
                                                                        const topology::Topology* topology) {
  return optim::make_distributed_optimizer(c.algorithm, algorithm_options(c, compress, seed), {flat}, comm, topology,
                                           make_local_optimizer(c, flat));
}

void install_compression(const config::CompressConfig& c, uint64_t seed, const FlatParameters& flat,
                         optim::DistributedOptimizer& optimizer) {
  // choco carries its compressor in its own gossip (built by make_distributed_optimizer).
  if (c.method == "none" || optimizer.name() == "choco") return;
  if (c.method == "powersgd") {
    optim::PowerSgdOptions o;
    o.rank = c.rank;
    o.start_step = c.start_step;
    o.error_feedback = c.error_feedback;
    o.seed = seed;
    std::vector<optim::MessageTensor> tensors;
    for (const auto& s : flat.slices()) tensors.push_back({s.offset, s.shape});
    optimizer.set_mixing(std::make_unique<optim::PowerSgdAveraging>(o, tensors, flat.numel()));
    return;
  }
  std::unique_ptr<compress::Compressor> compressor;
  if (c.layerwise == "lgreco") {
    // The layers: the parameter tensors in flat order (and any gap between them as its own piece).
    std::vector<int64_t> layers;
    int64_t at = 0;
    for (const auto& s : flat.slices()) {
      if (s.offset > at) layers.push_back(s.offset - at);
      layers.push_back(s.numel);
      at = s.offset + s.numel;
    }
    if (flat.numel() > at) layers.push_back(flat.numel() - at);
    compress::LayerwiseOptions lo;
    lo.every = c.layerwise_every;
    compressor = compress::make_layerwise(compressor_options(c, seed), layers, lo);
  } else {
    compressor = compress::make_compressor(compressor_options(c, seed));
  }
  optimizer.set_mixing(std::make_unique<optim::CompressedAveraging>(std::move(compressor), c.error_feedback,
                                                                    flat.numel()));
}

}  // namespace gossamer::train
