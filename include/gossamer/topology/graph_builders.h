// Undirected graph families. Each returns a Graph; weights.h turns it into a MixingMatrix.
// All throw std::invalid_argument, naming the value and what is allowed, for sizes they cannot
// build. n = 1 always gives the single vertex with no edges.
#pragma once

#include <cstdint>
#include <utility>

#include "gossamer/topology/graph.h"

namespace gossamer::topology {

// i ~ i±1 mod n. n = 2 is a single edge (both neighbours coincide).
Graph ring_graph(int n);

// Rows x cols of a 2-D torus for n vertices. rows = cols = 0: the most square factorisation
// (rows <= cols, rows the largest divisor of n not above sqrt(n); a prime n gives 1 x n, a ring).
// One of them given: the other is n / it, which must divide. Both given: rows * cols must be n.
std::pair<int, int> torus_shape(int n, int rows = 0, int cols = 0);
// Vertex r * cols + c is joined to (r±1 mod rows, c) and (r, c±1 mod cols). A side of length 2
// gives one neighbour along it, not two; a side of length 1 gives none.
Graph torus_graph(int n, int rows = 0, int cols = 0);

// n = 2^d; i ~ i xor 2^b for b < d. Throws for n not a power of two.
Graph hypercube_graph(int n);

// Vertex 0 is the hub, joined to every other vertex.
Graph star_graph(int n);

// Every pair joined.
Graph complete_graph(int n);

// G(n, p): each pair joined independently with probability p in (0, 1], from `seed`. Disconnected
// samples are drawn again, up to `max_tries` in all, then std::invalid_argument names n, p, the
// seed and the connectivity threshold ln(n)/n to aim above.
Graph erdos_renyi_graph(int n, double p, uint64_t seed, int max_tries = 100);

}  // namespace gossamer::topology
