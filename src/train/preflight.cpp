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
#include "gossamer/models/footprint.h"
#include "gossamer/models/model.h"
#include "gossamer/models/transformer.h"
#include "gossamer/train/checkpoint.h"
#include "gossamer/train/optimizer_setup.h"
#include "gossamer/train/robust_setup.h"
#include "gossamer/train/sparse_setup.h"
#include "gossamer/train/trainer.h"
#include "gossamer/util/error_message.h"
#include "gossamer/util/system_memory.h"

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
    if (!first) first = util::error_message(e);
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

// Bytes as "323.2 GB", "0.051 GB".
std::string gigabytes(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, bytes >= 1e8 ? "%.1f GB" : "%.2g GB", bytes / 1e9);
  return buf;
}

// How the configuration names the sizes of its model, and which of its keys make it smaller.
std::pair<std::string, std::string> model_sizes_in_keys(const config::Config& cfg, const models::ModelSpec& spec,
                                                        const models::ModelFootprint& f) {
  const std::string& name = cfg.model.name;
  char count[64];
  std::snprintf(count, sizeof count, "%.3g parameters", f.parameters);
  if (name == "vit" || name == "ceit") {
    const auto& t = spec.transformer;
    const int64_t tokens = models::transformer_tokens(name, t, spec.input_shape[1]);
    return {"model.name = " + quoted(name) + " with model.dim = " + std::to_string(t.dim) + ", model.depth = " +
                std::to_string(t.depth) + ", model.heads = " + std::to_string(t.heads) + ", model.patch = " +
                std::to_string(t.patch) + " (" + std::to_string(tokens) + " tokens, " + count + ")",
            "a smaller model.dim or model.depth, a larger model.patch"};
  }
  if (name == "mlp") {
    std::string hidden;
    for (int64_t h : cfg.model.hidden) hidden += (hidden.empty() ? "" : ", ") + std::to_string(h);
    return {"model.name = \"mlp\" with model.hidden = [" + hidden + "] (" + count + ")",
            "smaller model.hidden layers"};
  }
  if (name == "resnet20") {
    return {"model.name = \"resnet20\" with model.width = " + std::to_string(cfg.model.width) + " (" + count + ")",
            "a smaller model.width"};
  }
  return {"model.name = " + quoted(name) + " (" + count + ")", ""};
}

// Sizes that cannot fit stop here, in config keys, before the dry build allocates the first model
// and long before the kernel's out-of-memory killer would end the run without a word: a wide
// model.hidden or model.width, a transformer of model.dim = 4096, a train.batch_size of a million,
// thousands of cluster.workers. models::model_footprint gives the sizes without building anything.
// The estimate for the workers on this machine (cluster.workers threads in one process; on the Gloo
// backend, LOCAL_WORLD_SIZE processes as `gossamer launch` sets it):
//   per process  kProcessBytes: LibTorch, the data set and the test set (one mlp worker peaked at
//                411 MB);
//   per worker   32 bytes per parameter (values, gradients, two optimizer moments, mask, scratch),
//                kWorkerBytes of buffers, and the activations a training batch keeps,
//                train.batch_size x footprint.train_floats_per_sample x 4 bytes;
//   evaluation   one batch of min(train.eval_batch_size, test samples) x eval floats x 4 bytes for
//                as many workers as there are cores (evaluation runs one per core);
//   Gloo         each process also dry-builds all cluster.workers models (32 bytes per parameter)
//                before it trains, so the larger of the two phases counts.
// docs/memory.md compares it with measured peaks. It refuses only what exceeds 90% of the memory
// available: a run estimated just below may still be ended by the out-of-memory killer.
constexpr double kProcessBytes = 0.4e9;
constexpr double kWorkerBytes = 2e6;
constexpr int64_t kTestSamples = 10000;

