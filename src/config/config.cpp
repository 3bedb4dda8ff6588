#include "gossamer/config/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

namespace gossamer::config {

namespace {

std::string describe(const toml::node& node) {
  std::ostringstream os;
  if (node.is_string()) os << '"' << node.as_string()->get() << '"';
  else if (auto* a = node.as_array()) os << *a;
  else if (auto* t = node.as_table()) os << "{table with " << t->size() << " keys}";
  else if (auto* i = node.as_integer()) os << i->get();
  else if (auto* f = node.as_floating_point()) os << f->get();
  else if (auto* b = node.as_boolean()) os << (b->get() ? "true" : "false");
  else os << "?";
  return os.str();
}

std::string where(const toml::node& node) {
  const auto& src = node.source();
  if (src.begin.line == 0) return "";  // came from --set
  return " (" + (src.path ? *src.path : std::string("config")) + ":" + std::to_string(src.begin.line) + ")";
}

// Every problem found in one configuration: a user fixes them all in one edit instead of one per
// attempt. Reported together by throw_if_any as one ConfigError.
class Problems {
 public:
  void add(std::string text) { list_.push_back(std::move(text)); }
  bool empty() const { return list_.empty(); }
  void throw_if_any() const { throw_if_problems(list_); }

 private:
  std::vector<std::string> list_;
};

// Reads the known keys of one section into typed fields, remembering which keys it read so that
// everything else can be reported as unknown.
class SectionReader {
 public:
  // A value of the wrong type or out of range is added to `problems` and the field keeps its default.
  SectionReader(const toml::table* table, std::string section, Problems& problems)
      : table_(table), section_(std::move(section)), problems_(problems) {}

  void read(const std::string& key, std::string& out, std::initializer_list<const char*> allowed = {}) {
    const toml::node* n = find(key);
    if (!n) return;
    if (!n->is_string()) return fail_type(key, *n, "a string");
    std::string v = n->as_string()->get();
    if (allowed.size() > 0) {
      bool ok = false;
      std::string list;
      for (const char* a : allowed) {
        ok = ok || v == a;
        list += (list.empty() ? "" : ", ") + std::string(a);
      }
      if (!ok) return fail_value(key, *n, "must be one of: " + list);
    }
    out = v;
  }

  void read(const std::string& key, int64_t& out, int64_t min, int64_t max = INT64_MAX) {
    const toml::node* n = find(key);
    if (!n) return;
    if (!n->is_integer()) return fail_type(key, *n, "an integer");
    const int64_t v = n->as_integer()->get();
    if (v < min || v > max) return fail_value(key, *n, range_text(static_cast<double>(min), static_cast<double>(max), true));
    out = v;
  }

  // `open_min`: the minimum itself is not allowed (e.g. a learning rate must be > 0).
  void read(const std::string& key, double& out, double min, double max, bool open_min = false) {
    const toml::node* n = find(key);
    if (!n) return;
    double v;
    if (n->is_floating_point()) v = n->as_floating_point()->get();
    else if (n->is_integer()) v = static_cast<double>(n->as_integer()->get());
    else return fail_type(key, *n, "a number");
    if (!std::isfinite(v) || v < min || v > max || (open_min && v == min)) {
      return fail_value(key, *n, open_min ? "must be > " + fmt(min) + (max < INFINITY ? " and <= " + fmt(max) : "")
                                   : range_text(min, max, false));
    }
    out = v;
  }

  void read(const std::string& key, bool& out) {
    const toml::node* n = find(key);
    if (!n) return;
    if (!n->is_boolean()) return fail_type(key, *n, "true or false");
    out = n->as_boolean()->get();
  }

  void read(const std::string& key, std::vector<int64_t>& out, int64_t min) {
    const toml::node* n = find(key);
    if (!n) return;
    const toml::array* a = n->as_array();
    if (!a) return fail_type(key, *n, "an array of integers");
    std::vector<int64_t> v;
    for (const auto& e : *a) {
      if (!e.is_integer()) return fail_type(key, *n, "an array of integers");
      if (e.as_integer()->get() < min) return fail_value(key, *n, "every entry must be >= " + std::to_string(min));
      v.push_back(e.as_integer()->get());
    }
    out = v;
  }

  // Keys present in the file that no read() asked for.
  void reject_unknown() const {
    if (!table_) return;
    for (const auto& [k, node] : *table_) {
      const std::string key(k.str());
      if (!seen_.count(key)) {
        std::string known;
        for (const auto& s : seen_all_) known += (known.empty() ? "" : ", ") + s;
        problems_.add("unknown key '" + section_ + "." + key + "'" + where(node) + "; known keys in [" +
                          section_ + "]: " + known);
      }
    }
  }

