#include "gossamer/train/evaluate.h"

#include <torch/torch.h>

namespace gossamer::train {

EvalResult evaluate(models::Model& model, const data::Dataset& data, int64_t batch_size) {
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  EvalResult r;
  double loss_sum = 0;
  int64_t correct = 0;
  for (int64_t start = 0; start < data.size(); start += batch_size) {
    const int64_t len = std::min(batch_size, data.size() - start);
    at::Tensor x = data.inputs.narrow(0, start, len);
    at::Tensor y = data.targets.narrow(0, start, len);
    at::Tensor logits = model.forward(x);
    loss_sum += torch::nn::functional::cross_entropy(
                    logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                    .item<double>();
    correct += logits.argmax(1).eq(y).sum().item<int64_t>();
  }
  r.samples = data.size();
  if (r.samples > 0) {
    r.loss = loss_sum / static_cast<double>(r.samples);
    r.accuracy = static_cast<double>(correct) / static_cast<double>(r.samples);
  }
  model.train(was_training);
  return r;
}

}  // namespace gossamer::train
