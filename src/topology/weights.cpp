#include "gossamer/topology/weights.h"

#include <algorithm>
#include <stdexcept>

namespace gossamer::topology {

std::vector<std::string> weights_names() {
  return {"uniform", "metropolis", "lazy-uniform", "lazy-metropolis"};
}

Weights parse_weights(const std::string& text) {
  Weights w;
  std::string base = text;
  const std::string prefix = "lazy-";
  if (base.compare(0, prefix.size(), prefix) == 0) {
    w.lazy = true;
    base = base.substr(prefix.size());
  }
  if (base == "uniform") {
    w.scheme = WeightScheme::Uniform;
  } else if (base == "metropolis") {
    w.scheme = WeightScheme::Metropolis;
  } else {
    std::string allowed;
    for (const auto& n : weights_names()) allowed += (allowed.empty() ? "" : ", ") + n;
    throw std::invalid_argument("unknown weight scheme '" + text + "'; use one of: " + allowed);
  }
  return w;
}

std::string weights_name(const Weights& w) {
  std::string base = w.scheme == WeightScheme::Uniform ? "uniform" : "metropolis";
  return w.lazy ? "lazy-" + base : base;
}

MixingMatrix mixing_matrix(const Graph& g, WeightScheme scheme) {
  const int n = g.size();
  MixingMatrix w(n);
  for (int i = 0; i < n; ++i) {
    if (scheme == WeightScheme::Uniform) {
      const double u = 1.0 / (g.degree(i) + 1);
      w.set(i, i, u);
      for (int j : g.neighbors(i)) w.set(i, j, u);
    } else {
      // Self weight as 1 - sum so that the row sums to 1 up to one rounding.
      double off = 0.0;
      for (int j : g.neighbors(i)) {
        const double wij = 1.0 / (1 + std::max(g.degree(i), g.degree(j)));
        w.set(i, j, wij);
        off += wij;
      }
      w.set(i, i, 1.0 - off);
    }
  }
  return w;
}

MixingMatrix make_lazy(const MixingMatrix& w) {
  MixingMatrix out(w.size());
  for (int i = 0; i < w.size(); ++i) {
    for (const auto& nb : w.row(i)) out.set(i, nb.rank, 0.5 * nb.weight);
    out.add(i, i, 0.5);
  }
  return out;
}

Topology make_lazy(const Topology& t) {
  std::vector<MixingMatrix> period;
  period.reserve(static_cast<size_t>(t.period()));
  for (int k = 0; k < t.period(); ++k) period.push_back(make_lazy(t.matrix(k)));
  return Topology("lazy-" + t.name(), std::move(period));
}

}  // namespace gossamer::topology
