#include "gossamer/compress/low_rank.h"

#include <ATen/ATen.h>

#include <stdexcept>

namespace gossamer::compress {

bool low_rank_pays(const MatrixShape& m, int64_t rank) {
  if (rank < 1) throw std::invalid_argument("low_rank_pays: rank must be >= 1");
  if (m.cols <= 1 || m.rows <= 1) return false;
  return (m.rows + m.cols) * rank * 2 < m.rows * m.cols;
}

void orthogonalize_columns(at::Tensor& p, double eps) {
  if (p.dim() != 2 || p.scalar_type() != at::kFloat) {
    throw std::invalid_argument("orthogonalize_columns: expects a [rows, r] float32 matrix");
  }
  const int64_t r = p.size(1);
  for (int64_t i = 0; i < r; ++i) {
    at::Tensor col = p.select(1, i);
    for (int64_t j = 0; j < i; ++j) {
      const at::Tensor prev = p.select(1, j);
      col.sub_(prev * col.dot(prev));
    }
    col.div_(col.norm().item<double>() + eps);
  }
}

}  // namespace gossamer::compress
