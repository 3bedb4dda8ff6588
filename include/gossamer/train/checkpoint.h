// Checkpoints: model parameters and buffers, optimizer state, extra named tensors (algorithm
// state such as gossip trackers) and a JSON string of metadata, written atomically.
//
// The file is one Python's torch.load reads (torch_state_dict.h): a dict
//   {"format": "gossamer-checkpoint", "version": 2,
//    "model": {PyTorch parameter and buffer names ("conv1.weight") -> tensor},
//    "extras": {name -> tensor}, "meta_json": str,
//    "optimizer": uint8 tensor (LibTorch's optimizer archive; absent when saved without one)}
// so that a PyTorch module of the same architecture takes load_state_dict(torch.load(p)["model"]).
// load_checkpoint also reads version 1 (LibTorch serialize::OutputArchives of earlier builds) and,
// for weights only, plain state_dicts (Python's torch.save(model.state_dict()), RUN/model.pt).
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <stdexcept>
#include <string>

namespace torch::nn {
class Module;
}
namespace torch::optim {
class Optimizer;
}

namespace gossamer::train {

// A file that is not a checkpoint this model can be restored from: missing, a directory, another
// kind of file (an exported model.sparse, a config.toml), a truncated or damaged archive, or one
// without this model's tensors. The message names the file, what it is and what was expected.
struct CheckpointError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct CheckpointExtras {
  std::string meta_json = "{}";
  std::map<std::string, at::Tensor> tensors;
};

// Writes to a temporary file and renames it onto `path`: a crash mid-write leaves the previous
// checkpoint intact. `optimizer` may be null.
void save_checkpoint(const std::string& path, const torch::nn::Module& model, const torch::optim::Optimizer* optimizer,
                     const CheckpointExtras& extras);

// Throws CheckpointError if `path` cannot be a checkpoint from what its first bytes say (missing, a
// directory, empty, an exported model.sparse, a text file, not a zip archive), naming what it is,
// what was expected, and a checkpoint next to it if there is one. Cheap: callers check before
// loading data. load_checkpoint checks this too.
void check_checkpoint_file(const std::string& path);

// Restores into the existing tensors IN PLACE (copy_), so views such as FlatParameters stay valid.
// The model's tensors and the file's must match name for name and shape for shape (PyTorch's
// strict load_state_dict). Throws CheckpointError naming the file and every missing key,
// unexpected key and shape mismatch; for a plain state_dict when `optimizer` or extra tensors are
// asked for (resume needs a checkpoint); the file's kind is checked before it is read, so no
// zip-reader message reaches the user.
CheckpointExtras load_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                                 const std::vector<std::string>& extra_tensor_names = {});

}  // namespace gossamer::train
