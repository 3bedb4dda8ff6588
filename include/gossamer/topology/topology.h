// Topology: who talks to whom at step k, and with which mixing weights.
//
// A topology is a periodic sequence of mixing matrices W(0), W(1), ..., W(period-1); step k uses
// W(k mod period). Static graphs have period 1. Row i of W holds the weights rank i applies to the
// values it receives: x_i <- sum_j w_ij x_j (self included). Nothing here knows about tensors of
// model parameters; dense() exists for analysis and tests only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace at {
class Tensor;
}

namespace gossamer::topology {

struct Neighbor {
  int rank = 0;
  double weight = 0.0;
};

// One mixing matrix W, n x n, stored as sparse rows sorted by column (self included).
class MixingMatrix {
 public:
  explicit MixingMatrix(int n);

  int size() const { return static_cast<int>(rows_.size()); }
  // Adds w to entry (i, j); entries that end at exactly 0 are kept out of the rows.
  void add(int i, int j, double w);
  void set(int i, int j, double w);
  double get(int i, int j) const;
  // Row i: (j, w_ij) for every j with w_ij != 0, sorted by j, self included.
  const std::vector<Neighbor>& row(int i) const { return rows_.at(static_cast<size_t>(i)); }
  // Column j: (i, w_ij) for every i with w_ij != 0, sorted by i, self included.
  std::vector<Neighbor> column(int j) const;
  // [n, n] float64 tensor.
  at::Tensor dense() const;

 private:
  std::vector<std::vector<Neighbor>> rows_;
};

class Topology {
 public:
  // Throws std::invalid_argument if the sequence is empty or the sizes differ.
  Topology(std::string name, std::vector<MixingMatrix> period);

  const std::string& name() const { return name_; }
  int size() const { return size_; }
  int period() const { return static_cast<int>(period_.size()); }
  bool is_static() const { return period_.size() == 1; }

  const MixingMatrix& matrix(int64_t step) const;
  // Ranks whose values `rank` receives at `step`, with w_{rank,j}; self excluded.
  std::vector<Neighbor> in_neighbors(int rank, int64_t step) const;
  // Ranks that receive `rank`'s value at `step`, with w_{j,rank}; self excluded.
  std::vector<Neighbor> out_neighbors(int rank, int64_t step) const;
  double self_weight(int rank, int64_t step) const;
  // W(step) as a [n, n] float64 tensor.
  at::Tensor dense(int64_t step) const;

 private:
  std::string name_;
  int size_ = 0;
  std::vector<MixingMatrix> period_;
};

}  // namespace gossamer::topology
