#include "gossamer/topology/spec.h"

#include <algorithm>
#include <sstream>
#include <stdexcept>

#include "gossamer/topology/analysis.h"
#include "gossamer/topology/edge_list.h"
#include "gossamer/topology/exponential.h"
#include "gossamer/topology/gossip.h"
#include "gossamer/topology/graph_builders.h"

namespace gossamer::topology {

std::vector<std::string> topology_names() {
  return {"ring", "torus",    "hypercube",   "exponential",   "one-peer-exponential",
          "star", "complete", "erdos-renyi", "random-gossip", "edge-list"};
}

namespace {

std::string joined(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

// Options that only one family reads fail loudly elsewhere instead of being silently ignored.
void check_unused_options(const TopologySpec& s) {
  auto reject = [&s](bool set, const std::string& field, const std::string& owner) {
    if (set) {
      throw std::invalid_argument("topology '" + s.name + "' does not use " + field + "; it applies to " + owner +
                                  " only, leave it unset");
    }
  };
  reject(s.p != 0.0 && s.name != "erdos-renyi", "p (edge probability)", "erdos-renyi");
  reject((s.rows != 0 || s.cols != 0) && s.name != "torus", "rows/cols", "torus");
  reject(!s.edge_file.empty() && s.name != "edge-list", "an edge file", "edge-list");
  reject(s.period != 0 && s.name != "random-gossip", "a period", "random-gossip");
}

Topology build(const TopologySpec& s) {
  const int n = s.workers;
  const WeightScheme scheme = s.weights.scheme;
  auto undirected = [&](const Graph& g) { return Topology(s.name, {mixing_matrix(g, scheme)}); };
  if (s.name == "ring") return undirected(ring_graph(n));
  if (s.name == "torus") return undirected(torus_graph(n, s.rows, s.cols));
  if (s.name == "hypercube") return undirected(hypercube_graph(n));
  if (s.name == "star") return undirected(star_graph(n));
  if (s.name == "complete") return undirected(complete_graph(n));
  if (s.name == "erdos-renyi") {
    if (s.p == 0.0) throw std::invalid_argument("erdos-renyi needs an edge probability p in (0, 1]; set p");
    return undirected(erdos_renyi_graph(n, s.p, s.seed));
  }
  if (s.name == "exponential") return exponential_topology(n);
  if (s.name == "one-peer-exponential") return one_peer_exponential_topology(n);
  if (s.name == "random-gossip") {
    if (s.period < 0) {
      throw std::invalid_argument("random-gossip needs a period >= 1 (0 = " + std::to_string(kDefaultGossipPeriod) +
                                  "), got " + std::to_string(s.period));
    }
    return random_gossip_topology(n, s.period == 0 ? kDefaultGossipPeriod : s.period, s.seed);
  }
  // edge-list: the only family that may take its size from its input.
  if (s.edge_file.empty()) throw std::invalid_argument("edge-list needs an edge file (lines 'i j' or 'i j w')");
  return edge_list_topology(read_edge_list(s.edge_file, n), scheme);
}

}  // namespace

Topology make_topology(const TopologySpec& spec) {
  const auto names = topology_names();
  if (std::find(names.begin(), names.end(), spec.name) == names.end()) {
    throw std::invalid_argument("unknown topology '" + spec.name + "'; use one of: " + joined(names));
  }
  if (spec.workers < 1 && !(spec.name == "edge-list" && spec.workers == 0)) {
    throw std::invalid_argument("topology '" + spec.name + "' needs at least 1 worker, got " +
                                std::to_string(spec.workers));
  }
  if (spec.workers > kMaxWorkers) {
    throw std::invalid_argument("topology '" + spec.name + "': " + std::to_string(spec.workers) +
                                " workers is more than the " + std::to_string(kMaxWorkers) +
                                " a topology may have (its mixing matrices grow as workers²); use at most " +
                                std::to_string(kMaxWorkers));
  }
  check_unused_options(spec);
  Topology t = build(spec);
  if (spec.weights.lazy) t = make_lazy(t);
  try {
    if (spec.require_doubly_stochastic) {
      validate(t, false);
    } else {
      validate_connected(t);
    }
  } catch (const std::invalid_argument& e) {
    std::string msg = e.what();
    if (spec.name == "edge-list") msg = "edge file '" + spec.edge_file + "': " + msg;
    if (spec.weights.scheme == WeightScheme::Uniform && !is_column_stochastic(t)) {
      msg += " (uniform weights are doubly stochastic only when every rank has the same degree)";
    }
    throw std::invalid_argument(msg);
  }
  return t;
}

}  // namespace gossamer::topology
