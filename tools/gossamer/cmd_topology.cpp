// `gossamer topology NAME --workers N ...`: build a topology and print what matters for choosing
// one: period, degrees, spectral gap, diameter, stochasticity and bytes per worker per step.
//
// Every value is read as text and converted here, so that any bad argument ends the same way:
// one line on stderr and exit status 2 (CLI11's own parse errors use other codes).
#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unistd.h>

#include "commands.h"
#include "errors.h"
#include "gossamer/topology/analysis.h"
#include "gossamer/topology/dot.h"
#include "gossamer/topology/exponential.h"
#include "gossamer/topology/graph_builders.h"
#include "gossamer/topology/spec.h"
#include "gossamer/topology/weights.h"

namespace gossamer::cli {

namespace {

namespace topo = gossamer::topology;

// A 100k-parameter float32 model: small enough that the default describes a toy run, round enough
// that the bytes scale by eye.
constexpr int64_t kDefaultModelParams = 100000;
constexpr int64_t kDefaultModelBytes = kDefaultModelParams * 4;

struct Args {
  std::string name, workers, weights = "metropolis", model_bytes, dot, seed, p, rows, cols, edges, period;
};

int64_t to_int(const std::string& flag, const std::string& text, int64_t min) {
  size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (text.empty() || used != text.size() || v < min) {
    throw std::invalid_argument(flag + " needs an integer >= " + std::to_string(min) + ", got '" + text + "'");
  }
  return v;
}

double to_double(const std::string& flag, const std::string& text) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (text.empty() || used != text.size()) throw std::invalid_argument(flag + " needs a number, got '" + text + "'");
  return v;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

topo::TopologySpec to_spec(const Args& a) {
  topo::TopologySpec s;
  if (a.name.empty()) throw std::invalid_argument("missing topology NAME; use one of: " + joined(topo::topology_names()));
  s.name = a.name;
  if (a.workers.empty() && a.name != "edge-list") throw std::invalid_argument("missing --workers N");
  if (!a.workers.empty()) {
    const int64_t workers = to_int("--workers", a.workers, a.name == "edge-list" ? 0 : 1);
    if (workers > topo::kMaxWorkers) {
      throw std::invalid_argument("--workers " + a.workers + " is more than the " + std::to_string(topo::kMaxWorkers) +
                                  " workers a topology may have (gossamer train takes as many); use at most " +
                                  std::to_string(topo::kMaxWorkers));
    }
    s.workers = static_cast<int>(workers);
  }
  s.weights = topo::parse_weights(a.weights);
  if (!a.seed.empty()) s.seed = static_cast<uint64_t>(to_int("--seed", a.seed, 0));
  if (!a.p.empty()) s.p = to_double("--p", a.p);
  if (!a.rows.empty()) s.rows = static_cast<int>(to_int("--rows", a.rows, 1));
  if (!a.cols.empty()) s.cols = static_cast<int>(to_int("--cols", a.cols, 1));
  if (!a.period.empty()) s.period = static_cast<int>(to_int("--period", a.period, 1));
  s.edge_file = a.edges;
  // The command describes a topology, it does not train on it: report "doubly stochastic: no"
  // instead of refusing (e.g. uniform weights on a star).
  s.require_doubly_stochastic = false;
  return s;
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string png_path_for(const std::string& dot_path) {
  const std::string ext = ".dot";
  if (dot_path.size() > ext.size() && dot_path.compare(dot_path.size() - ext.size(), ext.size(), ext) == 0) {
    return dot_path.substr(0, dot_path.size() - ext.size()) + ".png";
  }
  return dot_path + ".png";
}

void write_dot(const topo::Topology& t, const std::string& path) {
  {
    std::ofstream f(path);
    if (!f) throw std::runtime_error("cannot write DOT file '" + path + "'");
    f << topo::to_dot(t);
    if (!f) throw std::runtime_error("error while writing DOT file '" + path + "'");
  }
  std::cout << "dot file            " << path << "\n";
  if (!on_path("dot")) {
    std::cout << "png                 skipped: Graphviz 'dot' is not on PATH (install graphviz for a picture)\n";
    return;
  }
  const std::string png = png_path_for(path);
  const std::string cmd = "dot -Tpng " + shell_quote(path) + " -o " + shell_quote(png);
  if (std::system(cmd.c_str()) == 0) {
    std::cout << "png                 " << png << "\n";
  } else {
    std::cout << "png                 failed: '" << cmd << "' returned an error\n";
  }
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  int u = 0;
  while (b >= 1000.0 && u < 4) {
    b /= 1000.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", b, units[u]);
  return buf;
}

void report(const topo::TopologySpec& spec, const topo::Topology& t, int64_t model_bytes, bool default_bytes) {
  const auto deg = topo::union_degree_stats(t);
  const auto sends = topo::sends_per_step(t);
  const double beta = topo::mixing_beta(t);
  const int diam = topo::diameter(t);
  const std::string violation = topo::stochasticity_violation(t, true, true);
  std::ostringstream os;
  os.setf(std::ios::fixed);
  os.precision(6);
  const std::string built = topo::degenerate_as(t);
  os << "topology            " << t.name() << (built.empty() ? "" : " (with " + std::to_string(t.size()) +
                                                                      " workers this is " + built + ")")
     << "\n";
  os << "workers             " << t.size() << "\n";
  if (spec.name == "torus") {
    const auto [r, c] = topo::torus_shape(t.size(), spec.rows, spec.cols);
    os << "shape               " << r << " x " << c << "\n";
  }
  // These families fix their own weights (regular at every step, where uniform = metropolis).
  const bool fixed_weights = spec.name == "exponential" || spec.name == "one-peer-exponential" ||
                             spec.name == "random-gossip";
  os << "weights             "
     << (fixed_weights ? std::string(spec.weights.lazy ? "lazy-" : "") + "uniform (fixed by the family)"
                       : topo::weights_name(spec.weights))
     << "\n";
  os << "period              " << t.period() << (t.period() == 1 ? " step (static)" : " steps (time-varying)") << "\n";
  os.precision(2);
  os << "degree (union)      min " << deg.min << ", mean " << deg.mean << ", max " << deg.max
     << (t.is_static() ? "" : "  (out-degree over one period)") << "\n";
  os.precision(6);
  std::ostringstream beta_text;  // %g-style: a tiny beta (long gossip periods) stays readable
  beta_text << beta;
  if (!violation.empty()) {
    // 1 - ||W - 11^T/n|| measures how fast gossip reaches the mean only when W keeps the mean
    // (doubly stochastic); otherwise it can be negative and means nothing.
    os << "spectral gap        not defined: W is not doubly stochastic (beta = " << beta_text.str() << ")\n";
  } else {
    os << "spectral gap        " << 1.0 - beta << "  (1 - beta, beta = " << beta_text.str() << " = ||"
       << (t.is_static() ? "W" : "W(p-1)...W(0)") << " - 11^T/n||_2" << (t.is_static() ? "" : ", per period") << ")\n";
  }
  if (!t.is_static() && violation.empty()) {
    os << "  per step          " << 1.0 - std::pow(beta, 1.0 / t.period()) << "  (1 - beta^(1/period))\n";
  }
  os << "diameter            " << (diam < 0 ? std::string("infinite (not strongly connected)") : std::to_string(diam))
     << (t.is_static() ? "" : "  (union graph)") << "\n";
  os << "doubly stochastic   " << (violation.empty() ? "yes" : "no (" + violation + ")") << "\n";
  os << "symmetric           " << (topo::is_symmetric(t) ? "yes" : "no") << "\n";
  const double mean_bytes = sends.mean * static_cast<double>(model_bytes);
  const double max_bytes = sends.max * static_cast<double>(model_bytes);
  os.precision(0);
  os << "bytes/worker/step   " << mean_bytes << " B (" << human_bytes(mean_bytes) << "), busiest worker " << max_bytes
     << " B";
  os.precision(2);
  os << "; " << sends.mean << " messages of " << model_bytes << " B"
     << (default_bytes ? " (default: a 100k-parameter float32 model; set --model-bytes)" : "") << "\n";
  std::cout << os.str();
}

}  // namespace

void add_topology_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("topology", "Build a topology and print its period, degrees, spectral gap, "
                                             "diameter and bytes per worker per step");
  auto args = std::make_shared<Args>();
  // Every value is text (converted in to_spec); the type names and defaults are for --help.
  cmd->add_option("name", args->name, "one of: " + joined(topo::topology_names()));
  cmd->add_option("--workers,-n", args->workers, "number of workers (edge-list: optional, else from the file)")
      ->type_name("INT");
  cmd->add_option("--weights", args->weights, "mixing weights: " + joined(topo::weights_names()));
  cmd->add_option("--model-bytes", args->model_bytes, "bytes of one model message (400000 = 100k float32 parameters)")
      ->type_name("INT")
      ->default_str(std::to_string(kDefaultModelBytes));
  cmd->add_option("--dot", args->dot, "write Graphviz DOT here (and a PNG next to it when 'dot' is on PATH)")
      ->type_name("FILE");
  cmd->add_option("--seed", args->seed, "seed for erdos-renyi and random-gossip")->type_name("INT")->default_str("0");
  cmd->add_option("--p", args->p, "erdos-renyi edge probability in (0, 1]")->type_name("FLOAT");
  cmd->add_option("--rows", args->rows, "torus rows (default: the most square factorisation)")->type_name("INT");
  cmd->add_option("--cols", args->cols, "torus columns (default: the most square factorisation)")->type_name("INT");
  cmd->add_option("--edges", args->edges, "edge-list file: lines 'i j' or 'i j w', '#' comments")->type_name("FILE");
  cmd->add_option("--period", args->period, "random-gossip: number of matchings in the period")
      ->type_name("INT")
      ->default_str("64");
  cmd->allow_extras();  // unknown arguments are reported below, with exit status 2
  cmd->callback([cmd, args, &exit_code] {
    exit_code = run_reported("topology", [&] {
      if (!cmd->remaining().empty()) {
        throw std::invalid_argument("unexpected argument '" + cmd->remaining().front() + "'; see --help");
      }
      const topo::TopologySpec spec = to_spec(*args);
      const bool default_bytes = args->model_bytes.empty();
      const int64_t model_bytes = default_bytes ? kDefaultModelBytes : to_int("--model-bytes", args->model_bytes, 0);
      const topo::Topology t = topo::make_topology(spec);
      report(spec, t, model_bytes, default_bytes);
      if (!args->dot.empty()) write_dot(t, args->dot);
      const std::string violation = topo::stochasticity_violation(t, true, true);
      if (!violation.empty()) {
        // Described above, but not trainable: gossamer train refuses it (its workers would not
        // average to the mean), so say so with the config-error status.
        std::cerr << "gossamer topology: refused for training: W is not doubly stochastic (" << violation
                  << "); gossamer train would stop with a config error. Use --weights metropolis"
                  << (spec.weights.lazy ? " (or lazy-metropolis)" : "") << ", doubly stochastic on every graph\n";
        return static_cast<int>(kExitUsage);
      }
      return static_cast<int>(kExitOk);
    });
  });
}

}  // namespace gossamer::cli
