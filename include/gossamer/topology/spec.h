// One entry point from a description (a config section, command-line flags) to a Topology.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gossamer/topology/topology.h"
#include "gossamer/topology/weights.h"

namespace gossamer::topology {

struct TopologySpec {
  std::string name = "ring";  // one of topology_names()
  int workers = 0;            // >= 1; for edge-list, 0 = largest rank in the file + 1
  // Scheme for undirected families (ring, torus, hypercube, star, complete, erdos-renyi, an
  // unweighted edge-list). The exponential, one-peer and gossip families are regular at every
  // step, where uniform and metropolis coincide, so only `lazy` changes them. Metropolis by
  // default because it is doubly stochastic on every undirected graph.
  Weights weights{};
  uint64_t seed = 0;                      // erdos-renyi, random-gossip
  double p = 0.0;                         // erdos-renyi only: edge probability in (0, 1]
  int rows = 0;                           // torus only; 0 = chosen (most square factorisation)
  int cols = 0;                           // torus only; 0 = chosen
  std::string edge_file;                  // edge-list only
  int period = 0;                         // random-gossip only: number of matchings; 0 = 64
  bool require_doubly_stochastic = true;  // false: only connectivity is checked (e.g. for analysis)
};

// The most workers a topology may have: its mixing matrices, and the analysis of `gossamer
// topology` (spectral gap of a dense n x n matrix, a BFS from every rank), grow as n² in memory and
// faster in time (a complete graph of 4096 takes about two minutes to analyse). gossamer train's
// cluster.workers has the same bound.
constexpr int kMaxWorkers = 4096;

// "ring", "torus", "hypercube", "exponential", "one-peer-exponential", "star", "complete",
// "erdos-renyi", "random-gossip", "edge-list".
std::vector<std::string> topology_names();

// Builds and validates. Throws std::invalid_argument naming the field, the value and what is
// allowed: an unknown name, a worker count the family cannot take, an option given to a family
// that does not use it (p, rows/cols, edge_file, period), a disconnected result, or (when
// require_doubly_stochastic) a W that is not doubly stochastic, e.g. uniform weights on a star.
Topology make_topology(const TopologySpec& spec);

}  // namespace gossamer::topology
