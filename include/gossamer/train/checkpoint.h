// Checkpoints: model parameters and buffers, optimizer state, extra named tensors (algorithm
// state such as gossip trackers) and a JSON string of metadata, written atomically.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>

namespace torch::nn {
class Module;
}
namespace torch::optim {
class Optimizer;
}

namespace gossamer::train {

struct CheckpointExtras {
  std::string meta_json = "{}";
  std::map<std::string, at::Tensor> tensors;
};

// Writes to a temporary file and renames it onto `path`: a crash mid-write leaves the previous
// checkpoint intact. `optimizer` may be null.
void save_checkpoint(const std::string& path, const torch::nn::Module& model, const torch::optim::Optimizer* optimizer,
                     const CheckpointExtras& extras);

// Restores into the existing tensors IN PLACE (copy_), so views such as FlatParameters stay valid.
// Throws std::runtime_error naming the file and the key on a missing file or a shape mismatch.
CheckpointExtras load_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                                 const std::vector<std::string>& extra_tensor_names = {});

}  // namespace gossamer::train
