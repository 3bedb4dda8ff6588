// The one typed configuration of a run, read from a TOML file plus `--set section.key=value`
// overrides. Every key is validated: unknown keys, wrong types and out-of-range values stop with
// a ConfigError naming the key, the value and what is allowed.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace gossamer::config {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct DataConfig {
  std::string dataset = "fashion-mnist";
  std::string path = "/usr/share/datasets/fashion-mnist";
  std::string partition = "iid";  // iid | dirichlet | classes
  double dirichlet_alpha = 0.5;
  int64_t classes_per_worker = 2;
  int64_t train_limit = 0;  // use the first N training samples (0 = all)
  int64_t test_limit = 0;   // evaluate on the first N test samples (0 = all)
  std::string order = "reshuffle";  // reshuffle | shuffle-once | cyclic
};

struct ModelConfig {
  std::string name = "lenet5";  // mlp | lenet5 | resnet20
  std::vector<int64_t> hidden{300, 100};
  int64_t width = 16;
};

struct TrainConfig {
  int64_t epochs = 10;
  int64_t batch_size = 64;  // per worker
  int64_t seed = 1;
  int64_t threads = 0;      // LibTorch intra-op threads per process; 0 = all cores
  int64_t log_every = 50;   // steps between metrics lines
  int64_t max_steps = 0;    // stop (with a checkpoint) after this many steps; 0 = run all epochs
  int64_t eval_batch_size = 1000;
};

struct OptimizerConfig {
  // How workers combine their updates (ignored with one worker): parallel-sgd, dsgd, dsgd-cta,
  // gossip-pga, local-sgd, d2, gradient-tracking, decentlam, wagma, diloco, dadam (docs/optimizers.md).
  std::string algorithm = "parallel-sgd";
  int64_t period = 16;          // H for gossip-pga, local-sgd and diloco
  int64_t group_size = 4;       // wagma: workers per group
  int64_t global_period = 10;   // wagma: steps between global averages
  double outer_lr = 0.7;        // diloco
  double outer_momentum = 0.9;  // diloco
  bool tracking = false;        // dadam: Adam on a gradient tracker
  std::string name = "sgd";  // the local update: sgd | adamw
  double lr = 0.05;
  double momentum = 0.9;
  bool nesterov = true;
  double weight_decay = 5e-4;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};

struct ScheduleConfig {
  std::string name = "cosine";  // constant | step | cosine
  double warmup_epochs = 0.0;   // linear warm-up from 0
  int64_t step_epochs = 10;     // step: multiply by gamma every step_epochs
  double gamma = 0.1;
  double min_lr = 0.0;          // cosine: final learning rate
};

struct OutputConfig {
  std::string dir = "runs/default";
  int64_t checkpoint_every = 0;  // steps; 0 = at the end of every epoch
  std::string progress = "auto";  // auto | bar | lines | off
};

struct ClusterConfig {
  int64_t workers = 1;
  std::string backend = "inprocess";  // inprocess | gloo
  std::string topology = "ring";
  std::string weights = "metropolis";
  int64_t timeout_ms = 60000;     // every blocking communication call gives up after this
  double latency_us = 50.0;       // α-β network model for the modelled communication time
  double bandwidth_gbps = 1.0;
};

struct Config {
  DataConfig data;
  ModelConfig model;
  TrainConfig train;
  OptimizerConfig optimizer;
  ScheduleConfig schedule;
  OutputConfig output;
  ClusterConfig cluster;
};

// Parses TOML text (`origin` names it in messages, e.g. the file path) and applies overrides of
// the form "section.key=value" (value in TOML syntax; a bare word is taken as a string).
Config parse_config(const std::string& toml_text, const std::string& origin,
                    const std::vector<std::string>& overrides = {});
// Reads the file (ConfigError if it cannot be read), then as parse_config.
Config load_config(const std::string& path, const std::vector<std::string>& overrides = {});
// The configuration as TOML, every key written out (saved next to each run's metrics).
std::string to_toml(const Config& config);

}  // namespace gossamer::config
