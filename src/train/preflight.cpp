#include "gossamer/train/preflight.h"

#include <ATen/ATen.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "gossamer/comm/gloo_communicator.h"
#include "gossamer/comm/inprocess_communicator.h"
#include "gossamer/data/dataset.h"
#include "gossamer/optim/factory.h"
#include "gossamer/topology/analysis.h"
#include "gossamer/topology/spec.h"
#include "gossamer/models/model.h"
#include "gossamer/models/transformer.h"
#include "gossamer/train/checkpoint.h"
#include "gossamer/train/optimizer_setup.h"
#include "gossamer/train/robust_setup.h"
#include "gossamer/train/sparse_setup.h"
#include "gossamer/train/trainer.h"

namespace gossamer::train {

namespace {

namespace fs = std::filesystem;

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

// A number as a user would write it (0.9, not 0.900000).
std::string number(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

bool given(const config::Config& cfg, const std::string& key) {
  return std::find(cfg.given_keys.begin(), cfg.given_keys.end(), key) != cfg.given_keys.end();
}

// Fashion-MNIST's training set; data.train_limit takes its first samples.
constexpr int64_t kTrainSamples = 60000;

// [optimizer] against what the algorithm's own update allows.
void check_local_optimizer(const config::Config& cfg, const optim::AlgorithmNeeds& needs,
                           std::vector<std::string>& problems) {
  const auto& o = cfg.optimizer;
  const std::string alg = "optimizer.algorithm = " + quoted(o.algorithm);
  if (!needs.own_update) return;
  if (o.name != "sgd") {
    problems.push_back(alg + " defines its own update and takes only the learning rate" +
                       (needs.momentum_allowed ? ", momentum" : "") + " and weight decay from the local optimizer" +
                       (o.algorithm == "dadam" ? " (its Adam moments are optimizer.beta1, beta2 and eps)" : "") +
                       "; optimizer.name = " + quoted(o.name) + " cannot be used: set optimizer.name = \"sgd\"");
    return;
  }
  if (o.nesterov) {
    problems.push_back(alg + " has no Nesterov form of its update; set optimizer.nesterov = false");
  }
  if (!needs.momentum_allowed && o.momentum != 0) {
    problems.push_back(alg + " is defined for plain gradient steps; optimizer.momentum = " +
                       number(o.momentum) + " cannot be used: set optimizer.momentum = 0 (and nesterov = "
                       "false), or use an algorithm with momentum (dsgd, decentlam)");
  }
}

// What exact mixing (every mix exactly W) rules out.
void check_exact_mixing(const config::Config& cfg, const optim::AlgorithmNeeds& needs,
                        std::vector<std::string>& problems) {
  if (!needs.exact_mixing) return;
  const std::string alg = "optimizer.algorithm = " + quoted(cfg.optimizer.algorithm);
  if (robust_enabled(cfg)) {
    problems.push_back(alg + " needs every mix to be exactly W, which robust aggregation and attacks ([robust], "
                       "[attack]) do not give: remove them, or use dsgd or gossip-pga");
  }
  if (cfg.sparse.method == "gap" && cfg.sparse.gap_mode == "parallel") {
    problems.push_back(alg + " needs every mix to be exactly W; sparse.gap_mode = \"parallel\" gives each worker its "
                       "own mask, so a weight is averaged only over the workers that hold it: use sparse.gap_mode = "
                       "\"cyclic\", or an algorithm without that need (dsgd, gossip-pga)");
  }
}

void check_topology(const config::Config& cfg, const optim::AlgorithmNeeds& needs, const topology::Topology& t,
                    std::vector<std::string>& problems, std::vector<std::string>& notes) {
  const std::string alg = "optimizer.algorithm = " + quoted(cfg.optimizer.algorithm);
  if (needs.static_topology && !t.is_static()) {
    problems.push_back(alg + " needs one fixed mixing matrix; cluster.topology = " + quoted(cfg.cluster.topology) +
                       " changes every step (period " + std::to_string(t.period()) +
                       "): use a static topology (ring, torus, exponential, complete, ...)");
  }
  if (needs.symmetric && !topology::is_symmetric(t)) {
    problems.push_back(alg + " needs a symmetric W; cluster.topology = " + quoted(cfg.cluster.topology) +
                       " is directed at some step: use ring, torus, hypercube, complete or random-gossip, or "
                       "gradient-tracking, which accepts directed graphs");
  }
  if (needs.symmetric_with_momentum && cfg.optimizer.momentum > 0 && !topology::is_symmetric(t)) {
    problems.push_back(alg + " with optimizer.momentum = " + number(cfg.optimizer.momentum) +
                       " needs a symmetric W; cluster.topology = " + quoted(cfg.cluster.topology) +
                       " is directed: use ring, torus, hypercube or complete, or set optimizer.momentum = 0");
  }
  // A family that degenerated into another: say which graph was built.
  const std::string built = topology::degenerate_as(t);
  if (!built.empty()) {
    notes.push_back("cluster.topology = " + quoted(cfg.cluster.topology) + " with " + std::to_string(t.size()) +
                    " workers builds " + built + " (every worker has " +
                    std::to_string(t.out_neighbors(0, 0).size()) + " neighbours, spectral gap " +
                    number(topology::spectral_gap(t)) + "); this run trains on that graph");
  }
}

// Which keys the configuration makes irrelevant (given, but nothing reads them).
void note_unused_keys(const config::Config& cfg, bool gossips, std::vector<std::string>& notes) {
  const bool one = cfg.cluster.workers == 1;
  for (const char* key : {"cluster.topology", "cluster.weights"}) {
    if (given(cfg, key) && (one || !gossips)) {
      notes.push_back(std::string(key) + " is not used: " +
                      (one ? std::string("one worker talks to nobody")
                           : "optimizer.algorithm = " + quoted(cfg.optimizer.algorithm) +
                                 " averages over all workers (or groups) without a graph"));
    }
  }
  if (one && given(cfg, "optimizer.algorithm") && cfg.optimizer.algorithm != "parallel-sgd") {
    notes.push_back("optimizer.algorithm = " + quoted(cfg.optimizer.algorithm) +
                    " is not used with cluster.workers = 1: one worker trains with the local optimizer (" +
                    cfg.optimizer.name + ") alone");
  }
  // [model] keys of another architecture than the one chosen.
  const std::string& model = cfg.model.name;
  const bool transformer = model == "vit" || model == "ceit";
  const std::pair<const char*, bool> model_keys[] = {
      {"model.hidden", model == "mlp"},       {"model.width", model == "resnet20"}, {"model.dim", transformer},
      {"model.depth", transformer},           {"model.heads", transformer},         {"model.mlp_ratio", transformer},
      {"model.patch", transformer},           {"model.stem_channels", model == "ceit"}};
  for (const auto& [key, used] : model_keys) {
    if (given(cfg, key) && !used) notes.push_back(std::string(key) + " is not used by model.name = " + quoted(model));
  }
  if (transformer && !given(cfg, "optimizer.name") && !given(cfg, "optimizer.algorithm")) {
    notes.push_back("model.name = " + quoted(model) + " trains with the default optimizer.name = \"sgd\"; "
                    "transformers are trained with adamw (one worker) or optimizer.algorithm = \"dadam\" and "
                    "warm-up: see examples/fashion_vit.toml and examples/ring8_transformer.toml");
  }
  if (one && cfg.compress.method != "none") {
    notes.push_back("compress.method = " + quoted(cfg.compress.method) +
                    " is not used with cluster.workers = 1: one worker sends no messages");
  }
}

bool power_of_two(int64_t v) { return v > 0 && (v & (v - 1)) == 0; }

// WAGMA's butterfly groups, and the processes a launcher started for the Gloo backend.
void check_groups_and_launch(const config::Config& cfg, std::vector<std::string>& problems) {
  const int64_t n = cfg.cluster.workers;
  if (n > 1 && cfg.optimizer.algorithm == "wagma") {
    const int64_t g = cfg.optimizer.group_size;
    if (!power_of_two(n)) {
      problems.push_back("optimizer.algorithm = \"wagma\" forms butterfly groups over the rank bits and needs a "
                         "power-of-two cluster.workers; it is " + std::to_string(n) +
                         ": use 2, 4, 8, 16, ... workers, or another algorithm (local-sgd, gossip-pga)");
    } else if (!power_of_two(g) || g > n) {
      problems.push_back("optimizer.group_size = " + std::to_string(g) + " must be a power of two no larger than "
                         "cluster.workers = " + std::to_string(n) + " (wagma's groups split the workers evenly)");
    }
  }
  if (cfg.cluster.backend == "gloo") {
    const bool launched = std::getenv("WORLD_SIZE") || std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMI_SIZE");
    if (!launched && n > 1) {
      problems.push_back("cluster.backend = \"gloo\" runs one process per worker and none was started by a "
                         "launcher (no WORLD_SIZE): run gossamer launch --workers " + std::to_string(n) +
                         " -- gossamer train CONFIG, or set cluster.backend = \"inprocess\"");
      return;
    }
    try {
      const comm::LaunchEnv env = comm::read_launch_env();
      if (env.world_size != n) {
        problems.push_back("cluster.workers = " + std::to_string(n) + " but the launcher started " +
                           std::to_string(env.world_size) + " processes (WORLD_SIZE): launch with gossamer launch "
                           "--workers " + std::to_string(n) + ", or --set cluster.workers=" +
                           std::to_string(env.world_size));
      }
    } catch (const std::invalid_argument& e) {
      problems.push_back("cluster.backend = \"gloo\" runs one process per worker, started by a launcher: " +
                         std::string(e.what()));
    }
  }
}

// The nearest existing folder at or above `p`.
fs::path existing_ancestor(fs::path p) {
  std::error_code ec;
  p = fs::absolute(p, ec);
  while (!p.empty() && !fs::exists(p, ec)) {
    if (p == p.parent_path()) break;
    p = p.parent_path();
  }
  return p;
}

void check_files(const config::Config& cfg, bool resume, std::vector<std::string>& problems) {
  std::error_code ec;
  const std::string& init = cfg.train.init_from;
  if (!init.empty()) {
    if (!fs::exists(init, ec)) {
      problems.push_back("train.init_from = " + quoted(init) +
                         " does not exist; give the checkpoint of a finished run (RUN/checkpoint.pt, or "
                         "RUN/checkpoint-rank0.pt for a multi-worker run) or remove train.init_from");
    } else if (!fs::is_regular_file(init, ec)) {
      problems.push_back("train.init_from = " + quoted(init) + " is not a file; give a checkpoint .pt file");
    }
  }
  const fs::path dir(cfg.output.dir);
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) {
    problems.push_back("output.dir = " + quoted(cfg.output.dir) + " is a file, not a folder; choose another output.dir");
  } else {
    const fs::path at = existing_ancestor(dir);
    if (!fs::is_directory(at, ec)) {
      problems.push_back("output.dir = " + quoted(cfg.output.dir) + " cannot be written (" + at.string() +
                         " is a file, not a folder); choose another output.dir (--set output.dir=DIR)");
    } else if (::access(at.c_str(), W_OK | X_OK) != 0) {
      problems.push_back("output.dir = " + quoted(cfg.output.dir) + " cannot be written (" + at.string() +
                         " is not writable for this user); choose another output.dir (--set output.dir=DIR)");
    }
  }
  if (!resume) return;
  const int64_t n = cfg.cluster.workers;
  auto rank_file = [&](int64_t r) { return dir / ("checkpoint-rank" + std::to_string(r) + ".pt"); };
  const bool single = fs::exists(dir / "checkpoint.pt", ec);
  int64_t ranks = 0;
  while (ranks < 100000 && fs::exists(rank_file(ranks), ec)) ++ranks;
  const std::string found = single ? "one worker's checkpoint (checkpoint.pt)"
                            : ranks > 0 ? std::to_string(ranks) + " workers' checkpoints (checkpoint-rank0.pt .. rank" +
                                              std::to_string(ranks - 1) + ".pt)"
                                        : std::string("no checkpoint");
  const bool match = n == 1 ? single : ranks == n;
  if (match) return;
  if (!single && ranks == 0) {
    problems.push_back("--resume " + cfg.output.dir + ": the folder holds no checkpoint (checkpoint.pt or "
                       "checkpoint-rank<R>.pt), so there is nothing to resume; start the run without --resume");
    return;
  }
  const int64_t had = single ? 1 : ranks;
  problems.push_back("--resume " + cfg.output.dir + ": the folder holds " + found + " but cluster.workers = " +
                     std::to_string(n) + "; resume with the run's own worker count (--set cluster.workers=" +
                     std::to_string(had) + ")");
}

// Constructs every worker's Trainer on stand-in shards of the real sizes (one sample's zeros,
// repeated as a view: nothing is read or allocated per sample) and returns the first error.
std::optional<std::string> dry_build(const config::Config& cfg, const topology::Topology* topo) {
  const int n = static_cast<int>(cfg.cluster.workers);
  const int64_t total = cfg.data.train_limit > 0 ? std::min(cfg.data.train_limit, kTrainSamples) : kTrainSamples;
  const data::Dataset test{at::zeros({1, 1, 28, 28}), at::zeros({1}, at::kLong), 10};
  auto shard = [&](int r) {
    const int64_t size = std::max<int64_t>(1, total / n + (r < total % n ? 1 : 0));
    return data::Dataset{at::zeros({1, 1, 28, 28}).expand({size, 1, 28, 28}), at::zeros({size}, at::kLong), 10};
  };
  std::mutex mu;
  std::optional<std::string> first;
  auto record = [&](const std::exception& e) {
    std::lock_guard<std::mutex> lock(mu);
    if (!first) first = e.what();
  };
  try {
    if (n == 1) {
      Trainer t(cfg, shard(0), test, cfg.output.dir);
    } else {
      comm::run_inprocess(
          n,
          [&](comm::Communicator& c) {
            try {
              WorkerContext ctx{&c, topo};
              Trainer t(cfg, shard(c.rank()), test, cfg.output.dir, ctx);
            } catch (const std::exception& e) {
              record(e);
              throw;  // the harness stops the other workers
            }
          },
          std::chrono::milliseconds(20000));
    }
  } catch (const std::exception& e) {
    record(e);
  }
  return first;
}

// --resume: every checkpoint the run will load must look like one (check_checkpoint_file reads only
// its first bytes), so a damaged or foreign file stops the run with the checkpoint error before the
// data loads, not after. check_files has already checked that there is one per worker.
void check_resume_files(const config::Config& cfg, bool resume) {
  if (!resume) return;
  const fs::path dir(cfg.output.dir);
  if (cfg.cluster.workers == 1) {
    check_checkpoint_file((dir / "checkpoint.pt").string());
    return;
  }
  for (int64_t r = 0; r < cfg.cluster.workers; ++r) {
    check_checkpoint_file((dir / ("checkpoint-rank" + std::to_string(r) + ".pt")).string());
  }
}

// A train.init_from file that does not fit the model (another architecture, a file that is not a
// state_dict) is a checkpoint error, exit status 4, with the loader's message naming the file, the
// keys and the shapes: found here, on a model built as the run builds it, before the data loads.
void check_init_from(const config::Config& cfg) {
  if (cfg.train.init_from.empty()) return;
  const data::Dataset stand_in{at::zeros({1, 1, 28, 28}), at::zeros({1}, at::kLong), 10};
  std::shared_ptr<models::Model> model;
  try {
    model = models::make_model(model_spec(cfg, stand_in));
  } catch (const std::invalid_argument&) {
    return;  // a model the config cannot build: the dry build reports it in config terms
  }
  try {
    load_checkpoint(cfg.train.init_from, *model, nullptr, {});
  } catch (const CheckpointError& e) {
    throw CheckpointError("train.init_from: " + std::string(e.what()));
  }
}

// MemAvailable of /proc/meminfo in bytes, or -1 where it cannot be read.
double available_memory_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  double kib = 0;
  std::string unit;
  while (in >> key >> kib >> unit) {
    if (key == "MemAvailable:") return kib * 1024.0;
  }
  return -1;
}

// A transformer's sizes go up to model.dim = 4096 and model.depth = 64, and model.patch = 1 makes
// 784 tokens: combinations whose workers would need more memory than the machine has stop here, in
// config terms, before the dry build allocates the first model (and the kernel's out-of-memory
// killer ends the run without a word). The estimate per worker: 32 bytes per parameter (values,
// gradients, two optimizer moments, mask and scratch copies) plus the activations autograd keeps
// for a training batch: per block (and the class-token block), two attention maps of
// heads x (tokens + 1)² floats and about 12·dim + 6·hidden floats per token; plus, for as many
// workers as there are cores (evaluation runs one per core), one block's activations of an
// evaluation batch without autograd. Checked against peak resident memory: a ViT with
// model.patch = 1 (785 tokens), depth 2, batch 32 peaked 2.4 GB above an idle worker, this
// estimate says 2.4 GB. Workers on this machine: cluster.workers in one process,
// LOCAL_WORLD_SIZE processes (set by `gossamer launch`) on the Gloo backend.
void check_transformer_memory(const config::Config& cfg, std::vector<std::string>& problems) {
  const std::string& name = cfg.model.name;
  if (name != "vit" && name != "ceit") return;
  const models::ModelSpec spec = model_spec(cfg, data::Dataset{at::zeros({1, 1, 28, 28}), at::zeros({1}, at::kLong), 10});
  try {
    models::check_transformer_size(spec.transformer, name);
  } catch (const std::invalid_argument&) {
    return;  // the dry build reports it
  }
  const auto& t = spec.transformer;
  const double params = static_cast<double>(models::transformer_parameters(name, t, 1, 28, 10));
  const double tokens = static_cast<double>(models::transformer_tokens(name, t, 28) + 1);
  const double hidden = static_cast<double>(t.dim * t.mlp_ratio);
  const double per_token = tokens * (12.0 * static_cast<double>(t.dim) + 6.0 * hidden);
  const double attention = static_cast<double>(t.heads) * tokens * tokens;
  const double training = static_cast<double>(cfg.train.batch_size) * static_cast<double>(t.depth + 1) *
                          (2.0 * attention + per_token) * 4.0;
  const double evaluation = static_cast<double>(cfg.train.eval_batch_size) * (attention + per_token) * 4.0;
  double local = static_cast<double>(cfg.cluster.workers);
  if (cfg.cluster.backend == "gloo") {
    const char* env = std::getenv("LOCAL_WORLD_SIZE");
    local = env ? std::max(1.0, std::atof(env)) : 1.0;
  }
  const double cores = std::max(1.0, static_cast<double>(std::thread::hardware_concurrency()));
  const double need = local * (32.0 * params + training) + std::min(local, cores) * evaluation;
  const double have = available_memory_bytes();
  if (have <= 0 || need <= 0.9 * have) return;
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "model.name = \"%s\" with model.dim = %lld, model.depth = %lld, model.heads = %lld, model.patch = %lld "
                "(%.0f tokens, %.3g parameters) needs about %.1f GB for %.0f worker%s on this machine (train.batch_size "
                "= %lld), more than the %.1f GB of memory available: choose a smaller model.dim or model.depth, a "
                "larger model.patch, a smaller train.batch_size or fewer workers (README, Vision transformers)",
                name.c_str(), static_cast<long long>(t.dim), static_cast<long long>(t.depth),
                static_cast<long long>(t.heads), static_cast<long long>(t.patch), tokens - 1, params, need / 1e9, local,
                local == 1 ? "" : "s", static_cast<long long>(cfg.train.batch_size), have / 1e9);
  problems.push_back(buf);
}

}  // namespace