 private:
  const toml::node* find(const std::string& key) {
    seen_all_.push_back(key);
    if (!table_) return nullptr;
    const toml::node* n = table_->get(key);
    if (n) seen_.insert(key);
    return n;
  }
  void fail_type(const std::string& key, const toml::node& n, const std::string& expected) const {
    problems_.add(section_ + "." + key + " = " + describe(n) + where(n) +
                      " has the wrong type: expected " + expected);
  }
  void fail_value(const std::string& key, const toml::node& n, const std::string& allowed) const {
    problems_.add(section_ + "." + key + " = " + describe(n) + where(n) + " is not allowed: " + allowed);
  }
  static std::string fmt(double v) {
    std::ostringstream os;
    os << v;
    return os.str();
  }
  static std::string range_text(double min, double max, bool integer) {
    const bool has_max = integer ? max < static_cast<double>(INT64_MAX) : max < INFINITY;
    return has_max ? "must be in [" + fmt(min) + ", " + fmt(max) + "]" : "must be >= " + fmt(min);
  }

  const toml::table* table_;
  std::string section_;
  std::set<std::string> seen_;
  std::vector<std::string> seen_all_;
  Problems& problems_;
};

void apply_override(toml::table& root, const std::string& text) {
  const auto eq = text.find('=');
  const auto dot = text.find('.');
  if (eq == std::string::npos || dot == std::string::npos || dot > eq || dot == 0 || dot + 1 == eq) {
    throw ConfigError("config: override '" + text + "' must look like section.key=value (e.g. optimizer.lr=0.1)");
  }
  const std::string section = text.substr(0, dot);
  const std::string key = text.substr(dot + 1, eq - dot - 1);
  const std::string value = text.substr(eq + 1);
  toml::table parsed;
  try {
    parsed = toml::parse("v = " + value);
  } catch (const toml::parse_error&) {
    parsed = toml::table{{"v", value}};  // a bare word such as adamw is a string
  }
  if (!root.contains(section)) root.insert(section, toml::table{});
  toml::table* sec = root.get(section)->as_table();
  if (!sec) throw ConfigError("config: '" + section + "' is not a section");
  sec->insert_or_assign(key, *parsed.get("v"));
}

const toml::table* section(const toml::table& root, const std::string& name) {
  const toml::node* n = root.get(name);
  if (!n) return nullptr;
  if (!n->is_table()) throw ConfigError("config: '" + name + "'" + where(*n) + " must be a [section], not a value");
  return n->as_table();
}

constexpr double kInf = INFINITY;

}  // namespace

namespace {

// [robust] and [attack] against each other and the rest of the configuration.
void check_robustness(const Config& c, Problems& problems) {
  const RobustConfig& k = c.robust;
  const AttackConfig& t = c.attack;
  const std::string& a = c.optimizer.algorithm;
  const int64_t n = c.cluster.workers;
  const bool averaging = a == "parallel-sgd" || a == "local-sgd" || a == "wagma" || a == "diloco";
  const bool robust = k.aggregator != "none";
  if (t.kind == "none" && !t.ranks.empty()) {
    problems.add("attack.ranks is set but attack.kind = \"none\": choose an attack.kind (e.g. "
                      "\"sign-flip\") or remove attack.ranks");
  }
  if (t.kind != "none") {
    if (t.ranks.empty()) {
      problems.add("attack.kind = \"" + t.kind + "\" needs attack.ranks, the attacking workers (e.g. "
                        "ranks = [" + std::to_string(std::max<int64_t>(1, n - 1)) + "])");
    }
    std::vector<int64_t> sorted = t.ranks;
    std::sort(sorted.begin(), sorted.end());
    for (size_t i = 0; i < sorted.size(); ++i) {
      if (sorted[i] >= n) {
        problems.add("attack.ranks holds " + std::to_string(sorted[i]) + ", but cluster.workers = " +
                          std::to_string(n) + " has ranks 0.." + std::to_string(n - 1));
      }
      if (i > 0 && sorted[i] == sorted[i - 1]) {
        problems.add("attack.ranks lists rank " + std::to_string(sorted[i]) + " twice");
      }
    }
    if (static_cast<int64_t>(sorted.size()) >= n) {
      problems.add("attack.ranks names all " + std::to_string(n) + " workers; at least one must be "
                        "honest (its model is the one reported)");
    }
    if (t.kind == "dissensus" && averaging) {
      problems.add("attack.kind = \"dissensus\" targets gossip (it pulls a neighbour away from its "
                        "neighbourhood); optimizer.algorithm = \"" + a + "\" only averages: use a gossip algorithm "
                        "such as dsgd, or another attack");
    }
  }
  if (!robust && t.kind == "none") return;
  if (n < 2) {
    problems.add("[robust] and [attack] need cluster.workers >= 2 (it is " + std::to_string(n) + ")");
  }
  if (c.compress.method != "none" || a == "choco") {
    problems.add("robust aggregation and attacks work on uncompressed messages; compress.method = \"" +
                      c.compress.method + "\" (optimizer.algorithm = \"" + a + "\") compresses them: set "
                      "compress.method = \"none\" and use an algorithm other than choco (docs/robust.md, \"Not done\")");
  }
  if (c.sparse.method == "gap" && c.sparse.gap_mode == "parallel") {
    problems.add("sparse.gap_mode = \"parallel\" gives each worker its own mask, so a worker could not "
                      "tell which coordinates a neighbour's robustly combined message holds; use sparse.gap_mode = "
                      "\"cyclic\" with [robust] / [attack]");
  }
  if (k.aggregator == "clipped-gossip" && averaging) {
    problems.add("robust.aggregator = \"clipped-gossip\" clips neighbours' models in gossip; "
                      "optimizer.algorithm = \"" + a + "\" only averages over all workers: use a gossip algorithm "
                      "(e.g. dsgd) or an aggregator for averages such as \"cc\"");
  }
  if (k.aggregator == "safeguard" && !averaging) {
    problems.add("robust.aggregator = \"safeguard\" judges every worker against the majority, which "
                      "needs averages over all workers; optimizer.algorithm = \"" + a + "\" gossips: use "
                      "parallel-sgd, local-sgd, wagma or diloco, or robust.aggregator = \"clipped-gossip\"");
  }
  if (k.safeguard_window1 < k.safeguard_window0) {
    problems.add("robust.safeguard_window1 = " + std::to_string(k.safeguard_window1) +
                      " must be >= robust.safeguard_window0 = " + std::to_string(k.safeguard_window0));
  }
  if (k.worker_momentum > 0) {
    if (!averaging) {
      problems.add("robust.worker_momentum makes the averaged messages momenta; optimizer.algorithm = "
                        "\"" + a + "\" gossips models: remove robust.worker_momentum");
    }
    if (c.optimizer.momentum != 0) {
      problems.add("robust.worker_momentum = " + std::to_string(k.worker_momentum) +
                        " with optimizer.momentum = " + std::to_string(c.optimizer.momentum) +
                        ": the momentum would be applied twice; set optimizer.momentum = 0");
    }
  }
  if (k.pre != "none" && k.aggregator == "safeguard") {
    problems.add("robust.pre = \"" + k.pre + "\" mixes the workers' messages, and robust.aggregator = "
                      "\"safeguard\" keeps its sums per worker: use robust.pre = \"none\" with it");
  }
  if (averaging) {
    // The inputs of an average are the workers' (wagma: the group's) messages.
    const int64_t inputs = a == "wagma" ? std::min(c.optimizer.group_size, n) : n;
    int64_t need = 1;
    std::string why;
    const std::string& g = k.aggregator;
    if (g == "krum" || g == "multi-krum") {
      need = 2 * k.f + 3;
      why = "Krum needs n > 2f + 2";
    } else if (g == "trimmed-mean") {
      need = 2 * (k.trim >= 0 ? k.trim : k.f) + 1;
      why = "the trimmed mean drops b values at each end, n > 2b";
    }
    if (k.pre == "nnm") need = std::max(need, k.f + 1);
    if (k.pre == "bucketing") need = (need - 1) * k.bucket_size + 1;
    if (inputs < need) {
      problems.add("robust.aggregator = \"" + g + "\" with robust.f = " + std::to_string(k.f) +
                        " needs at least " + std::to_string(need) + " inputs (" + why + "), and each average has " +
                        std::to_string(inputs) + ": lower robust.f (or robust.trim) or add workers");
    }
  }
}

}  // namespace

void throw_if_problems(const std::vector<std::string>& problems) {
  if (problems.empty()) return;
  if (problems.size() == 1) throw ConfigError("config: " + problems[0]);
  std::string text = "config: " + std::to_string(problems.size()) + " problems; fix all of them:";
  for (const auto& p : problems) text += "\n  - " + p;
  throw ConfigError(text);
}

Config parse_config(const std::string& toml_text, const std::string& origin, const std::vector<std::string>& overrides) {
  toml::table root;
  try {
    root = toml::parse(toml_text, origin);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << "config: " << origin << ":" << e.source().begin.line << ": " << e.description();
    throw ConfigError(os.str());
  }
  for (const auto& o : overrides) apply_override(root, o);

  static const std::vector<std::string> kSections = {"data", "model", "train", "optimizer", "schedule", "output", "cluster", "sparse", "compress", "robust", "attack"};
  for (const auto& [k, node] : root) {
    const std::string name(k.str());
    if (std::find(kSections.begin(), kSections.end(), name) == kSections.end()) {
      std::string known;
      for (const auto& s : kSections) known += (known.empty() ? "" : ", ") + s;
      throw ConfigError("config: unknown section '" + name + "'" + where(node) + "; known sections: " + known);
    }
  }

  Config c;
  Problems problems;
  for (const auto& [sec, node] : root) {
    if (const toml::table* t = node.as_table()) {
      for (const auto& [key, value] : *t) c.given_keys.push_back(std::string(sec.str()) + "." + std::string(key.str()));
    }
  }
  {
    SectionReader r(section(root, "data"), "data", problems);
    r.read("dataset", c.data.dataset, {"fashion-mnist"});
    r.read("path", c.data.path);
    r.read("partition", c.data.partition, {"iid", "dirichlet", "classes"});
    r.read("dirichlet_alpha", c.data.dirichlet_alpha, 0.0, kInf, true);
    r.read("classes_per_worker", c.data.classes_per_worker, 1, 1000);
    r.read("train_limit", c.data.train_limit, 0);
    r.read("test_limit", c.data.test_limit, 0);
    r.read("order", c.data.order, {"reshuffle", "shuffle-once", "cyclic"});
    r.reject_unknown();
  }
  {
    SectionReader r(section(root, "model"), "model", problems);
    r.read("name", c.model.name, {"mlp", "lenet5", "resnet20", "vit", "ceit"});
    r.read("hidden", c.model.hidden, 1);
    r.read("width", c.model.width, 1, 1024);
    // The transformers' sizes; whether they fit the images (patch divides the side, dim divisible
    // by heads) is checked where the model is built, which knows the image size.
    r.read("dim", c.model.dim, 1, 4096);
    r.read("depth", c.model.depth, 1, 64);
    r.read("heads", c.model.heads, 1, 256);
    r.read("mlp_ratio", c.model.mlp_ratio, 1, 16);
    r.read("patch", c.model.patch, 1, 1024);
    r.read("stem_channels", c.model.stem_channels, 1, 1024);
    r.reject_unknown();
  }
  {
    SectionReader r(section(root, "train"), "train", problems);
    r.read("epochs", c.train.epochs, 1, 100000);
    r.read("batch_size", c.train.batch_size, 1, 1 << 20);
    r.read("seed", c.train.seed, 0);
    r.read("threads", c.train.threads, 0, 1024);
    r.read("blas_threads", c.train.blas_threads, 0, 1024);
    r.read("log_every", c.train.log_every, 1);
    r.read("max_steps", c.train.max_steps, 0);
    r.read("eval_every", c.train.eval_every, 0);
    r.read("eval_batch_size", c.train.eval_batch_size, 1);
    r.read("init_from", c.train.init_from);
    r.reject_unknown();
  }
  {
    SectionReader r(section(root, "optimizer"), "optimizer", problems);
    // The name is checked against optim/'s registry in train/ (train::check_optimizer_config): the
    // list of algorithms lives in one place.
    r.read("algorithm", c.optimizer.algorithm);
    r.read("period", c.optimizer.period, 1);
    r.read("group_size", c.optimizer.group_size, 1, 1 << 20);
    r.read("global_period", c.optimizer.global_period, 1);
    r.read("outer_lr", c.optimizer.outer_lr, 0.0, 100.0, true);
    r.read("outer_momentum", c.optimizer.outer_momentum, 0.0, 0.999999);
    r.read("tracking", c.optimizer.tracking);
    r.read("form", c.optimizer.form, {"cta", "atc"});
    r.read("accumulation", c.optimizer.accumulation, 1, 1 << 20);
    r.read("consensus_step", c.optimizer.consensus_step, 0.0, 1.0, true);
    r.read("name", c.optimizer.name, {"sgd", "adamw"});
    r.read("lr", c.optimizer.lr, 0.0, 100.0, true);
    r.read("momentum", c.optimizer.momentum, 0.0, 0.999999);
    r.read("nesterov", c.optimizer.nesterov);
    r.read("weight_decay", c.optimizer.weight_decay, 0.0, 10.0);
    r.read("beta1", c.optimizer.beta1, 0.0, 0.999999);
    r.read("beta2", c.optimizer.beta2, 0.0, 0.999999999);
    r.read("eps", c.optimizer.eps, 0.0, 1.0, true);
    r.reject_unknown();
    if (c.optimizer.nesterov && c.optimizer.momentum == 0.0 && c.optimizer.name == "sgd") {
      problems.add("optimizer.nesterov = true needs optimizer.momentum > 0 (or set nesterov = false)");
    }
  }
  {
    SectionReader r(section(root, "schedule"), "schedule", problems);
    r.read("name", c.schedule.name, {"constant", "step", "cosine"});
    r.read("warmup_epochs", c.schedule.warmup_epochs, 0.0, kInf);
    r.read("step_epochs", c.schedule.step_epochs, 1);
    r.read("gamma", c.schedule.gamma, 0.0, 1.0, true);
    r.read("min_lr", c.schedule.min_lr, 0.0, kInf);
    r.reject_unknown();
  }
  {
    SectionReader r(section(root, "output"), "output", problems);
    r.read("dir", c.output.dir);
    r.read("checkpoint_every", c.output.checkpoint_every, 0);
    r.read("progress", c.output.progress, {"auto", "bar", "lines", "off"});
    r.reject_unknown();
    if (c.output.dir.empty()) problems.add("output.dir must not be empty");
  }
  {
    SectionReader r(section(root, "cluster"), "cluster", problems);
    r.read("workers", c.cluster.workers, 1, 4096);
    r.read("backend", c.cluster.backend, {"inprocess", "gloo"});
    r.read("topology", c.cluster.topology);
    r.read("weights", c.cluster.weights);
    r.read("timeout_ms", c.cluster.timeout_ms, 1);
    r.read("latency_us", c.cluster.latency_us, 0.0, 1e9);
    r.read("bandwidth_gbps", c.cluster.bandwidth_gbps, 0.0, 1e6, true);
    r.reject_unknown();
  }
  {
    SectionReader r(section(root, "sparse"), "sparse", problems);
    auto& s = c.sparse;
    r.read("method", s.method, {"none", "oneshot", "gmp", "gap", "rigl", "set", "srste"});
    r.read("sparsity", s.sparsity, 0.0, 1.0);
    r.read("scorer", s.scorer, {"magnitude", "woodfisher"});
    r.read("pattern", s.pattern, {"unstructured", "n:m", "block"});
    r.read("n", s.n, 1, 1024);
    r.read("m", s.m, 1, 1024);
    r.read("block_rows", s.block_rows, 1, 4096);
    r.read("block_cols", s.block_cols, 1, 4096);
    r.read("allocation", s.allocation, {"uniform", "global", "erk"});
    r.read("exempt_first", s.exempt_first);
    r.read("exempt_last", s.exempt_last);
    r.read("overrides", s.overrides);
    r.read("start_epoch", s.start_epoch, 0.0, kInf);
    r.read("end_epoch", s.end_epoch, -1.0, kInf);
    r.read("update_every", s.update_every, 1);
    r.read("initial_sparsity", s.initial_sparsity, 0.0, 1.0);
    r.read("drop_fraction", s.drop_fraction, 0.0, 1.0);
    r.read("gap_partitions", s.gap_partitions, 1, 1024);
    r.read("gap_epochs", s.gap_epochs, 0.0, kInf, true);
    r.read("gap_mode", s.gap_mode, {"cyclic", "parallel"});
    r.read("gap_rewarm", s.gap_rewarm, 0.0, 1.0);
    r.read("srste_lambda", s.srste_lambda, 0.0, 1.0);
    r.read("woodfisher_samples", s.woodfisher_samples, 1, 100000);
    r.read("woodfisher_block", s.woodfisher_block, 1, 100000);
    r.read("woodfisher_damping", s.woodfisher_damping, 0.0, kInf, true);
    r.read("export", s.export_model);
    r.read("kernels", s.kernels, {"auto", "sparse", "dense"});
    r.read("packed_messages", s.packed_messages);
    r.reject_unknown();
    if (s.n >= s.m && (s.pattern == "n:m" || s.method == "srste")) {
      problems.add("sparse.n = " + std::to_string(s.n) + " must be smaller than sparse.m = " +
                        std::to_string(s.m) + " (N:M keeps n of every m weights)");
    }
    if (s.method == "srste" && s.pattern != "n:m") {
      problems.add("sparse.method = \"srste\" trains an N:M pattern: set sparse.pattern = \"n:m\"");
    }
    if (s.gap_mode != "parallel" && s.gap_rewarm != 1.0) {
      problems.add("sparse.gap_rewarm re-warms the lr after parallel GaP's combinations; it has no "
                        "effect with sparse.gap_mode = \"" + s.gap_mode + "\": remove it or set gap_mode = \"parallel\"");
    }
    if (s.gap_mode == "parallel") {
      if (!s.packed_messages) {
        problems.add("sparse.packed_messages = false cannot be used with sparse.gap_mode = \"parallel\": "
                          "each worker's messages must carry its own mask so that a grown weight is averaged over "
                          "the workers that hold it; remove packed_messages or use gap_mode = \"cyclic\"");
      }
      if (s.method != "gap") {
        problems.add("sparse.gap_mode = \"parallel\" applies to sparse.method = \"gap\" (the method is \"" +
                          s.method + "\"); remove gap_mode or set method = \"gap\"");
      }
      if (c.cluster.workers < 2) {
        problems.add("sparse.gap_mode = \"parallel\" grows a different partition on each worker and needs "
                          "cluster.workers >= 2 (it is 1); use sparse.gap_mode = \"cyclic\" for one worker");
      }
      if (s.gap_partitions > c.cluster.workers) {
        problems.add("sparse.gap_partitions = " + std::to_string(s.gap_partitions) +
                          " exceeds cluster.workers = " + std::to_string(c.cluster.workers) +
                          ": parallel GaP needs at least one worker per partition; lower gap_partitions or add workers");
      }
    }
    if (s.initial_sparsity > s.sparsity) {
      problems.add("sparse.initial_sparsity (" + std::to_string(s.initial_sparsity) +
                        ") must not exceed sparse.sparsity (" + std::to_string(s.sparsity) + ")");
    }
  }
  {
    SectionReader r(section(root, "compress"), "compress", problems);
    auto& k = c.compress;
    r.read("method", k.method, {"none", "fp16", "bf16", "sign", "topk", "randk", "qsgd", "terngrad", "alq", "amq", "powersgd"});
    r.read("density", k.density, 0.0, 1.0, true);
    r.read("levels", k.levels, 1, 127);
    r.read("bucket", k.bucket, 1);
    r.read("rank", k.rank, 1, 1024);
    r.read("start_step", k.start_step, 0);
    r.read("error_feedback", k.error_feedback);
    r.read("layerwise", k.layerwise, {"none", "lgreco"});
    r.read("layerwise_every", k.layerwise_every, 1);
    r.reject_unknown();
    const std::string& a = c.optimizer.algorithm;
    const bool averaging = a == "parallel-sgd" || a == "local-sgd" || a == "wagma" || a == "diloco";
    if (k.method != "none") {
      if (a == "choco") {
        if (k.method == "powersgd") {
          problems.add("compress.method = \"powersgd\" compresses allreduce averages (two low-rank "
                            "factors summed over all workers); optimizer.algorithm = \"choco\" gossips compressed "
                            "differences with neighbours: use another compress.method with choco, or powersgd with "
                            "parallel-sgd, local-sgd, wagma or diloco");
        }
        if (k.error_feedback) {
          problems.add("compress.error_feedback = true with optimizer.algorithm = \"choco\": CHOCO's "
                            "public copies already carry what compression dropped into the next message; remove "
                            "compress.error_feedback");
        }
      } else if (!averaging) {
        problems.add("compress.method = \"" + k.method + "\" with optimizer.algorithm = \"" + a +
                          "\": that algorithm gossips uncompressed models with its neighbours. For compressed gossip "
                          "use optimizer.algorithm = \"choco\" (D-SGD with CHOCO's public copies); compressed "
                          "averages work with parallel-sgd, local-sgd, wagma or diloco; or set compress.method = "
                          "\"none\"");
      }
      if (k.method == "powersgd" && c.sparse.method != "none" && c.sparse.method != "srste" &&
          c.sparse.packed_messages) {
        problems.add("compress.method = \"powersgd\" factors each layer's matrix, which sparse.method = \"" +
                          c.sparse.method + "\"'s packed messages (only the kept values) no longer have: set "
                          "sparse.packed_messages = false, or choose another compress.method");
      }
      if (k.layerwise == "lgreco") {
        const std::string& m = k.method;
        if (m != "topk" && m != "randk" && m != "qsgd" && m != "alq" && m != "amq") {
          problems.add("compress.layerwise = \"lgreco\" chooses a density (topk, randk) or a number of "
                            "levels (qsgd, alq, amq) per layer; compress.method = \"" + m + "\" has none: choose one "
                            "of those methods or set compress.layerwise = \"none\"");
        }
        if (a != "parallel-sgd" && a != "local-sgd" && a != "diloco") {
          problems.add("compress.layerwise = \"lgreco\" with optimizer.algorithm = \"" + a + "\": the "
                            "per-layer choice must be the same on every worker, which needs averages over all of "
                            "them; use parallel-sgd, local-sgd or diloco, or set compress.layerwise = \"none\"");
        }
        if (c.sparse.method != "none" && c.sparse.method != "srste" && c.sparse.packed_messages) {
          problems.add("compress.layerwise = \"lgreco\" compresses each layer of the dense message; "
                            "sparse.method = \"" + c.sparse.method + "\"'s packed messages (only the kept values) "
                            "have no layers: set sparse.packed_messages = false, or compress.layerwise = \"none\"");
        }
      }
    } else {
      if (k.layerwise != "none") {
        problems.add("compress.layerwise = \"" + k.layerwise + "\" needs a compress.method (topk, randk, "
                          "qsgd, alq or amq)");
      }
      if (k.error_feedback) {
        problems.add("compress.error_feedback = true has no effect with compress.method = \"none\": "
                          "choose a compress.method or remove error_feedback");
      }
      if (a == "choco") {
        problems.add("optimizer.algorithm = \"choco\" gossips compressed messages and needs a "
                          "compress.method (e.g. \"topk\" with compress.density, or \"sign\"); for uncompressed "
                          "gossip use optimizer.algorithm = \"dsgd\"");
      }
    }
  }
  {
    SectionReader r(section(root, "robust"), "robust", problems);
    auto& k = c.robust;
    r.read("aggregator", k.aggregator, {"none", "mean", "median", "trimmed-mean", "krum", "multi-krum", "geomed", "cc",
                                        "safeguard", "clipped-gossip"});
    r.read("f", k.f, 0);
    r.read("trim", k.trim, -1);
    r.read("select", k.select, -1);
    r.read("radius", k.radius, 0.0, kInf, true);
    r.read("cc_iterations", k.cc_iterations, 1, 1000);
    r.read("geomed_iterations", k.geomed_iterations, 1, 1000);
    r.read("pre", k.pre, {"none", "nnm", "bucketing"});
    r.read("bucket_size", k.bucket_size, 1);
    r.read("worker_momentum", k.worker_momentum, 0.0, 0.999);
    r.read("safeguard_window0", k.safeguard_window0, 1);
    r.read("safeguard_window1", k.safeguard_window1, 1);
    r.read("safeguard_threshold0", k.safeguard_threshold0, 0.0, kInf);
    r.read("safeguard_threshold1", k.safeguard_threshold1, 0.0, kInf);
    r.read("safeguard_readmit", k.safeguard_readmit);
    r.read("gossip_radius", k.gossip_radius, 0.0, kInf);
    r.reject_unknown();
  }
  {
    SectionReader r(section(root, "attack"), "attack", problems);
    auto& k = c.attack;
    r.read("kind", k.kind, {"none", "sign-flip", "scaled", "gaussian", "label-flip", "alie", "ipm", "dissensus", "silent",
                            "wrong-size", "nan", "inf", "garbage"});
    r.read("ranks", k.ranks, 0);
    r.read("scale", k.scale, -1e30, 1e30);
    r.read("sigma", k.sigma, 0.0, 1e30, true);
    r.read("z", k.z, 0.0, 1e3);
    r.read("epsilon", k.epsilon, 0.0, 1e6);
    r.reject_unknown();
  }
  check_robustness(c, problems);
  problems.throw_if_any();
  return c;
}

Config load_config(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("config: cannot read '" + path + "' (does the file exist?)");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_config(ss.str(), path, overrides);
}

namespace {

// toml++ writes every double with 17 significant digits (lr = 0.10000000000000001); a person
// reads the shortest text that parses back to the same double (lr = 0.1).
std::string shortest_floats(const std::string& text) {
  std::istringstream in(text);
  std::string out, line;
  while (std::getline(in, line)) {
    const auto eq = line.find(" = ");
    if (eq != std::string::npos) {
      const std::string value = line.substr(eq + 3);
      const bool looks_float = !value.empty() && value.find_first_not_of("0123456789.eE+-") == std::string::npos &&
                               value.find_first_of(".eE") != std::string::npos;
      if (looks_float) {
        char* end = nullptr;
        const double v = std::strtod(value.c_str(), &end);
        if (end == value.c_str() + value.size()) {
          char buf[64];
          const auto r = std::to_chars(buf, buf + sizeof buf, v);
          std::string shortest(buf, r.ptr);
          // TOML needs a '.' or an exponent to keep the value a float.
          if (shortest.find_first_of(".eEn") == std::string::npos) shortest += ".0";
          if (std::strtod(shortest.c_str(), nullptr) == v) line = line.substr(0, eq + 3) + shortest;
        }
      }
    }
    out += line + "\n";
  }
  return out;
}

toml::array to_array(const std::vector<int64_t>& v) {
  toml::array a;
  for (auto x : v) a.push_back(x);
  return a;
}
}  // namespace

std::string to_toml(const Config& c) {
  toml::table root{
      {"data", toml::table{{"dataset", c.data.dataset},
                           {"path", c.data.path},
                           {"partition", c.data.partition},
                           {"dirichlet_alpha", c.data.dirichlet_alpha},
                           {"classes_per_worker", c.data.classes_per_worker},
                           {"train_limit", c.data.train_limit},
                           {"test_limit", c.data.test_limit},
                           {"order", c.data.order}}},
      {"model", toml::table{{"name", c.model.name},
                             {"hidden", to_array(c.model.hidden)},
                             {"width", c.model.width},
                             {"dim", c.model.dim},
                             {"depth", c.model.depth},
                             {"heads", c.model.heads},
                             {"mlp_ratio", c.model.mlp_ratio},
                             {"patch", c.model.patch},
                             {"stem_channels", c.model.stem_channels}}},
      {"train", toml::table{{"epochs", c.train.epochs},
                            {"batch_size", c.train.batch_size},
                            {"seed", c.train.seed},
                            {"threads", c.train.threads},
                            {"blas_threads", c.train.blas_threads},
                            {"log_every", c.train.log_every},
                            {"max_steps", c.train.max_steps},
                            {"eval_every", c.train.eval_every},
                            {"eval_batch_size", c.train.eval_batch_size},
                            {"init_from", c.train.init_from}}},
      {"optimizer", toml::table{{"algorithm", c.optimizer.algorithm},
                                {"period", c.optimizer.period},
                                {"group_size", c.optimizer.group_size},
                                {"global_period", c.optimizer.global_period},
                                {"outer_lr", c.optimizer.outer_lr},
                                {"outer_momentum", c.optimizer.outer_momentum},
                                {"tracking", c.optimizer.tracking},
                                {"form", c.optimizer.form},
                                {"accumulation", c.optimizer.accumulation},
                                {"consensus_step", c.optimizer.consensus_step},
                                {"name", c.optimizer.name},
                                {"lr", c.optimizer.lr},
                                {"momentum", c.optimizer.momentum},
                                {"nesterov", c.optimizer.nesterov},
                                {"weight_decay", c.optimizer.weight_decay},
                                {"beta1", c.optimizer.beta1},
                                {"beta2", c.optimizer.beta2},
                                {"eps", c.optimizer.eps}}},
      {"schedule", toml::table{{"name", c.schedule.name},
                               {"warmup_epochs", c.schedule.warmup_epochs},
                               {"step_epochs", c.schedule.step_epochs},
                               {"gamma", c.schedule.gamma},
                               {"min_lr", c.schedule.min_lr}}},
      {"output", toml::table{{"dir", c.output.dir}, {"checkpoint_every", c.output.checkpoint_every}, {"progress", c.output.progress}}},
      {"cluster", toml::table{{"workers", c.cluster.workers},
                              {"backend", c.cluster.backend},
                              {"topology", c.cluster.topology},
                              {"weights", c.cluster.weights},
                              {"timeout_ms", c.cluster.timeout_ms},
                              {"latency_us", c.cluster.latency_us},
                              {"bandwidth_gbps", c.cluster.bandwidth_gbps}}},
      {"sparse", toml::table{{"method", c.sparse.method},
                             {"sparsity", c.sparse.sparsity},
                             {"scorer", c.sparse.scorer},
                             {"pattern", c.sparse.pattern},
                             {"n", c.sparse.n},
                             {"m", c.sparse.m},
                             {"block_rows", c.sparse.block_rows},
                             {"block_cols", c.sparse.block_cols},
                             {"allocation", c.sparse.allocation},
                             {"exempt_first", c.sparse.exempt_first},
                             {"exempt_last", c.sparse.exempt_last},
                             {"overrides", c.sparse.overrides},
                             {"start_epoch", c.sparse.start_epoch},
                             {"end_epoch", c.sparse.end_epoch},
                             {"update_every", c.sparse.update_every},
                             {"initial_sparsity", c.sparse.initial_sparsity},
                             {"drop_fraction", c.sparse.drop_fraction},
                             {"gap_partitions", c.sparse.gap_partitions},
                             {"gap_epochs", c.sparse.gap_epochs},
                             {"gap_mode", c.sparse.gap_mode},
                             {"gap_rewarm", c.sparse.gap_rewarm},
                             {"srste_lambda", c.sparse.srste_lambda},
                             {"woodfisher_samples", c.sparse.woodfisher_samples},
                             {"woodfisher_block", c.sparse.woodfisher_block},
                             {"woodfisher_damping", c.sparse.woodfisher_damping},
                             {"export", c.sparse.export_model},
                             {"kernels", c.sparse.kernels},
                             {"packed_messages", c.sparse.packed_messages}}},
      {"compress", toml::table{{"method", c.compress.method},
                               {"density", c.compress.density},
                               {"levels", c.compress.levels},
                               {"bucket", c.compress.bucket},
                               {"rank", c.compress.rank},
                               {"start_step", c.compress.start_step},
                               {"error_feedback", c.compress.error_feedback},
                               {"layerwise", c.compress.layerwise},
                               {"layerwise_every", c.compress.layerwise_every}}},
      {"robust", toml::table{{"aggregator", c.robust.aggregator},
                             {"f", c.robust.f},
                             {"trim", c.robust.trim},
                             {"select", c.robust.select},
                             {"radius", c.robust.radius},
                             {"cc_iterations", c.robust.cc_iterations},
                             {"geomed_iterations", c.robust.geomed_iterations},
                             {"pre", c.robust.pre},
                             {"bucket_size", c.robust.bucket_size},
                             {"worker_momentum", c.robust.worker_momentum},
                             {"safeguard_window0", c.robust.safeguard_window0},
                             {"safeguard_window1", c.robust.safeguard_window1},
                             {"safeguard_threshold0", c.robust.safeguard_threshold0},
                             {"safeguard_threshold1", c.robust.safeguard_threshold1},
                             {"safeguard_readmit", c.robust.safeguard_readmit},
                             {"gossip_radius", c.robust.gossip_radius}}},
      {"attack", [&] {
         toml::array ranks;
         for (int64_t r : c.attack.ranks) ranks.push_back(r);
         return toml::table{{"kind", c.attack.kind},
                            {"ranks", ranks},
                            {"scale", c.attack.scale},
                            {"sigma", c.attack.sigma},
                            {"z", c.attack.z},
                            {"epsilon", c.attack.epsilon}};
       }()},
  };
  std::ostringstream os;
  os << root << "\n";
  return shortest_floats(os.str());
}

}  // namespace gossamer::config
