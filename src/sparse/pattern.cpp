#include "gossamer/sparse/pattern.h"

#include <ATen/ATen.h>

#include <stdexcept>

namespace gossamer::sparse {

void Pattern::validate() const {
  if (kind == PatternKind::NM && (n < 1 || m < 2 || n >= m)) {
    throw std::invalid_argument("pattern n:m needs 1 <= n < m, got " + std::to_string(n) + ":" + std::to_string(m));
  }
  if (kind == PatternKind::Block && (block_rows < 1 || block_cols < 1)) {
    throw std::invalid_argument("pattern block needs block_rows and block_cols >= 1");
  }
}

std::string Pattern::describe() const {
  switch (kind) {
    case PatternKind::NM: return std::to_string(n) + ":" + std::to_string(m);
    case PatternKind::Block: return "block " + std::to_string(block_rows) + "x" + std::to_string(block_cols);
    default: return "unstructured";
  }
}

at::Tensor topk_mask(const at::Tensor& scores, int64_t keep) {
  const int64_t numel = scores.numel();
  if (keep < 0 || keep > numel) {
    throw std::invalid_argument("topk_mask: keep = " + std::to_string(keep) + " outside [0, " + std::to_string(numel) + "]");
  }
  at::Tensor flat = scores.reshape({-1}).to(at::kFloat);
  at::Tensor mask = at::zeros({numel}, at::kFloat);
  if (keep == numel) return mask.fill_(1.0).view(scores.sizes());
  if (keep == 0) return mask.view(scores.sizes());
  // A stable descending sort keeps equal scores in index order: the lower index wins a tie.
  at::Tensor order = std::get<1>(at::sort(flat, /*stable=*/true, /*dim=*/0, /*descending=*/true));
  mask.index_fill_(0, order.narrow(0, 0, keep), 1.0);
  return mask.view(scores.sizes());
}

at::Tensor nm_mask(const at::Tensor& scores, int64_t n, int64_t m) {
  if (scores.dim() < 2) throw std::invalid_argument("nm_mask: need a weight with at least 2 dimensions");
  if (n < 1 || m < 2 || n >= m) throw std::invalid_argument("nm_mask: need 1 <= n < m");
  const int64_t in = scores.size(1);
  // [out, in, *k] -> [out, *k, in] -> rows of `in` consecutive input weights.
  std::vector<int64_t> perm{0};
  for (int64_t d = 2; d < scores.dim(); ++d) perm.push_back(d);
  perm.push_back(1);
  at::Tensor rows = scores.to(at::kFloat).permute(perm).reshape({-1, in});
  const int64_t groups = (in + m - 1) / m;
  const int64_t padded = groups * m;
  // Padding scores of -inf lose to every real weight; in a partial group of r < n weights the
  // padding that gets "kept" is cut off again by the narrow() below, leaving min(n, r).
  at::Tensor work = at::full({rows.size(0), padded}, -std::numeric_limits<float>::infinity(), at::kFloat);
  work.narrow(1, 0, in).copy_(rows);
  work = work.view({rows.size(0), groups, m});
  // Stable sort within each group: ties go to the lower index.
  at::Tensor order = std::get<1>(at::sort(work, /*stable=*/true, /*dim=*/2, /*descending=*/true));
  at::Tensor keep = at::zeros_like(work);
  keep.scatter_(2, order.narrow(2, 0, n), 1.0);
  at::Tensor mask_rows = keep.view({rows.size(0), padded}).narrow(1, 0, in);
  // Back to [out, in, *k].
  std::vector<int64_t> permuted_shape{scores.size(0)};
  for (int64_t d = 2; d < scores.dim(); ++d) permuted_shape.push_back(scores.size(d));
  permuted_shape.push_back(in);
  std::vector<int64_t> inverse(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inverse[perm[i]] = static_cast<int64_t>(i);
  return mask_rows.reshape(permuted_shape).permute(inverse).contiguous();
}

at::Tensor block_mask(const at::Tensor& scores, int64_t rows, int64_t cols, int64_t keep) {
  if (scores.dim() < 2) throw std::invalid_argument("block_mask: need a weight with at least 2 dimensions");
  const int64_t numel = scores.numel();
  if (keep < 0 || keep > numel) throw std::invalid_argument("block_mask: keep outside [0, numel]");
  const int64_t r = scores.size(0), c = numel / r;
  const int64_t br = (r + rows - 1) / rows, bc = (c + cols - 1) / cols;
  at::Tensor padded = at::zeros({br * rows, bc * cols}, at::kFloat);
  at::Tensor count = at::zeros({br * rows, bc * cols}, at::kFloat);
  padded.narrow(0, 0, r).narrow(1, 0, c).copy_(scores.reshape({r, c}));
  count.narrow(0, 0, r).narrow(1, 0, c).fill_(1.0);
  auto tiles = [&](const at::Tensor& t) { return t.view({br, rows, bc, cols}).sum({1, 3}); };  // [br, bc]
  at::Tensor sizes = tiles(count);
  at::Tensor tile_scores = tiles(padded) / sizes;
  at::Tensor order = std::get<1>(at::sort(tile_scores.reshape({-1}), /*stable=*/true, 0, /*descending=*/true));
  // Smallest prefix of tiles (best first) holding at least `keep` weights.
  at::Tensor cumulative = sizes.reshape({-1}).index_select(0, order).cumsum(0);
  const int64_t tiles_kept =
      keep == 0 ? 0 : at::searchsorted(cumulative, at::scalar_tensor(static_cast<double>(keep), at::kFloat)).item<int64_t>() + 1;
  at::Tensor tile_mask = at::zeros({br * bc}, at::kFloat);
  tile_mask.index_fill_(0, order.narrow(0, 0, std::min(tiles_kept, br * bc)), 1.0);
  at::Tensor full = tile_mask.view({br, 1, bc, 1}).expand({br, rows, bc, cols}).reshape({br * rows, bc * cols});
  return full.narrow(0, 0, r).narrow(1, 0, c).contiguous().view(scores.sizes());
}

at::Tensor select_mask(const at::Tensor& scores, int64_t keep, const Pattern& p) {
  switch (p.kind) {
    case PatternKind::NM: return nm_mask(scores, p.n, p.m);
    case PatternKind::Block: return block_mask(scores, p.block_rows, p.block_cols, keep);
    default: return topk_mask(scores, keep);
  }
}

double forced_density(const Pattern& p) {
  return p.kind == PatternKind::NM ? static_cast<double>(p.n) / static_cast<double>(p.m) : -1.0;
}

}  // namespace gossamer::sparse
