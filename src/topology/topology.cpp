#include "gossamer/topology/topology.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <stdexcept>

namespace gossamer::topology {

MixingMatrix::MixingMatrix(int n) {
  if (n < 1) throw std::invalid_argument("MixingMatrix: size must be >= 1, got " + std::to_string(n));
  rows_.resize(static_cast<size_t>(n));
}

namespace {
void check_index(int n, int i, int j) {
  if (i < 0 || i >= n || j < 0 || j >= n) {
    throw std::out_of_range("MixingMatrix: entry (" + std::to_string(i) + ", " + std::to_string(j) +
                            ") outside a " + std::to_string(n) + "x" + std::to_string(n) + " matrix");
  }
}
}  // namespace

void MixingMatrix::set(int i, int j, double w) {
  check_index(size(), i, j);
  auto& r = rows_[static_cast<size_t>(i)];
  auto it = std::lower_bound(r.begin(), r.end(), j, [](const Neighbor& a, int c) { return a.rank < c; });
  if (it != r.end() && it->rank == j) {
    if (w == 0.0) r.erase(it);
    else it->weight = w;
  } else if (w != 0.0) {
    r.insert(it, Neighbor{j, w});
  }
}

void MixingMatrix::add(int i, int j, double w) { set(i, j, get(i, j) + w); }

double MixingMatrix::get(int i, int j) const {
  check_index(size(), i, j);
  const auto& r = rows_[static_cast<size_t>(i)];
  auto it = std::lower_bound(r.begin(), r.end(), j, [](const Neighbor& a, int c) { return a.rank < c; });
  return (it != r.end() && it->rank == j) ? it->weight : 0.0;
}

std::vector<Neighbor> MixingMatrix::column(int j) const {
  check_index(size(), 0, j);
  std::vector<Neighbor> out;
  for (int i = 0; i < size(); ++i) {
    double w = get(i, j);
    if (w != 0.0) out.push_back(Neighbor{i, w});
  }
  return out;
}

at::Tensor MixingMatrix::dense() const {
  at::Tensor d = at::zeros({size(), size()}, at::kDouble);
  auto a = d.accessor<double, 2>();
  for (int i = 0; i < size(); ++i)
    for (const auto& nb : row(i)) a[i][nb.rank] = nb.weight;
  return d;
}

Topology::Topology(std::string name, std::vector<MixingMatrix> period)
    : name_(std::move(name)), period_(std::move(period)) {
  if (period_.empty()) throw std::invalid_argument("Topology '" + name_ + "': needs at least one mixing matrix");
  size_ = period_.front().size();
  for (const auto& m : period_) {
    if (m.size() != size_) {
      throw std::invalid_argument("Topology '" + name_ + "': mixing matrices of different sizes (" +
                                  std::to_string(size_) + " and " + std::to_string(m.size()) + ")");
    }
  }
}

const MixingMatrix& Topology::matrix(int64_t step) const {
  if (step < 0) throw std::out_of_range("Topology: negative step " + std::to_string(step));
  return period_[static_cast<size_t>(step % static_cast<int64_t>(period_.size()))];
}

std::vector<Neighbor> Topology::in_neighbors(int rank, int64_t step) const {
  std::vector<Neighbor> out;
  for (const auto& nb : matrix(step).row(rank))
    if (nb.rank != rank) out.push_back(nb);
  return out;
}

std::vector<Neighbor> Topology::out_neighbors(int rank, int64_t step) const {
  std::vector<Neighbor> out;
  for (const auto& nb : matrix(step).column(rank))
    if (nb.rank != rank) out.push_back(nb);
  return out;
}

double Topology::self_weight(int rank, int64_t step) const { return matrix(step).get(rank, rank); }

at::Tensor Topology::dense(int64_t step) const { return matrix(step).dense(); }

}  // namespace gossamer::topology
