// Files that Python's torch.load reads and torch.save writes: PyTorch's zip format (the default
// since PyTorch 1.6), a zip archive holding one pickle, "data.pkl", and each tensor's storage as a
// record "data/<key>".
//
// Writing uses LibTorch's own pickler (torch::pickle_save), whose output torch.load reads as plain
// dicts, str, int and tensors. Reading cannot use torch::pickle_load: LibTorch's unpickler turns a
// collections.OrderedDict (what model.state_dict() is) into None and does not know the SETITEM
// opcode (a dict of one entry), so every state_dict saved by Python would fail. This unit has its
// own small unpickler for the subset torch.save emits for dicts of tensors and plain values.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/core/ivalue.h>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace torch::nn {
class Module;
}

namespace gossamer::train {

// A file that cannot be read as a torch.save file: what() is "PATH: WHY", `why` the reason alone
// (so that callers can say what they expected the file to be).
struct TorchFileError : std::runtime_error {
  TorchFileError(const std::string& path, const std::string& why) : std::runtime_error(path + ": " + why), why(why) {}
  std::string why;
};

// Tensors in the order they are listed (a state_dict's order: Python keeps insertion order).
using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

// The module's parameters, then its buffers, under the names PyTorch gives them ("conv1.weight",
// "bn1.running_mean"): what load_state_dict of the matching Python module expects.
NamedTensors state_dict_of(const torch::nn::Module& module);

// A str -> tensor dict IValue (c10::Dict<std::string, at::Tensor>), each tensor detached,
// contiguous and on the CPU, so that torch.load gives plain tensors with the usual strides.
c10::IValue tensor_dict(const NamedTensors& tensors);

// Writes `value` (dicts with str keys, str, int, float, bool, tensors) atomically to `path` in the
// format torch.load reads.
void save_torch_file(const std::string& path, const c10::IValue& value);

// True when `path` is a LibTorch serialize::OutputArchive (a TorchScript-module archive, which
// Gossamer checkpoints were before they became pickled dicts) rather than a torch.save file.
// Only looks at the archive's record names; `path` must be a zip archive.
bool is_libtorch_archive(const std::string& path);

// Reads a file that torch.save (zip format) or save_torch_file wrote. Dicts (OrderedDict too)
// become GenericDicts in the file's order, tuples Tuples, lists GenericLists, tensors dense CPU
// tensors (views of one storage keep sharing it). Throws TorchFileError naming the file and the
// problem: not a zip archive of this format, a pickle opcode or a Python class this reader does
// not know (e.g. a whole pickled nn.Module rather than its state_dict), a missing storage record.
c10::IValue load_torch_file(const std::string& path);

// The str -> tensor entries of `dict`, in order; throws TorchFileError naming `path` and the first
// entry whose key is not a str or whose value is not a tensor.
NamedTensors tensors_of(const c10::IValue& dict, const std::string& path, const std::string& what);

}  // namespace gossamer::train
