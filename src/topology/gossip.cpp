#include "gossamer/topology/gossip.h"

#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "gossamer/topology/graph.h"
#include "rng.h"

namespace gossamer::topology {

Topology random_gossip_topology(int n, int period, uint64_t seed, int max_tries) {
  if (n < 1) throw std::invalid_argument("random-gossip needs at least 1 worker, got " + std::to_string(n));
  if (period < 1) {
    throw std::invalid_argument("random-gossip needs a period of at least 1 step, got " + std::to_string(period));
  }
  if (max_tries < 1) {
    throw std::invalid_argument("random-gossip: max_tries must be >= 1, got " + std::to_string(max_tries));
  }
  detail::Rng rng(seed);
  std::vector<int> order(static_cast<size_t>(n));
  for (int attempt = 0; attempt < max_tries; ++attempt) {
    std::vector<MixingMatrix> steps;
    steps.reserve(static_cast<size_t>(period));
    Graph union_graph(n);
    for (int k = 0; k < period; ++k) {
      std::iota(order.begin(), order.end(), 0);
      rng.shuffle(order);
      MixingMatrix m(n);
      // Consecutive entries of the shuffled order are paired; with odd n the last one is idle.
      for (int a = 0; a + 1 < n; a += 2) {
        const int i = order[static_cast<size_t>(a)], j = order[static_cast<size_t>(a + 1)];
        m.set(i, i, 0.5);
        m.set(j, j, 0.5);
        m.set(i, j, 0.5);
        m.set(j, i, 0.5);
        union_graph.add_edge(i, j);
      }
      if (n % 2 == 1) m.set(order.back(), order.back(), 1.0);
      steps.push_back(std::move(m));
    }
    if (is_connected(union_graph)) return Topology("random-gossip", std::move(steps));
  }
  throw std::invalid_argument("random-gossip: " + std::to_string(max_tries) + " schedules of " +
                              std::to_string(period) + " matchings from seed " + std::to_string(seed) +
                              " all left some of the " + std::to_string(n) +
                              " workers unreachable; use a longer period (at least log2(n) steps, default " +
                              std::to_string(kDefaultGossipPeriod) + ")");
}

}  // namespace gossamer::topology
