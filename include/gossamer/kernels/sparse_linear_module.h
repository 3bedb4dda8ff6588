// SparseLinear: a Linear layer with a dense weight and a mask that runs on the sparse CSR kernels
// when they are measured to be faster than dense LibTorch for its shape and batch.
//
// Include this header only where the module is used: it pulls in <torch/nn/module.h>.
//
// The layer computes y = x (weight ⊙ mask)ᵀ + bias on either path, and the gradient of `weight`
// is dense [out, in] with zeros off the mask on either path, so optimizers and pruners written for
// dense layers work unchanged. The CSR form is rebuilt when the mask changes (new tensor or an
// in-place change, seen through its version counter) and its values are refreshed (O(nnz)) when
// the weight changes (e.g. after an optimizer step).
//
// Choice of path (mode kAuto): for each (batch size, training) pair seen, the first forward times
// both paths (forward alone for inference; forward + backward for training; best of `timing_reps`
// after one warm-up) and keeps the sparse path only if it is not slower than dense. The sparse
// path is therefore never chosen when it measured more than 5% slower (it must not be slower at
// all). Timings are redone after set_mask().
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <map>
#include <memory>
#include <utility>

#include "gossamer/kernels/csr.h"

namespace gossamer::kernels {

enum class SparseLinearMode { kAuto, kDense, kSparse };

struct SparseLinearOptions {
  SparseLinearOptions(int64_t in_features, int64_t out_features)
      : in_features_(in_features), out_features_(out_features) {}
  TORCH_ARG(int64_t, in_features);
  TORCH_ARG(int64_t, out_features);
  TORCH_ARG(bool, bias) = true;
  TORCH_ARG(SparseLinearMode, mode) = SparseLinearMode::kAuto;
  // Timed repetitions per path when choosing (best of), after one warm-up run.
  TORCH_ARG(int, timing_reps) = 3;
};

class SparseLinearImpl : public torch::nn::Cloneable<SparseLinearImpl> {
 public:
  explicit SparseLinearImpl(const SparseLinearOptions& options);
  SparseLinearImpl(int64_t in_features, int64_t out_features)
      : SparseLinearImpl(SparseLinearOptions(in_features, out_features)) {}

  // x [batch, in] float32 -> [batch, out].
  at::Tensor forward(const at::Tensor& x);

  // Replaces the mask ([out, in], bool or 0/1); throws std::invalid_argument on a shape mismatch.
  void set_mask(const at::Tensor& mask);
  const at::Tensor& mask() const { return mask_; }
  void set_mode(SparseLinearMode mode) { options_.mode(mode); }

  // The decision for a batch size (measures it now if kAuto and not measured yet).
  bool uses_sparse(int64_t batch, bool training);
  // Whether the last forward ran the sparse kernels.
  bool last_used_sparse() const { return last_sparse_; }
  // Measured seconds (dense, sparse) for a batch size; {0, 0} if never measured.
  std::pair<double, double> measured(int64_t batch, bool training) const;
  // The current sparse form (rebuilt / refreshed as needed).
  std::shared_ptr<const CsrWeight> csr();

  void reset() override;
  void pretty_print(std::ostream& stream) const override;

  SparseLinearOptions options_;
  at::Tensor weight;  // [out, in]
  at::Tensor bias;    // [out] or undefined

 private:
  at::Tensor dense_path(const at::Tensor& x);
  at::Tensor sparse_path(const at::Tensor& x);
  void refresh();
  void measure(int64_t batch, bool training);

  at::Tensor mask_;  // [out, in] bool, a registered buffer
  std::shared_ptr<CsrWeight> csr_;
  int64_t mask_version_ = -1;
  const void* mask_data_ = nullptr;
  int64_t weight_version_ = -1;
  const void* weight_data_ = nullptr;
  struct Timing {
    double dense_s = 0, sparse_s = 0;
    bool sparse = false;
  };
  std::map<std::pair<int64_t, bool>, Timing> timings_;
  bool last_sparse_ = false;
};

TORCH_MODULE(SparseLinear);

}  // namespace gossamer::kernels
