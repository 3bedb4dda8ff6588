// SparseConv2d: a Conv2d layer (groups = 1, zero padding) with a dense weight and a mask that runs
// on the sparse kernels of conv.h when they are measured to be faster than LibTorch's dense
// at::conv2d for its input shape and batch. The counterpart of SparseLinear.
//
// Include this header only where the module is used: it pulls in <torch/nn/modules/conv.h>.
//
// The layer computes conv2d(x, weight ⊙ mask) + bias on either path, and the gradient of
// `weight` is dense [out, in, kh, kw] with zeros off the mask on either path, so optimizers and
// pruners written for dense layers work unchanged. The sparse form is rebuilt when the mask
// changes (set_mask, or an in-place change seen through its version counter) and its values are
// refreshed (O(nnz)) when the weight changes.
//
// Choice of path (mode kAuto): for each (batch, height, width, training, input needs a gradient)
// seen, the first forward times both paths (forward alone for inference; forward + backward for
// training, with the input gradient only if the input needs one; best of `timing_reps` after one
// warm-up, interleaved) and keeps the sparse path only if it was not slower than dense, so it is
// never chosen when it measured more than 5% slower. kDense / kSparse force a path.
#pragma once

#include <torch/expanding_array.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <ostream>
#include <tuple>
#include <utility>

#include "gossamer/kernels/conv.h"

namespace gossamer::kernels {

enum class SparseConv2dMode { kAuto, kDense, kSparse };

struct SparseConv2dOptions {
  SparseConv2dOptions(int64_t in_channels, int64_t out_channels, torch::ExpandingArray<2> kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}
  // Stride, padding and dilation as the kernels take them.
  ConvGeometry geometry() const;

  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, out_channels);
  TORCH_ARG(torch::ExpandingArray<2>, kernel_size);
  TORCH_ARG(torch::ExpandingArray<2>, stride) = 1;
  TORCH_ARG(torch::ExpandingArray<2>, padding) = 0;
  TORCH_ARG(torch::ExpandingArray<2>, dilation) = 1;
  TORCH_ARG(bool, bias) = true;
  TORCH_ARG(SparseConv2dMode, mode) = SparseConv2dMode::kAuto;
  // Timed repetitions per path when choosing (best of), after one warm-up run.
  TORCH_ARG(int, timing_reps) = 3;
};

class SparseConv2dImpl : public torch::nn::Cloneable<SparseConv2dImpl> {
 public:
  // Fresh layer, initialised like torch::nn::Conv2d, with an all-ones mask.
  explicit SparseConv2dImpl(const SparseConv2dOptions& options);
  // From a dense weight [out, in, kh, kw] (copied), a mask of its shape (bool or 0/1) and an
  // optional bias [out]; channels and kernel size come from the weight, the rest from `options`
  // (whose in/out/kernel fields are overwritten).
  SparseConv2dImpl(const at::Tensor& weight, const at::Tensor& mask, const at::Tensor& bias,
                   SparseConv2dOptions options);
  // From a torch::nn::Conv2d (weight, bias, stride, padding, dilation copied). Throws
  // std::invalid_argument for groups != 1, a padding mode other than zeros, or "same" padding.
  SparseConv2dImpl(const torch::nn::Conv2d& conv, const at::Tensor& mask,
                   SparseConv2dMode mode = SparseConv2dMode::kAuto);

  // x [n, in, h, w] float32 -> [n, out, oh, ow].
  at::Tensor forward(const at::Tensor& x);

  // Replaces the mask ([out, in, kh, kw], bool or 0/1); throws std::invalid_argument otherwise.
  void set_mask(const at::Tensor& mask);
  const at::Tensor& mask() const { return mask_; }
  void set_mode(SparseConv2dMode mode) { options_.mode(mode); }

  // Whether the last forward ran the sparse kernels.
  bool last_used_sparse() const { return last_sparse_; }
  // Measured seconds (dense, sparse) for an input shape and kind of call; {0, 0} if never measured.
  std::pair<double, double> measured(int64_t batch, int64_t h, int64_t w, bool training,
                                     bool input_grad) const;
  // The current sparse form (rebuilt / refreshed as needed).
  std::shared_ptr<const SparseConvWeight> sparse_weight();

  void reset() override;
  void pretty_print(std::ostream& stream) const override;

  SparseConv2dOptions options_;
  at::Tensor weight;  // [out, in, kh, kw]
  at::Tensor bias;    // [out] or undefined

 private:
  using Key = std::tuple<int64_t, int64_t, int64_t, bool, bool>;  // n, h, w, training, input grad
  at::Tensor dense_path(const at::Tensor& x);
  at::Tensor sparse_path(const at::Tensor& x);
  bool uses_sparse(const Key& key);
  void refresh();
  void measure(const Key& key);

  at::Tensor mask_;  // [out, in, kh, kw] bool, a registered buffer
  std::shared_ptr<SparseConvWeight> sparse_;
  int64_t mask_version_ = -1;
  const void* mask_data_ = nullptr;
  int64_t weight_version_ = -1;
  const void* weight_data_ = nullptr;
  struct Timing {
    double dense_s = 0, sparse_s = 0;
    bool sparse = false;
  };
  std::map<Key, Timing> timings_;
  bool last_sparse_ = false;
};

TORCH_MODULE(SparseConv2d);

}  // namespace gossamer::kernels
