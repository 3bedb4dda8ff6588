#include <torch/torch.h>

#include <numeric>
#include <stdexcept>

#include "gossamer/models/model.h"
#include "gossamer/models/zoo.h"

namespace gossamer::models {

std::vector<std::string> model_names() { return {"mlp", "lenet5", "resnet20", "vit", "ceit"}; }

std::shared_ptr<Model> make_model(const ModelSpec& spec) {
  if (spec.num_classes < 1) throw std::invalid_argument("model: num_classes must be >= 1");
  const auto& shape = spec.input_shape;
  if (spec.name == "mlp") {
    const int64_t in = std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<int64_t>());
    return std::make_shared<Mlp>(in, spec.hidden, spec.num_classes);
  }
  if (spec.name == "lenet5" || spec.name == "resnet20" || spec.name == "vit" || spec.name == "ceit") {
    if (shape.size() != 3 || shape[1] != shape[2]) {
      throw std::invalid_argument("model '" + spec.name + "' needs square images shaped [channels, h, w]");
    }
    if (spec.name == "lenet5") return std::make_shared<LeNet5>(shape[0], shape[1], spec.num_classes);
    if (spec.name == "vit") return std::make_shared<VisionTransformer>(shape[0], shape[1], spec.num_classes, spec.transformer);
    if (spec.name == "ceit") return std::make_shared<CeiT>(shape[0], shape[1], spec.num_classes, spec.transformer);
    return std::make_shared<ResNet20>(shape[0], spec.num_classes, spec.width, shape[1]);
  }
  std::string known;
  for (const auto& n : model_names()) known += (known.empty() ? "" : ", ") + n;
  throw std::invalid_argument("unknown model '" + spec.name + "': choose one of " + known);
}

int64_t count_parameters(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) n += p.numel();
  return n;
}

}  // namespace gossamer::models
