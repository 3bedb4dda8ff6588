#include "gossamer/topology/graph_builders.h"

#include <cmath>
#include <sstream>
#include "check_size.h"

#include <stdexcept>
#include <string>

#include "rng.h"

namespace gossamer::topology {

using detail::check_size;

Graph ring_graph(int n) {
  check_size("ring", n);
  Graph g(n);
  for (int i = 0; i < n && n > 1; ++i) g.add_edge(i, (i + 1) % n);
  return g;
}

std::pair<int, int> torus_shape(int n, int rows, int cols) {
  check_size("torus", n);
  const std::string fix = "; pick rows and cols whose product is " + std::to_string(n) +
                          ", or leave both unset for the most square factorisation";
  if (rows < 0 || cols < 0) {
    throw std::invalid_argument("torus: rows and cols must be >= 1 (0 = choose), got rows " + std::to_string(rows) +
                                ", cols " + std::to_string(cols));
  }
  if (rows == 0 && cols == 0) {
    int r = static_cast<int>(std::sqrt(static_cast<double>(n)));
    while (r > 1 && n % r != 0) --r;
    return {r, n / r};
  }
  if (rows == 0 || cols == 0) {
    const int given = rows == 0 ? cols : rows;
    const char* what = rows == 0 ? "cols" : "rows";
    if (n % given != 0) {
      throw std::invalid_argument("torus: " + std::to_string(n) + " workers cannot be split into " + what + " of " +
                                  std::to_string(given) + " (" + std::to_string(n) + " is not a multiple of " +
                                  std::to_string(given) + ")" + fix);
    }
    return rows == 0 ? std::pair<int, int>{n / cols, cols} : std::pair<int, int>{rows, n / rows};
  }
  if (static_cast<int64_t>(rows) * cols != n) {
    throw std::invalid_argument("torus: rows x cols = " + std::to_string(rows) + " x " + std::to_string(cols) + " = " +
                                std::to_string(static_cast<int64_t>(rows) * cols) + " does not match " +
                                std::to_string(n) + " workers" + fix);
  }
  return {rows, cols};
}

Graph torus_graph(int n, int rows, int cols) {
  const auto [r_count, c_count] = torus_shape(n, rows, cols);
  Graph g(n);
  for (int r = 0; r < r_count; ++r) {
    for (int c = 0; c < c_count; ++c) {
      const int i = r * c_count + c;
      // Only the "next" neighbour along each axis; the "previous" one is someone else's next.
      if (r_count > 1) g.add_edge(i, ((r + 1) % r_count) * c_count + c);
      if (c_count > 1) g.add_edge(i, r * c_count + (c + 1) % c_count);
    }
  }
  return g;
}

Graph hypercube_graph(int n) {
  check_size("hypercube", n);
  if ((n & (n - 1)) != 0) {
    int below = 1;
    while (below * 2 < n) below *= 2;
    throw std::invalid_argument("hypercube needs a power-of-two number of workers, got " + std::to_string(n) +
                                "; use " + std::to_string(below) + " or " + std::to_string(below * 2) +
                                ", or the exponential graph, which takes any n");
  }
  Graph g(n);
  for (int i = 0; i < n; ++i)
    for (int bit = 1; bit < n; bit <<= 1) g.add_edge(i, i ^ bit);
  return g;
}

Graph star_graph(int n) {
  check_size("star", n);
  Graph g(n);
  for (int i = 1; i < n; ++i) g.add_edge(0, i);
  return g;
}

Graph complete_graph(int n) {
  check_size("complete", n);
  Graph g(n);
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j) g.add_edge(i, j);
  return g;
}

Graph erdos_renyi_graph(int n, double p, uint64_t seed, int max_tries) {
  check_size("erdos-renyi", n);
  if (!(p > 0.0 && p <= 1.0)) {
    std::ostringstream os;
    os << "erdos-renyi needs an edge probability p in (0, 1], got " << p;
    throw std::invalid_argument(os.str());
  }
  if (max_tries < 1) throw std::invalid_argument("erdos-renyi: max_tries must be >= 1, got " + std::to_string(max_tries));
  detail::Rng rng(seed);
  for (int attempt = 0; attempt < max_tries; ++attempt) {
    Graph g(n);
    for (int i = 0; i < n; ++i)
      for (int j = i + 1; j < n; ++j)
        if (rng.uniform() < p) g.add_edge(i, j);
    if (is_connected(g)) return g;
  }
  std::ostringstream os;
  os << "erdos-renyi G(" << n << ", " << p << ") was disconnected in all " << max_tries
     << " samples from seed " << seed << "; raise p well above ln(n)/n = " << std::log(static_cast<double>(n)) / n
     << " or try another seed";
  throw std::invalid_argument(os.str());
}

}  // namespace gossamer::topology
