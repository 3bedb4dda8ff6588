// Reproduction of the shape claimed by arXiv 2105.09080 (Gossip-PGA): on a large ring, gossip
// SGD pays for the small spectral gap; adding a global average every H steps (Gossip-PGA) brings it
// close to parallel SGD, the closer the smaller H, and it beats Local SGD at the same H because it
// also gossips between the averages.
//
// Measured as iterations until the averaged model x̄ reaches f(x̄) − f* ≤ target on heterogeneous
// logistic regression (logistic_problem.h) with stochastic mini-batch gradients and one constant
// step for every algorithm. Every algorithm is the library's optimizer, built by name through
// optim::make_distributed_optimizer and driven on the InProcess backend (one thread per worker).
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/optim/sgd.h>

#include <algorithm>
#include <functional>
#include <cmath>
#include <numeric>

#include "gossamer/comm/communicator.h"
#include "gossamer/comm/inprocess_communicator.h"
#include "gossamer/optim/factory.h"
#include "gossamer/topology/analysis.h"
#include "gossamer/topology/spec.h"
#include "logistic_problem.h"
#include "repro_common.h"

namespace gossamer::repro {
namespace {

struct Method {
  std::string label;      // e.g. "gossip-pga H=16"
  std::string algorithm;  // factory name
  int64_t period = 0;     // H for gossip-pga and local-sgd
};

struct RunSpec {
  double lr = 0;
  int64_t batch = 8;
  int64_t max_steps = 0;
  int64_t eval_every = 4;
  std::vector<double> targets;  // on f(x̄) − f*, loosest first; a run stops at the last one
  uint64_t seed = 1;
};

struct RunResult {
  std::vector<int64_t> hits;  // per target: first evaluated step with f(x̄) − f* ≤ it; -1 = not reached
  double final_gap = NAN;    // f(x̄) − f* at the last evaluation
  double wall_s = 0;
  std::vector<std::pair<int64_t, double>> trace;  // (step, f(x̄) − f*), thinned
};

RunResult run(const Logistic& pb, double f_star, const topology::Topology& topo, const Method& method,
              const RunSpec& spec) {
  const int n = pb.n();
  RunResult out;
  Stopwatch clock;
  std::mutex mu;
  const int64_t thin = std::max<int64_t>(1, spec.max_steps / spec.eval_every / 250);  // ~250 trace points a run
  comm::run_inprocess(n, [&](comm::Communicator& comm) {
    const int r = comm.rank();
    auto gen = at::make_generator<at::CPUGeneratorImpl>(spec.seed * 1000003ULL + static_cast<uint64_t>(r));
    at::Tensor x = at::zeros({pb.dim()}, at::kDouble).requires_grad_(true);
    optim::AlgorithmOptions o;
    o.gossip_pga.period = method.period > 0 ? method.period : 1;
    o.local_sgd.period = method.period > 0 ? method.period : 1;
    auto local = std::make_unique<torch::optim::SGD>(std::vector<at::Tensor>{x}, torch::optim::SGDOptions(spec.lr));
    auto opt = optim::make_distributed_optimizer(method.algorithm, o, {x}, comm,
                                                 optim::algorithm_needs_topology(method.algorithm) ? &topo : nullptr,
                                                 std::move(local));
    RunResult mine;
    mine.hits.assign(spec.targets.size(), -1);
    at::Tensor xbar = at::empty({pb.dim()}, at::kDouble);
    at::Tensor f = at::empty({1}, at::kDouble);
    for (int64_t k = 0;; ++k) {
      if (k % spec.eval_every == 0 || k == spec.max_steps) {
        // f(x̄) = (1/n) Σ_i f_i(x̄): two small allreduces, bit-identical on every rank, so every
        // rank takes the same stop decision.
        xbar.copy_(x.detach());
        comm.allreduce(xbar, comm::ReduceOp::Mean);
        f.fill_(pb.local_loss(r, xbar));
        comm.allreduce(f, comm::ReduceOp::Mean);
        const double gap = f.item<double>() - f_star;
        mine.final_gap = gap;
        bool new_hit = false;
        for (size_t t = 0; t < spec.targets.size(); ++t) {
          if (mine.hits[t] < 0 && gap <= spec.targets[t]) mine.hits[t] = k, new_hit = true;
        }
        if (r == 0 && ((k / spec.eval_every) % thin == 0 || new_hit)) mine.trace.emplace_back(k, gap);
        if (mine.hits.back() >= 0 || k >= spec.max_steps || !std::isfinite(gap)) break;
      }
      const at::Tensor idx = at::randint(0, pb.samples(r), {spec.batch}, gen, at::TensorOptions().dtype(at::kLong));
      x.mutable_grad() = pb.grad(r, x.detach(), idx);
      opt->set_lr(spec.lr);
      opt->step();
    }
    if (r == 0) {
      std::lock_guard<std::mutex> lock(mu);
      out = std::move(mine);
    }
  });
  out.wall_s = clock.seconds();
  return out;
}

std::string target_name(double t) { return "f-f*<=" + sci(t, 1); }

int main_impl(int argc, char** argv) {
  Flags flags(argc, argv,
              "repro_periodic_averaging: iterations to target losses for gossip SGD, Gossip-PGA, Local SGD and\n"
              "parallel SGD on a ring (arXiv 2105.09080); stochastic gradients, heterogeneous logistic regression.",
              {{"csv", {"runs/repro/periodic_averaging.csv", "summary CSV, one row per (n, method, target)"}},
               {"trace", {"runs/repro/periodic_averaging_trace.csv", "f(xbar) - f* along every run (thinned)"}},
               {"workers", {"32,64", "worker counts (ring)"}},
               {"periods", {"4,16,64", "averaging periods H for gossip-pga and local-sgd"}},
               {"targets", {"2e-2,5e-3,1.5e-3", "targets on f(xbar) - f* (a run stops at the tightest)"}},
               {"max-steps", {"4000", "K: a target not reached by then is reported as 'not reached in K'"}},
               {"seeds", {"5", "independent runs (mini-batch draws) per method; iterations are averaged"}},
               {"batch", {"4", "mini-batch size per worker"}},
               {"eval-every", {"4", "evaluate f(xbar) every this many steps (the resolution of the counts)"}},
               {"heterogeneity", {"1.0", "data::SyntheticSpec::heterogeneity"}},
               {"samples", {"100", "samples per worker"}},
               {"dim", {"10", "feature dimension"}},
               {"rho", {"0.01", "L2 regularisation"}},
               {"lr-scale", {"0.5", "constant step = lr-scale / L, the same for every method"}},
               {"data-seed", {"1", "data seed"}}});
  at::set_num_threads(1);  // n worker threads already share the cores
  Stopwatch clock;
  RunSpec base;
  base.batch = flags.integer("batch");
  base.max_steps = flags.integer("max-steps");
  base.eval_every = flags.integer("eval-every");
  for (const auto& t : flags.strings("targets")) {
    try {
      base.targets.push_back(std::stod(t));
    } catch (const std::exception&) {
      throw std::invalid_argument("--targets wants numbers separated by commas, got '" + t + "'");
    }
  }
  std::sort(base.targets.begin(), base.targets.end(), std::greater<double>());
  const int64_t seeds = flags.integer("seeds");
  if (base.batch < 1 || base.max_steps < 1 || base.eval_every < 1 || seeds < 1 || base.targets.empty() ||
      !(base.targets.back() > 0)) {
    throw std::invalid_argument("--batch, --max-steps, --eval-every and --seeds must be >= 1, --targets > 0");
  }

  std::vector<Method> methods{{"parallel-sgd", "parallel-sgd", 0}};
  for (int64_t h : flags.integers("periods")) methods.push_back({"gossip-pga H=" + std::to_string(h), "gossip-pga", h});
  for (int64_t h : flags.integers("periods")) methods.push_back({"local-sgd H=" + std::to_string(h), "local-sgd", h});
  methods.push_back({"dsgd (gossip)", "dsgd", 0});

  Table summary({"n", "1-beta", "method", "target", "iterations (mean)", "min", "max", "reached",
                 "final f-f* (mean)", "wall_s"});
  Table trace_table({"n", "method", "seed", "step", "f-f*"});
  std::map<std::string, std::map<std::string, std::string>> wide_cells;  // method -> column -> cell
  std::vector<std::string> wide_columns;

  for (int64_t n64 : flags.integers("workers")) {
    const int n = static_cast<int>(n64);
    for (double t : base.targets) wide_columns.push_back("n=" + std::to_string(n) + " " + target_name(t));
    const Logistic pb = make_logistic(n, flags.integer("samples"), flags.integer("dim"), flags.num("heterogeneity"),
                                      flags.num("rho"), static_cast<uint64_t>(flags.integer("data-seed")));
    const at::Tensor x_star = pb.minimiser();
    const double f_star = pb.loss(x_star);
    const double L = pb.smoothness();
    topology::TopologySpec ts;
    ts.name = "ring";
    ts.workers = n;
    const topology::Topology ring = topology::make_topology(ts);
    const double gap = topology::spectral_gap(ring);
    RunSpec spec = base;
    spec.lr = flags.num("lr-scale") / L;
    progress(clock, "n = " + std::to_string(n) + ": ring 1-beta = " + sci(gap) + ", L = " + sci(L) + ", lr = " +
                        sci(spec.lr) + ", f(0) - f* = " + sci(pb.loss(at::zeros_like(x_star)) - f_star));
    for (const Method& m : methods) {
      std::vector<std::vector<double>> hits(spec.targets.size());
      std::vector<double> finals;
      double wall = 0;
      for (int64_t s = 0; s < seeds; ++s) {
        spec.seed = static_cast<uint64_t>(s + 1);
        const RunResult res = run(pb, f_star, ring, m, spec);
        wall += res.wall_s;
        std::string said;
        for (size_t t = 0; t < spec.targets.size(); ++t) {
          if (res.hits[t] >= 0) hits[t].push_back(static_cast<double>(res.hits[t]));
          said += (t ? ", " : "") + sci(spec.targets[t], 1) + ": " +
                  (res.hits[t] >= 0 ? std::to_string(res.hits[t]) : std::string("-"));
        }
        finals.push_back(res.final_gap);
        for (const auto& [k, g] : res.trace) {
          trace_table.add({std::to_string(n), m.label, std::to_string(spec.seed), std::to_string(k), sci(g, 4)});
        }
        progress(clock, "n = " + std::to_string(n) + " " + m.label + " seed " + std::to_string(spec.seed) +
                            ": steps to reach " + said + "; last f-f* " + sci(res.final_gap) + " (" +
                            fixed(res.wall_s, 1) + " s)");
      }
      const double mean_final = std::accumulate(finals.begin(), finals.end(), 0.0) / static_cast<double>(finals.size());
      for (size_t t = 0; t < spec.targets.size(); ++t) {
        const auto& h = hits[t];
        const std::string reached = std::to_string(h.size()) + "/" + std::to_string(seeds);
        std::string mean, lo, hi, cell;
        if (h.size() == static_cast<size_t>(seeds)) {
          mean = fixed(std::accumulate(h.begin(), h.end(), 0.0) / static_cast<double>(h.size()), 0);
          lo = fixed(*std::min_element(h.begin(), h.end()), 0);
          hi = fixed(*std::max_element(h.begin(), h.end()), 0);
          cell = mean;
        } else {
          mean = "not reached in " + std::to_string(spec.max_steps);
          cell = h.empty() ? mean : mean + " (" + reached + " seeds did)";
        }
        summary.add({std::to_string(n), sci(gap), m.label, sci(spec.targets[t], 1), mean, lo, hi, reached,
                     sci(mean_final), t == 0 ? fixed(wall, 1) : ""});
        wide_cells[m.label]["n=" + std::to_string(n) + " " + target_name(spec.targets[t])] = cell;
      }
    }
  }

  std::vector<std::string> cols{"method"};
  cols.insert(cols.end(), wide_columns.begin(), wide_columns.end());
  Table wide(cols);
  for (const Method& m : methods) {
    std::vector<std::string> row{m.label};
    for (const auto& c : wide_columns) row.push_back(wide_cells[m.label][c]);
    wide.add(row);
  }
  std::cout << "\nIterations until f(xbar) - f* reaches each target, ring topology, mean of " << seeds
            << " seeds (evaluated every " << base.eval_every << " steps; constant step " << flags.str("lr-scale")
            << "/L; mini-batch " << base.batch << " per worker; heterogeneity " << flags.str("heterogeneity")
            << "; K = " << base.max_steps << ").\n\n";
  wide.print(std::cout);
  std::cout << "\nper (n, method, target):\n";
  summary.print(std::cout);
  summary.write_csv(flags.str("csv"));
  trace_table.write_csv(flags.str("trace"));
  std::cout << "\nwrote " << flags.str("csv") << " and " << flags.str("trace") << " (" << fixed(clock.seconds(), 1)
            << " s)\n";
  return 0;
}

}  // namespace
}  // namespace gossamer::repro

int main(int argc, char** argv) {
  return gossamer::repro::run_main("repro_periodic_averaging", argc, argv, gossamer::repro::main_impl);
}
