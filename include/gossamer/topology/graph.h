// Graph: an undirected simple graph (no self-loops, no multi-edges) as sorted adjacency lists.
//
// Undirected families (ring, torus, hypercube, star, complete, Erdős–Rényi, user edge lists) are
// built as a Graph first and only then turned into a MixingMatrix by a weight scheme (weights.h),
// so that the family and the weights can be chosen independently.
#pragma once

#include <cstddef>
#include <vector>

namespace gossamer::topology {

class Graph {
 public:
  // n >= 1 vertices, numbered 0..n-1, no edges. Throws std::invalid_argument for n < 1.
  explicit Graph(int n);

  int size() const { return static_cast<int>(adjacency_.size()); }
  // Adds the undirected edge {i, j}. Adding an existing edge again is a no-op (so that wrap-around
  // families such as a ring of 2 or a 2-wide torus need no special cases). Throws
  // std::invalid_argument for i == j (self weights are not edges) and std::out_of_range for
  // indices outside [0, n).
  void add_edge(int i, int j);
  bool has_edge(int i, int j) const;
  // Neighbours of i, sorted, self excluded.
  const std::vector<int>& neighbors(int i) const { return adjacency_.at(static_cast<size_t>(i)); }
  int degree(int i) const { return static_cast<int>(neighbors(i).size()); }
  int num_edges() const;
  int min_degree() const;
  int max_degree() const;
  // Every vertex has the same degree; uniform weights are doubly stochastic exactly then.
  bool is_regular() const { return min_degree() == max_degree(); }

 private:
  std::vector<std::vector<int>> adjacency_;
};

// Breadth-first search from vertex 0; a graph of one vertex is connected.
bool is_connected(const Graph& g);
// The lowest-numbered vertex not reachable from vertex 0, or -1 when the graph is connected.
int first_unreachable(const Graph& g);

}  // namespace gossamer::topology
