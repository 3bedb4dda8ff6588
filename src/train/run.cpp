#include "gossamer/train/run.h"

#include <ATen/ATen.h>

#include <stdexcept>

#include "gossamer/data/fashion_mnist.h"
#include "gossamer/util/log.h"

namespace gossamer::train {

namespace {

data::Dataset first_n(const data::Dataset& d, int64_t n) {
  if (n <= 0 || n >= d.size()) return d;
  data::Dataset out = d;
  out.inputs = d.inputs.narrow(0, 0, n);
  out.targets = d.targets.narrow(0, 0, n);
  return out;
}

}  // namespace

RunSummary run_training(const config::Config& cfg, bool resume, const std::atomic<bool>* stop) {
  if (cfg.cluster.workers != 1) {
    throw std::invalid_argument("cluster.workers = " + std::to_string(cfg.cluster.workers) +
                                ": multi-worker training is not available in this build yet; use cluster.workers = 1");
  }
  const int threads = configure_threads(cfg.train.threads);
  util::log_info("loading Fashion-MNIST from " + cfg.data.path + " (" + std::to_string(threads) + " threads)");
  data::FashionMnist fm = data::load_fashion_mnist(cfg.data.path);
  data::Dataset train = first_n(fm.train, cfg.data.train_limit);
  data::Dataset test = first_n(fm.test, cfg.data.test_limit);
  Trainer trainer(cfg, std::move(train), test, cfg.output.dir);
  return trainer.run(resume, stop);
}

}  // namespace gossamer::train
