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
  std::string name = "lenet5";  // mlp | lenet5 | resnet20 | vit | ceit
  std::vector<int64_t> hidden{300, 100};  // mlp
  int64_t width = 16;                     // resnet20
  // vit and ceit (models::ModelSpec says what each means)
  int64_t dim = 64;
  int64_t depth = 4;
  int64_t heads = 4;
  int64_t mlp_ratio = 2;
  int64_t patch = 4;
  int64_t stem_channels = 32;  // ceit only
};

struct TrainConfig {
  int64_t epochs = 10;
  int64_t batch_size = 64;  // per worker
  int64_t seed = 1;
  int64_t threads = 0;      // LibTorch intra-op threads per process; 0 = all cores
  int64_t blas_threads = 1;  // OpenBLAS's own pool; 0 = its default (all cores). See util/blas.h
  int64_t log_every = 50;   // steps between metrics lines
  // Stop (with a checkpoint and an evaluation) after this many steps; 0 = run all epochs. A resumed
  // run whose checkpoint has already reached it continues to the end (or to a larger max_steps).
  int64_t max_steps = 0;
  int64_t eval_every = 0;   // also evaluate every this many steps; 0 = at the end of each epoch only
  int64_t eval_batch_size = 1000;
  // Start from the model weights of this checkpoint (e.g. a trained dense model to prune one-shot
  // and fine-tune); optimizer state is not taken. Empty = random initialisation.
  std::string init_from;
};

