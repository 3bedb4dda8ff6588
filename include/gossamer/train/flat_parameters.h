// All of a model's parameters (and their gradients) as views into ONE contiguous buffer.
//
// Why: an optimizer step, a gradient allreduce or a gossip exchange then touches one tensor
// instead of one per layer (fewer ops, one message), and there is no per-step allocation.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace torch::nn {
class Module;
}

namespace gossamer::train {

class FlatParameters {
 public:
  // Moves every parameter of `module` (in named_parameters() order) into a flat float32 buffer and
  // points each parameter's .grad at the matching slice of a flat gradient buffer.
  explicit FlatParameters(torch::nn::Module& module);

  // [numel], shares storage with the parameters; free to modify in place (no autograd).
  at::Tensor& values() { return values_; }
  // The same storage as an autograd leaf whose .grad() is gradients(): what optimizers update.
  at::Tensor& optimizer_parameter() { return leaf_; }
  at::Tensor& gradients() { return gradients_; }    // [numel], shares storage with the .grad tensors
  int64_t numel() const { return values_.numel(); }
  // Zeroes the gradient buffer in place (backward accumulates into the existing .grad views).
  void zero_grad();

  struct Slice {
    std::string name;
    int64_t offset = 0, numel = 0;
    std::vector<int64_t> shape;
  };
  const std::vector<Slice>& slices() const { return slices_; }

 private:
  at::Tensor values_, leaf_, gradients_;
  std::vector<Slice> slices_;
};

}  // namespace gossamer::train
