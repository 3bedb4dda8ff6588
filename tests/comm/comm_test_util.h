// Helpers shared by the comm tests: hand-built topologies (independent of the builders in
// src/topology), a backend switch, and the reference traffic formulas restated from docs/comm.md.
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "gossamer/comm/communicator.h"
#include "gossamer/comm/gloo_communicator.h"
#include "gossamer/comm/inprocess_communicator.h"
#include "gossamer/topology/topology.h"

namespace gossamer::comm::testing {

enum class Backend { InProcess, Gloo };

inline std::string backend_name(Backend b) { return b == Backend::InProcess ? "inprocess" : "gloo"; }

inline void run_backend(Backend b, int n, const std::function<void(Communicator&)>& fn,
                        std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  if (b == Backend::InProcess) {
    run_inprocess(n, fn, timeout);
  } else {
    run_gloo_threads(n, fn, timeout);
  }
}

// Ring with uniform weights over the closed neighbourhood (1/3 each; 1/2 for n = 2; 1 for n = 1).
inline topology::MixingMatrix ring_matrix(int n) {
  topology::MixingMatrix m(n);
  if (n == 1) {
    m.set(0, 0, 1.0);
    return m;
  }
  if (n == 2) {
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j) m.set(i, j, 0.5);
    return m;
  }
  for (int i = 0; i < n; ++i) {
    m.add(i, i, 1.0 / 3);
    m.add(i, (i + 1) % n, 1.0 / 3);
    m.add(i, (i + n - 1) % n, 1.0 / 3);
  }
  return m;
}

// A random doubly stochastic matrix: a convex combination of the identity and three random
// permutation matrices (Birkhoff), so rows and columns sum to 1 and the pattern is irregular
// (in- and out-neighbours differ).
inline topology::MixingMatrix random_doubly_stochastic(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0.1, 1.0);
  std::vector<double> a{u(rng), u(rng), u(rng), u(rng)};
  const double s = std::accumulate(a.begin(), a.end(), 0.0);
  topology::MixingMatrix m(n);
  for (int i = 0; i < n; ++i) m.add(i, i, a[0] / s);
  for (int k = 1; k < 4; ++k) {
    std::vector<int> p(static_cast<size_t>(n));
    std::iota(p.begin(), p.end(), 0);
    std::shuffle(p.begin(), p.end(), rng);
    for (int i = 0; i < n; ++i) m.add(i, p[static_cast<size_t>(i)], a[static_cast<size_t>(k)] / s);
  }
  return m;
}

// Period 2: a ring at even steps, a random doubly stochastic matrix at odd steps.
inline topology::Topology test_topology(int n) {
  return topology::Topology("test", {ring_matrix(n), random_doubly_stochastic(n, 1234u + static_cast<uint32_t>(n))});
}

// [n, numel] float32 inputs, row r for rank r; reproducible.
inline at::Tensor make_inputs(int n, int64_t numel, uint64_t seed, at::ScalarType dtype = at::kFloat) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randn({n, numel}, gen, at::TensorOptions().dtype(dtype));
}

// The reference traffic formulas, restated independently of src/comm/traffic.cpp.
inline int64_t chunk(int n, int64_t numel, int c) { return numel / n + (c % n < numel % n ? 1 : 0); }

inline uint64_t ring_sent(int n, int i, int64_t numel, size_t elem) {
  if (n == 1 || numel == 0) return 0;
  return elem * static_cast<uint64_t>(2 * numel - chunk(n, numel, (i + 1) % n) - chunk(n, numel, (i + 2) % n));
}
inline uint64_t ring_received(int n, int i, int64_t numel, size_t elem) {
  if (n == 1 || numel == 0) return 0;
  return elem * static_cast<uint64_t>(2 * numel - chunk(n, numel, i) - chunk(n, numel, (i + 1) % n));
}

}  // namespace gossamer::comm::testing
