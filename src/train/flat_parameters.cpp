#include "gossamer/train/flat_parameters.h"

#include <torch/torch.h>

namespace gossamer::train {

FlatParameters::FlatParameters(torch::nn::Module& module) {
  auto params = module.named_parameters(/*recurse=*/true);
  int64_t total = 0;
  for (const auto& item : params) {
    if (item.value().scalar_type() != at::kFloat) {
      throw std::invalid_argument("FlatParameters: parameter '" + item.key() + "' is not float32");
    }
    slices_.push_back(Slice{item.key(), total, item.value().numel(), item.value().sizes().vec()});
    total += item.value().numel();
  }
  values_ = at::empty({total}, at::kFloat);
  gradients_ = at::zeros({total}, at::kFloat);
  torch::NoGradGuard no_grad;
  size_t i = 0;
  for (auto& item : params) {
    const Slice& s = slices_[i++];
    at::Tensor view = values_.narrow(0, s.offset, s.numel).view(s.shape);
    view.copy_(item.value());
    // set_data keeps the parameter the same autograd leaf while its storage becomes the flat buffer.
    item.value().set_data(view);
    item.value().mutable_grad() = gradients_.narrow(0, s.offset, s.numel).view(s.shape);
  }
  // The flat tensor is what optimizers update: a leaf whose .grad is the flat gradient buffer.
  leaf_ = values_.detach();
  leaf_.set_requires_grad(true);
  leaf_.mutable_grad() = gradients_;
}

void FlatParameters::zero_grad() { gradients_.zero_(); }

}  // namespace gossamer::train
