#include "gossamer/topology/graph.h"

#include <algorithm>
#include <queue>
#include <stdexcept>
#include <string>

namespace gossamer::topology {

Graph::Graph(int n) {
  if (n < 1) throw std::invalid_argument("Graph: number of vertices must be >= 1, got " + std::to_string(n));
  adjacency_.resize(static_cast<size_t>(n));
}

void Graph::add_edge(int i, int j) {
  const int n = size();
  if (i < 0 || i >= n || j < 0 || j >= n) {
    throw std::out_of_range("Graph: edge {" + std::to_string(i) + ", " + std::to_string(j) +
                            "} outside vertices 0.." + std::to_string(n - 1));
  }
  if (i == j) {
    throw std::invalid_argument("Graph: self-loop at vertex " + std::to_string(i) +
                                "; self weights come from the weight scheme, not from edges");
  }
  auto insert_sorted = [](std::vector<int>& v, int x) {
    auto it = std::lower_bound(v.begin(), v.end(), x);
    if (it == v.end() || *it != x) v.insert(it, x);
  };
  insert_sorted(adjacency_[static_cast<size_t>(i)], j);
  insert_sorted(adjacency_[static_cast<size_t>(j)], i);
}

bool Graph::has_edge(int i, int j) const {
  const auto& v = neighbors(i);
  return std::binary_search(v.begin(), v.end(), j);
}

int Graph::num_edges() const {
  int twice = 0;
  for (const auto& v : adjacency_) twice += static_cast<int>(v.size());
  return twice / 2;
}

int Graph::min_degree() const {
  int d = degree(0);
  for (int i = 1; i < size(); ++i) d = std::min(d, degree(i));
  return d;
}

int Graph::max_degree() const {
  int d = degree(0);
  for (int i = 1; i < size(); ++i) d = std::max(d, degree(i));
  return d;
}

int first_unreachable(const Graph& g) {
  std::vector<char> seen(static_cast<size_t>(g.size()), 0);
  std::queue<int> frontier;
  frontier.push(0);
  seen[0] = 1;
  while (!frontier.empty()) {
    int u = frontier.front();
    frontier.pop();
    for (int v : g.neighbors(u)) {
      if (!seen[static_cast<size_t>(v)]) {
        seen[static_cast<size_t>(v)] = 1;
        frontier.push(v);
      }
    }
  }
  for (int i = 0; i < g.size(); ++i)
    if (!seen[static_cast<size_t>(i)]) return i;
  return -1;
}

bool is_connected(const Graph& g) { return first_unreachable(g) < 0; }

}  // namespace gossamer::topology
