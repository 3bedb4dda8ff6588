#include "gossamer/topology/exponential.h"

#include "check_size.h"

#include <stdexcept>
#include <string>
#include <vector>

namespace gossamer::topology {

using detail::check_size;

int exponential_degree(int n) {
  int tau = 0;
  for (int64_t hop = 1; hop < n; hop *= 2) ++tau;
  return tau;
}

Topology exponential_topology(int n) {
  check_size("exponential", n);
  const int tau = exponential_degree(n);
  const double w = 1.0 / (tau + 1);
  MixingMatrix m(n);
  for (int i = 0; i < n; ++i) {
    m.set(i, i, w);
    // Offsets 2^t < n are distinct and non-zero mod n, so no entry is written twice.
    for (int hop = 1; hop < n; hop *= 2) m.set((i + hop) % n, i, w);
  }
  return Topology("exponential", {m});
}

Topology one_peer_exponential_topology(int n) {
  check_size("one-peer-exponential", n);
  const int tau = exponential_degree(n);
  std::vector<MixingMatrix> period;
  if (tau == 0) {
    MixingMatrix id(n);
    id.set(0, 0, 1.0);
    period.push_back(id);
  }
  for (int t = 0; t < tau; ++t) {
    const int hop = 1 << t;
    MixingMatrix m(n);
    for (int i = 0; i < n; ++i) {
      m.add(i, i, 0.5);
      m.add((i + hop) % n, i, 0.5);
    }
    period.push_back(m);
  }
  return Topology("one-peer-exponential", std::move(period));
}

}  // namespace gossamer::topology
