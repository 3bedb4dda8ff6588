// Shared helpers for the kernel tests: deterministic random weights, masks and the error metric.
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdint>

namespace gossamer::kernels::testing {

// Every kernel against the dense LibTorch result: relative error at most 1e-5 (issue 6).
constexpr double kTol = 1e-5;

// max|a - b| / max(1, max|ref|), computed in float64.
inline double rel_err(const at::Tensor& got, const at::Tensor& ref) {
  at::Tensor a = got.to(at::kDouble), b = ref.to(at::kDouble);
  if (b.numel() == 0) return a.numel() == 0 ? 0.0 : 1e9;
  const double diff = (a - b).abs().max().item<double>();
  const double scale = std::max(1.0, b.abs().max().item<double>());
  return diff / scale;
}

inline at::Generator gen(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

inline at::Tensor uniform(at::IntArrayRef shape, uint64_t seed) {
  at::Tensor t = at::empty(shape, at::kFloat);
  t.uniform_(-1.0, 1.0, gen(seed));
  return t;
}

// Bool mask with about `sparsity` zeros (exactly all-false at 1, all-true at 0).
inline at::Tensor random_mask(int64_t out, int64_t in, double sparsity, uint64_t seed) {
  at::Tensor u = at::empty({out, in}, at::kFloat);
  u.uniform_(0.0, 1.0, gen(seed));
  return u.ge(sparsity);
}

// Bool N:M mask: in every group of m inputs (the last one may be shorter) keep n random entries,
// or all of a group shorter than n.
inline at::Tensor random_nm_mask(int64_t out, int64_t in, int64_t n, int64_t m, uint64_t seed) {
  const int64_t groups = (in + m - 1) / m;
  at::Tensor score = at::empty({out, groups * m}, at::kFloat);
  score.uniform_(0.0, 1.0, gen(seed));
  if (groups * m > in) score.narrow(1, in, groups * m - in).fill_(-1.0);  // never keep padding
  at::Tensor idx = std::get<1>(score.view({out, groups, m}).topk(n, 2));
  at::Tensor mask = at::zeros({out, groups, m}, at::kBool);
  mask.scatter_(2, idx, true);
  mask = mask.view({out, groups * m}).narrow(1, 0, in).contiguous();
  return mask;
}

}  // namespace gossamer::kernels::testing
