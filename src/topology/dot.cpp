#include "gossamer/topology/dot.h"

#include <map>
#include <sstream>
#include <utility>
#include <vector>

#include "gossamer/topology/analysis.h"

namespace gossamer::topology {

std::string to_dot(const Topology& t) {
  const int n = t.size();
  std::ostringstream os;
  os.precision(4);
  const bool undirected = t.is_static() && is_symmetric(t);
  os << (undirected ? "graph" : "digraph") << " \"" << t.name() << "\" {\n";
  os << "  label=\"" << t.name() << ", " << n << " workers"
     << (t.is_static() ? std::string() : ", period " + std::to_string(t.period())) << "\";\n";
  os << "  node [shape=circle];\n";
  for (int i = 0; i < n; ++i) os << "  " << i << " [xlabel=\"" << t.self_weight(i, 0) << "\"];\n";
  if (undirected) {
    const auto& w = t.matrix(0);
    for (int i = 0; i < n; ++i)
      for (const auto& nb : w.row(i))
        if (nb.rank > i) os << "  " << i << " -- " << nb.rank << " [label=\"" << nb.weight << "\"];\n";
  } else {
    // (sender, receiver) -> steps of the period that use the edge.
    std::map<std::pair<int, int>, std::vector<int>> steps;
    for (int k = 0; k < t.period(); ++k)
      for (int i = 0; i < n; ++i)
        for (const auto& nb : t.matrix(k).row(i))
          if (nb.rank != i) steps[{nb.rank, i}].push_back(k);
    for (const auto& [edge, ks] : steps) {
      os << "  " << edge.first << " -> " << edge.second;
      if (t.is_static()) {
        os << " [label=\"" << t.matrix(0).get(edge.second, edge.first) << "\"]";
      } else {
        os << " [label=\"k=";
        // Long schedules (random gossip) would bury the picture in labels.
        for (size_t a = 0; a < ks.size() && a < 4; ++a) os << (a ? "," : "") << ks[a];
        if (ks.size() > 4) os << ",...";
        os << "\"]";
      }
      os << ";\n";
    }
  }
  os << "}\n";
  return os.str();
}

}  // namespace gossamer::topology