void check_memory(const config::Config& cfg, std::vector<std::string>& problems, PreflightReport& report) {
  const models::ModelSpec spec = model_spec(cfg, data::Dataset{at::zeros({1, 1, 28, 28}), at::zeros({1}, at::kLong), 10});
  models::ModelFootprint f;
  try {
    f = models::model_footprint(spec);
  } catch (const std::exception&) {
    return;  // a model the config cannot build: the dry build reports it in config terms
  }
  const bool gloo = cfg.cluster.backend == "gloo";
  double local = static_cast<double>(cfg.cluster.workers);
  double processes = 1;
  if (gloo) {
    const char* env = std::getenv("LOCAL_WORLD_SIZE");
    local = processes = env ? std::max(1.0, std::atof(env)) : 1.0;
  }
  const double cores = std::max(1.0, static_cast<double>(std::thread::hardware_concurrency()));
  const double state = 32.0 * f.parameters + kWorkerBytes;
  const double activations = static_cast<double>(cfg.train.batch_size) * f.train_floats_per_sample * 4.0;
  const double tests = static_cast<double>(cfg.data.test_limit > 0 ? std::min(cfg.data.test_limit, kTestSamples)
                                                                    : kTestSamples);
  const double evaluation = std::min(static_cast<double>(cfg.train.eval_batch_size), tests) * f.eval_floats_per_sample * 4.0;
  double need = processes * kProcessBytes + local * (state + activations) + std::min(local, cores) * evaluation;
  if (gloo) need = std::max(need, processes * (kProcessBytes + static_cast<double>(cfg.cluster.workers) * state));
  const double have = util::memory_available_bytes();
  if (have > 0) {
    report.memory_needed = need;
    report.memory_available = have;
  }
  if (have <= 0 || need <= 0.9 * have) return;
  const auto [sizes, smaller] = model_sizes_in_keys(cfg, spec, f);
  std::vector<std::string> fixes;
  if (!smaller.empty()) fixes.push_back(smaller);
  fixes.push_back("a smaller train.batch_size");
  if (local > 1) {
    fixes.push_back(gloo ? "fewer local processes (LOCAL_WORLD_SIZE = " + number(local) + ")" : "fewer cluster.workers");
  }
  std::string choose = "choose " + fixes[0];
  for (size_t i = 1; i < fixes.size(); ++i) choose += (i + 1 == fixes.size() ? " or " : ", ") + fixes[i];
  problems.push_back(sizes + " needs about " + gigabytes(need) + " for " + number(local) + " worker" +
                     (local == 1 ? "" : "s") + " on this machine (train.batch_size = " +
                     std::to_string(cfg.train.batch_size) + "; per worker about " + gigabytes(state) +
                     " of weights and optimizer state and " + gigabytes(activations) + " of activations), more than the " +
                     gigabytes(have) + " of memory available: " + choose + " (README, Memory)");
}

// Every worker needs at least one training sample (the partition cannot give a worker nothing),
// and a batch larger than a worker's share would hold some samples twice or more: both refused
// here, before the data loads, in the keys that set them. The share is the iid one, total / workers;
// a Dirichlet or classes partition gives some workers less, and their batches wrap around the epoch.
void check_data_split(const config::Config& cfg, std::vector<std::string>& problems) {
  const int64_t total = cfg.data.train_limit > 0 ? std::min(cfg.data.train_limit, kTrainSamples) : kTrainSamples;
  const int64_t workers = cfg.cluster.workers;
  const std::string split = std::to_string(total) + " training samples" +
                            (cfg.data.train_limit > 0 ? " (data.train_limit = " + std::to_string(cfg.data.train_limit) + ")"
                                                      : std::string(" (all of Fashion-MNIST's)")) +
                            " over cluster.workers = " + std::to_string(workers);
  if (total < workers) {
    problems.push_back(split + " leave some workers without a sample: every worker needs at least one; raise "
                       "data.train_limit to at least " + std::to_string(workers) + " (0 takes all " +
                       std::to_string(kTrainSamples) + ") or lower cluster.workers to at most " + std::to_string(total));
    return;
  }
  const int64_t share = total / workers;
  if (cfg.train.batch_size > share) {
    problems.push_back("train.batch_size = " + std::to_string(cfg.train.batch_size) + " is larger than the " +
                       std::to_string(share) + " samples a worker holds (" + split + "): choose train.batch_size " +
                       "<= " + std::to_string(share) + ", more data (data.train_limit) or fewer cluster.workers");
  }
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
  check_data_split(cfg, problems);
  check_memory(cfg, problems, report);
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