topology::Topology build_topology(const config::Config& cfg) {
  topology::TopologySpec spec;
  spec.name = cfg.cluster.topology;
  spec.workers = static_cast<int>(cfg.cluster.workers);
  spec.weights = topology::parse_weights(cfg.cluster.weights);
  spec.seed = static_cast<uint64_t>(cfg.train.seed);
  if (spec.name == "erdos-renyi") spec.p = 0.5;
  return topology::make_topology(spec);
}

PreflightReport preflight(const config::Config& cfg, bool resume) {
  PreflightReport report;
  std::vector<std::string> problems;
  check_optimizer_config(cfg);  // nothing else can be judged without a known algorithm
  const bool many = cfg.cluster.workers > 1;
  const bool gossips = optim::algorithm_needs_topology(cfg.optimizer.algorithm);
  // One worker runs the local optimizer alone (Trainer): the algorithm's needs do not apply.
  const optim::AlgorithmNeeds needs =
      many ? optim::algorithm_needs(cfg.optimizer.algorithm, algorithm_options(cfg.optimizer, cfg.compress, 0))
           : optim::AlgorithmNeeds{};
  check_local_optimizer(cfg, needs, problems);
  check_exact_mixing(cfg, needs, problems);
  check_groups_and_launch(cfg, problems);

  std::optional<topology::Topology> topo;
  if (many && gossips) {
    try {
      topo = build_topology(cfg);
    } catch (const std::invalid_argument& e) {
      const auto names = topology::topology_names();
      const bool known = std::find(names.begin(), names.end(), cfg.cluster.topology) != names.end();
      problems.push_back(known ? "cluster.topology = " + quoted(cfg.cluster.topology) + " with cluster.workers = " +
                                     std::to_string(cfg.cluster.workers) + " and cluster.weights = " +
                                     quoted(cfg.cluster.weights) + ": " + e.what() + " (see gossamer topology " +
                                     cfg.cluster.topology + " --workers " + std::to_string(cfg.cluster.workers) + ")"
                               : "cluster.topology = " + quoted(cfg.cluster.topology) + ": " + e.what());
    }
    if (topo) {
      check_topology(cfg, needs, *topo, problems, report.notes);
      if (robust_enabled(cfg)) {
        try {
          check_robust_topology(cfg, *topo);
        } catch (const config::ConfigError& e) {
          std::string what = e.what();
          if (what.rfind("config: ", 0) == 0) what = what.substr(8);
          problems.push_back(what);
        }
      }
    }
  }
  check_files(cfg, resume, problems);
  check_transformer_memory(cfg, problems);
  if (!resume) note_unused_keys(cfg, gossips, report.notes);
  config::throw_if_problems(problems);
  check_init_from(cfg);
  check_resume_files(cfg, resume);

  if (auto error = dry_build(cfg, topo ? &*topo : nullptr)) {
    std::string what = *error;
    if (what.rfind("config: ", 0) == 0) what = what.substr(8);
    throw config::ConfigError("config: this configuration cannot run (optimizer.algorithm = " +
                              quoted(cfg.optimizer.algorithm) + ", cluster.workers = " +
                              std::to_string(cfg.cluster.workers) + "): " + what);
  }
  return report;
}

}  // namespace gossamer::train
