// Shared helpers for the topology tests.
#pragma once

#include <ATen/ATen.h>

#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace gossamer::topology::testing {

// Writes `text` to a fresh file under the test temp dir and returns its path.
inline std::string write_temp_file(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "gossamer_topology_" + name;
  std::ofstream f(path);
  f << text;
  return path;
}

// Sorted eigenvalues of a symmetric [n, n] float64 tensor.
inline at::Tensor sym_eigenvalues(const at::Tensor& w) { return std::get<0>(at::sort(at::linalg_eigvalsh(w))); }

}  // namespace gossamer::topology::testing