struct OptimizerConfig {
  // How workers combine their updates (ignored with one worker): parallel-sgd, dsgd, dsgd-cta,
  // gossip-pga, local-sgd, d2, gradient-tracking, decentlam, wagma, diloco, dadam, choco
  // (docs/optimizers.md, docs/compress.md).
  std::string algorithm = "parallel-sgd";
  int64_t period = 16;          // H for gossip-pga, local-sgd and diloco
  int64_t group_size = 4;       // wagma: workers per group
  int64_t global_period = 10;   // wagma: steps between global averages
  double outer_lr = 0.7;        // diloco
  double outer_momentum = 0.9;  // diloco
  bool tracking = false;        // dadam: Adam on a gradient tracker
  std::string form = "cta";     // dadam: cta (2410.11998: mix x, then adapt) or atc (adapt, then mix)
  int64_t accumulation = 1;     // dadam: steps whose mean gradient refreshes Adam's moments
  double consensus_step = 0.5;  // choco: γ in (0, 1], the step towards the neighbours' public copies
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

// Sparse training (docs/sparse.md). Times are in epochs (fractions allowed) so that a schedule
// keeps its shape when the batch size or the number of workers changes.
struct SparseConfig {
  // none | oneshot | gmp | gap | rigl | set | srste
  std::string method = "none";
  double sparsity = 0.9;               // target fraction of zeros over the pruned layers
  std::string scorer = "magnitude";    // oneshot, gmp: magnitude | woodfisher
  std::string pattern = "unstructured";  // unstructured | n:m | block
  int64_t n = 2, m = 4;                // pattern n:m (and method srste)
  int64_t block_rows = 1, block_cols = 4;  // pattern block
  std::string allocation = "uniform";  // uniform | global | erk
  bool exempt_first = false, exempt_last = false;  // keep the first / last prunable layer dense
  std::string overrides;               // per-layer sparsity, e.g. "fc3.weight=0.5,conv1.weight=0"
  double start_epoch = 0.0;            // oneshot: when to prune; gmp/rigl/set: first update
  double end_epoch = -1.0;             // gmp/gap/rigl/set: last update; < 0 = 75% of train.epochs
  int64_t update_every = 100;          // gmp/rigl/set: steps between mask updates
  double initial_sparsity = 0.0;       // gmp: s_0
  double drop_fraction = 0.3;          // rigl/set: initial fraction of active weights replaced (cosine-decayed)
  int64_t gap_partitions = 4;          // gap: K
  double gap_epochs = 1.0;             // gap: T, epochs each partition stays dense
  // gap: cyclic (one partition dense at a time, on every worker) | parallel (worker w grows
  // partition w mod K; needs cluster.workers >= 2 and gap_partitions <= cluster.workers)
  std::string gap_mode = "cyclic";
  // gap parallel: after each combination the lr climbs back linearly from 0 over this fraction of
  // a phase (the combined model has every layer freshly pruned at once; 0 = no re-warm)
  double gap_rewarm = 1.0;
  double srste_lambda = 2e-4;          // srste: λ_W (0 = plain STE)
  int64_t woodfisher_samples = 64;     // woodfisher: N gradient samples (mini-batch means)
  int64_t woodfisher_block = 64;       // woodfisher: c, weights per diagonal block
  double woodfisher_damping = 1e-4;    // woodfisher: λ
  bool export_model = true;            // write model.sparse (non-zeros only) at the end
  // auto: run pruned layers on the sparse kernels where measured faster; sparse: always; dense: never.
  std::string kernels = "auto";
  // Several workers: messages carry only the values the mask keeps (optim/message_seam.h); false
  // sends dense messages (for comparison; parallel GaP needs its per-worker masks and refuses it).
  bool packed_messages = true;
};

// [compress]: the averages of the averaging algorithms (parallel-sgd, local-sgd, wagma, diloco)
// travel as compressed packets, and optimizer.algorithm = "choco" gossips compressed messages
// (docs/compress.md).
struct CompressConfig {
  std::string method = "none";  // none | fp16 | bf16 | sign | topk | randk | qsgd | terngrad | alq | amq | powersgd
  double density = 0.01;        // topk, randk: fraction of coordinates sent
  int64_t levels = 7;           // qsgd: s; alq, amq: levels above 0 (7 = 4 bits a coordinate)
  int64_t bucket = 512;         // qsgd, alq, amq: coordinates per norm
  int64_t rank = 1;             // powersgd: r, the rank of each layer's factors
  int64_t start_step = 0;       // powersgd: averages sent uncompressed before compression starts
  bool error_feedback = false;  // keep what compression dropped and add it to the next message
  std::string layerwise = "none";  // none | lgreco: a strength per layer (topk, randk, qsgd, alq, amq)
  int64_t layerwise_every = 100;   // lgreco: averages between two choices
};

// [robust]: robust aggregation of the optimizer's messages (docs/robust.md).
struct RobustConfig {
  // none (exact mixing) | mean | median | trimmed-mean | krum | multi-krum | geomed | cc | safeguard |
  // clipped-gossip (gossip algorithms: self-centered clipping of the neighbours' models)
  std::string aggregator = "none";
  int64_t f = 1;              // Byzantine inputs tolerated (krum, multi-krum, nnm, trimmed-mean's trim, clipped-gossip's radius)
  int64_t trim = -1;          // trimmed-mean: b dropped at each end per coordinate (-1: f)
  int64_t select = -1;        // multi-krum: m inputs averaged (-1: n - f)
  double radius = 10;         // cc: tau
  int64_t cc_iterations = 3;  // cc: L
  int64_t geomed_iterations = 8;
  std::string pre = "none";   // none | nnm | bucketing
  int64_t bucket_size = 2;    // bucketing: s
  double worker_momentum = 0;  // > 0: averages carry each worker's momentum (then optimizer.momentum = 0)
  int64_t safeguard_window0 = 20;
  int64_t safeguard_window1 = 200;
  double safeguard_threshold0 = 0;  // 0 = automatic
  double safeguard_threshold1 = 0;
  bool safeguard_readmit = false;
  double gossip_radius = 0;   // clipped-gossip: tau (0 = adaptive: the (f+1)-th largest neighbour distance)
};

// [attack]: Byzantine workers injected on chosen ranks (docs/robust.md).
struct AttackConfig {
  // none | sign-flip | scaled | gaussian | label-flip | alie | ipm | dissensus | silent | wrong-size | nan | inf | garbage
  std::string kind = "none";
  std::vector<int64_t> ranks;  // the attackers (excluded from the reported accuracy)
  double scale = 100;   // scaled
  double sigma = 1;     // gaussian
  double z = 0;         // alie (0: from the numbers of workers)
  double epsilon = 0;   // ipm (0: 0.1), dissensus (0: 1.5)
};

struct Config {
  DataConfig data;
  ModelConfig model;
  TrainConfig train;
  OptimizerConfig optimizer;
  ScheduleConfig schedule;
  OutputConfig output;
  ClusterConfig cluster;
  SparseConfig sparse;
  CompressConfig compress;
  RobustConfig robust;
  AttackConfig attack;
  // "section.key" of every key the text or an override named (not the defaults): lets a caller
  // note a key that the rest of the configuration makes irrelevant (train/preflight.h).
  std::vector<std::string> given_keys;
};

// Throws one ConfigError for all of `problems` ("config: <problem>", or a list under "config: N
// problems; fix all of them:"); returns when there are none. A user fixes everything in one edit.
void throw_if_problems(const std::vector<std::string>& problems);

// Parses TOML text (`origin` names it in messages, e.g. the file path) and applies overrides of
// the form "section.key=value" (value in TOML syntax; a bare word is taken as a string).
Config parse_config(const std::string& toml_text, const std::string& origin,
                    const std::vector<std::string>& overrides = {});
// Reads the file (ConfigError if it cannot be read), then as parse_config.
Config load_config(const std::string& path, const std::vector<std::string>& overrides = {});
// The configuration as TOML, every key written out (saved next to each run's metrics).
std::string to_toml(const Config& config);

}  // namespace gossamer::config
