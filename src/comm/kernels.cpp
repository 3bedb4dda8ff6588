#include "gossamer/comm/kernels.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

namespace gossamer::comm {
namespace {

// 2048 elements (8-16 KiB) per block: the destination block stays in L1 while every source is
// added to it, so each source is streamed from memory exactly once.
constexpr int64_t kBlock = 2048;

template <typename T>
void sum_impl(const std::vector<void*>& dsts, const std::vector<const void*>& srcs, int64_t numel, bool mean) {
  const T divisor = static_cast<T>(srcs.size());
  T buf[kBlock];
  for (int64_t b = 0; b < numel; b += kBlock) {
    const int64_t len = std::min(numel - b, kBlock);
    const T* s0 = static_cast<const T*>(srcs[0]) + b;
    for (int64_t k = 0; k < len; ++k) buf[k] = s0[k];
    for (size_t j = 1; j < srcs.size(); ++j) {
      const T* s = static_cast<const T*>(srcs[j]) + b;
      for (int64_t k = 0; k < len; ++k) buf[k] += s[k];
    }
    if (mean) {
      for (int64_t k = 0; k < len; ++k) buf[k] /= divisor;
    }
    for (void* d : dsts) std::memcpy(static_cast<T*>(d) + b, buf, static_cast<size_t>(len) * sizeof(T));
  }
}

template <typename T>
void mix_impl(T* dst, const std::vector<const void*>& srcs, const std::vector<double>& weights, int64_t numel) {
  for (int64_t b = 0; b < numel; b += kBlock) {
    const int64_t e = std::min(numel, b + kBlock);
    const T w0 = static_cast<T>(weights[0]);
    const T* s0 = static_cast<const T*>(srcs[0]);
    for (int64_t k = b; k < e; ++k) dst[k] = w0 * s0[k];
    for (size_t j = 1; j < srcs.size(); ++j) {
      const T w = static_cast<T>(weights[j]);
      const T* s = static_cast<const T*>(srcs[j]);
      for (int64_t k = b; k < e; ++k) dst[k] += w * s[k];
    }
  }
}

template <typename T>
void mix_all_impl(const std::vector<void*>& dsts, const std::vector<const void*>& srcs,
                  const std::vector<std::vector<MixTerm>>& rows, int64_t numel) {
  const size_t n = dsts.size();
  // One block per output, reused across calls. A block is no longer than the chunk being mixed:
  // with n in-process workers every one of them mixes numel / n elements of all n tensors, and a
  // buffer of n full blocks per thread made n² x 8 KB in all (8.6 GB at 1024 workers, 137 GB at
  // 4096, whatever the model's size).
  const int64_t block = std::min(numel, kBlock);
  thread_local std::vector<T> buf;
  thread_local std::vector<const void*> block_srcs;
  thread_local std::vector<double> weights;
  buf.resize(n * static_cast<size_t>(block));
  for (int64_t b = 0; b < numel; b += block) {
    const int64_t len = std::min(numel - b, block);
    for (size_t i = 0; i < n; ++i) {
      T* out = buf.data() + i * static_cast<size_t>(block);
      if (rows[i].empty()) {
        std::fill(out, out + len, T(0));
        continue;
      }
      block_srcs.clear();
      weights.clear();
      for (const MixTerm& term : rows[i]) {
        block_srcs.push_back(static_cast<const T*>(srcs[static_cast<size_t>(term.src)]) + b);
        weights.push_back(term.weight);
      }
      mix_impl(out, block_srcs, weights, len);
    }
    for (size_t i = 0; i < n; ++i) {
      std::memcpy(static_cast<T*>(dsts[i]) + b, buf.data() + i * static_cast<size_t>(block),
                  static_cast<size_t>(len) * sizeof(T));
    }
  }
}

[[noreturn]] void unsupported(c10::ScalarType dtype, const char* what) {
  throw std::invalid_argument(std::string(what) + ": dtype " + c10::toString(dtype) +
                              " is not supported; use float32 or float64");
}

}  // namespace

void sum_in_order(const std::vector<void*>& dsts, const std::vector<const void*>& srcs, int64_t numel,
                  c10::ScalarType dtype, bool mean) {
  if (srcs.empty() || numel <= 0) return;
  switch (dtype) {
    case c10::ScalarType::Float: return sum_impl<float>(dsts, srcs, numel, mean);
    case c10::ScalarType::Double: return sum_impl<double>(dsts, srcs, numel, mean);
    default: unsupported(dtype, "sum_in_order");
  }
}

void mix_in_order(void* dst, const std::vector<const void*>& srcs, const std::vector<double>& weights,
                  int64_t numel, c10::ScalarType dtype) {
  if (numel <= 0) return;
  if (srcs.empty()) throw std::invalid_argument("mix_in_order: no sources (a mixing row is empty)");
  switch (dtype) {
    case c10::ScalarType::Float: return mix_impl(static_cast<float*>(dst), srcs, weights, numel);
    case c10::ScalarType::Double: return mix_impl(static_cast<double*>(dst), srcs, weights, numel);
    default: unsupported(dtype, "mix_in_order");
  }
}

void mix_in_order(const std::vector<void*>& dsts, const std::vector<const void*>& srcs,
                  const std::vector<std::vector<MixTerm>>& rows, int64_t numel, c10::ScalarType dtype) {
  if (numel <= 0 || dsts.empty()) return;
  if (rows.size() != dsts.size()) throw std::invalid_argument("mix_in_order: one row per destination needed");
  switch (dtype) {
    case c10::ScalarType::Float: return mix_all_impl<float>(dsts, srcs, rows, numel);
    case c10::ScalarType::Double: return mix_all_impl<double>(dsts, srcs, rows, numel);
    default: unsupported(dtype, "mix_in_order");
  }
}

void mix_row(void* dst, const std::vector<topology::Neighbor>& row, int rank, const void* self,
             const std::vector<topology::Neighbor>& ins, const std::vector<const void*>& received, int64_t numel,
             c10::ScalarType dtype) {
  if (numel <= 0) return;
  if (row.empty()) {
    std::memset(dst, 0, static_cast<size_t>(numel) * c10::elementSize(dtype));
    return;
  }
  std::vector<const void*> srcs;
  std::vector<double> weights;
  for (const auto& nb : row) {
    if (nb.rank == rank) {
      srcs.push_back(self);
    } else {
      const auto it = std::find_if(ins.begin(), ins.end(), [&](const topology::Neighbor& x) { return x.rank == nb.rank; });
      if (it == ins.end()) throw std::logic_error("mix_row: rank " + std::to_string(nb.rank) + " is not an in-neighbour");
      srcs.push_back(received.at(static_cast<size_t>(it - ins.begin())));
    }
    weights.push_back(nb.weight);
  }
  mix_in_order(dst, srcs, weights, numel, dtype);
}

}  // namespace gossamer::comm
