#include "gossamer/report/topology_drawing.h"

#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>
#include <utility>

#include "gossamer/config/config.h"
#include "gossamer/optim/factory.h"
#include "gossamer/topology/analysis.h"
#include "gossamer/topology/spec.h"
#include "gossamer/train/preflight.h"
#include "gossamer/topology/topology.h"
#include "gossamer/topology/weights.h"

namespace gossamer::report {

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kSize = 320, kCentre = kSize / 2, kRadius = 130;

std::string fixed(double v, int digits) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

}  // namespace

std::string topology_svg(const topology::Topology& t) {
  const int n = t.size();
  std::set<std::pair<int, int>> edges;  // (from, to)
  for (int k = 0; k < t.period(); ++k) {
    const topology::MixingMatrix& w = t.matrix(k);
    for (int i = 0; i < n; ++i)
      for (const auto& nb : w.row(i))
        if (nb.rank != i) edges.insert({nb.rank, i});
  }
  const double node_r = n <= 16 ? 11 : n <= 32 ? 8 : n <= 64 ? 5 : 3;
  auto x = [&](int r) { return kCentre + kRadius * std::sin(2 * kPi * r / n); };
  auto y = [&](int r) { return kCentre - kRadius * std::cos(2 * kPi * r / n); };
  std::ostringstream os;
  os << "<svg class=\"topology\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " << kSize << " " << kSize
     << "\" width=\"" << kSize << "\" height=\"" << kSize << "\" role=\"img\">";
  os << "<title>" << t.name() << ", " << n << " workers</title>";
  os << "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"6\" "
        "markerHeight=\"6\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#667\"/>"
        "</marker></defs>";
  for (const auto& [from, to] : edges) {
    const bool both = edges.count({to, from}) > 0;
    if (both && from > to) continue;  // drawn once, as from < to
    double x1 = x(from), y1 = y(from), x2 = x(to), y2 = y(to);
    if (!both) {
      // Stop the arrow at the receiver's rim, so its head is visible.
      const double dx = x2 - x1, dy = y2 - y1, len = std::max(1e-9, std::hypot(dx, dy));
      x2 -= dx / len * node_r;
      y2 -= dy / len * node_r;
    }
    os << "<line class=\"edge\" x1=\"" << fixed(x1, 1) << "\" y1=\"" << fixed(y1, 1) << "\" x2=\"" << fixed(x2, 1)
       << "\" y2=\"" << fixed(y2, 1) << "\"" << (both ? "" : " marker-end=\"url(#arrow)\"") << "/>";
  }
  for (int r = 0; r < n; ++r) {
    os << "<circle class=\"node\" cx=\"" << fixed(x(r), 1) << "\" cy=\"" << fixed(y(r), 1) << "\" r=\"" << node_r
       << "\"><title>rank " << r << "</title></circle>";
    if (n <= 32) {
      os << "<text class=\"rank\" x=\"" << fixed(x(r), 1) << "\" y=\"" << fixed(y(r) + 4, 1) << "\">" << r << "</text>";
    }
  }
  os << "</svg>";
  return os.str();
}

TopologyDrawing draw_topology(const RunData& run) {
  TopologyDrawing d;
  if (run.config_toml.empty()) {
    d.note = "no config.toml in the run folder: the topology is unknown";
    return d;
  }
  config::Config cfg;
  try {
    cfg = config::parse_config(run.config_toml, run.dir + "/config.toml");
  } catch (const std::exception& e) {
    d.note = std::string("this gossamer cannot read the run's config.toml, so the topology is not drawn: ") + e.what();
    return d;
  }
  if (cfg.cluster.workers <= 1) {
    d.note = "one worker: nothing is communicated";
    return d;
  }
  try {
    if (!optim::algorithm_needs_topology(cfg.optimizer.algorithm)) {
      d.note = cfg.optimizer.algorithm + " does not gossip: each worker averages with all " +
               std::to_string(cfg.cluster.workers) + " (collectives), so cluster.topology = " + cfg.cluster.topology +
               " is not used";
      return d;
    }
    const topology::Topology t = train::build_topology(cfg);
    const auto deg = topology::union_degree_stats(t);
    std::ostringstream os;
    os << t.name();
    const std::string as = topology::degenerate_as(t);
    if (!as.empty()) os << " (here " << as << ")";
    os << ", " << t.size() << " workers, "
       << (t.is_static() ? std::string("static") : "period " + std::to_string(t.period()) + " steps (union drawn)")
       << ", degree " << (deg.min == deg.max ? std::to_string(deg.min) : std::to_string(deg.min) + "-" + std::to_string(deg.max));
    if (topology::stochasticity_violation(t, true, true).empty()) {
      os << ", spectral gap " << fixed(topology::spectral_gap(t), 4) << (t.is_static() ? "" : " per period");
    }
    os << ", " << cfg.cluster.weights << " weights";
    d.summary = os.str();
    d.svg = topology_svg(t);
  } catch (const std::exception& e) {
    d.note = std::string("the topology cannot be rebuilt from config.toml: ") + e.what();
  }
  return d;
}

}  // namespace gossamer::report
