// Mixing weights for undirected graphs, and the lazy transform (W + I) / 2.
//
// uniform:    w_ij = 1 / (d_i + 1) for j in the closed neighbourhood of i. Every row sums to 1, but
//             column j sums to sum_{i ~ j or i = j} 1/(d_i + 1), which is 1 for every j only when all
//             degrees are equal: uniform weights are doubly stochastic exactly on regular graphs
//             (ring, torus, hypercube, complete), not on a star or a typical Erdős–Rényi graph.
// metropolis: w_ij = 1 / (1 + max(d_i, d_j)) for each edge, w_ii = 1 - sum_{j != i} w_ij. Symmetric
//             and doubly stochastic on every undirected graph; equal to uniform on regular graphs.
// lazy:       (W + I) / 2 on top of either (or of any mixing matrix). It keeps W doubly stochastic,
//             moves every eigenvalue λ to (1 + λ) / 2 >= 0, and so removes the oscillation of
//             bipartite graphs (ring of even size, hypercube) at the price of a smaller gap.
#pragma once

#include <string>
#include <vector>

#include "gossamer/topology/graph.h"
#include "gossamer/topology/topology.h"

namespace gossamer::topology {

enum class WeightScheme { Uniform, Metropolis };

struct Weights {
  WeightScheme scheme = WeightScheme::Metropolis;
  bool lazy = false;
};

// "uniform", "metropolis", "lazy-uniform", "lazy-metropolis". Throws std::invalid_argument naming
// the value and the allowed names.
Weights parse_weights(const std::string& text);
// Inverse of parse_weights.
std::string weights_name(const Weights& w);
// The names parse_weights accepts, in a stable order.
std::vector<std::string> weights_names();

// W for graph g under `scheme` (not lazy).
MixingMatrix mixing_matrix(const Graph& g, WeightScheme scheme);
// (W + I) / 2.
MixingMatrix make_lazy(const MixingMatrix& w);
// (W(k) + I) / 2 for every matrix of the period; the name gets a "lazy-" prefix.
Topology make_lazy(const Topology& t);

}  // namespace gossamer::topology
