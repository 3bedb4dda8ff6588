#include "gossamer/train/checkpoint.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "gossamer/train/torch_state_dict.h"

namespace gossamer::train {

namespace {

constexpr const char* kFormat = "gossamer-checkpoint";
// Version 2: a pickled dict that Python's torch.load reads (torch_state_dict.h). Version 1 files,
// LibTorch serialize::OutputArchives with "model/"-prefixed names, are still read.
constexpr int64_t kVersion = 2;

}  // namespace

void save_checkpoint(const std::string& path, const torch::nn::Module& model, const torch::optim::Optimizer* optimizer,
                     const CheckpointExtras& extras) {
  c10::impl::GenericDict d(c10::StringType::get(), c10::AnyType::get());
  d.insert("format", std::string(kFormat));
  d.insert("version", kVersion);
  d.insert("model", tensor_dict(state_dict_of(model)));  // PyTorch names: model.load_state_dict(ckpt["model"])
  NamedTensors extra(extras.tensors.begin(), extras.tensors.end());
  d.insert("extras", tensor_dict(extra));
  d.insert("meta_json", extras.meta_json);
  if (optimizer) {
    // LibTorch's optimizer state has no Python counterpart (torch.optim's state_dict is keyed by
    // parameter index with other field names): it is kept as LibTorch's own archive, as bytes, for
    // resume. Python sees a uint8 tensor it can ignore.
    torch::serialize::OutputArchive opt_archive;
    optimizer->save(opt_archive);
    std::ostringstream bytes;
    opt_archive.save_to(bytes);
    const std::string b = bytes.str();
    at::Tensor t = at::empty({static_cast<int64_t>(b.size())}, at::kByte);
    std::memcpy(t.data_ptr(), b.data(), b.size());
    d.insert("optimizer", t);
  }
  save_torch_file(path, d);
}

namespace {

namespace fs = std::filesystem;

constexpr const char* kExpected =
    "expected a checkpoint .pt written by gossamer train, e.g. RUN/checkpoint.pt or RUN/checkpoint-rank0.pt";

// "; there is one at DIR/checkpoint.pt" when a checkpoint other than `self` lies in `dir`, else "".
std::string nearby_checkpoint(const fs::path& dir, const fs::path& self = {}) {
  std::error_code ec;
  for (const char* name : {"checkpoint.pt", "checkpoint-rank0.pt", "pruned.pt"}) {
    const fs::path candidate = (dir.empty() ? fs::path(".") : dir) / name;
    if (fs::is_regular_file(candidate, ec) && !fs::equivalent(candidate, self, ec)) return "; there is one at " + candidate.string();
  }
  return "";
}

// What `path` is when its first bytes say it cannot be a checkpoint, or "" when it may be one (a
// zip archive, as LibTorch writes them). LibTorch's own message for a non-archive ("PytorchStreamReader
// failed reading zip archive: failed finding central directory") does not say what the file is.
std::string not_an_archive(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char head[8] = {};
  in.read(head, sizeof head);
  const auto got = static_cast<size_t>(in.gcount());
  if (got >= 4 && std::memcmp(head, "PK\x03\x04", 4) == 0) {
    // A zip archive ends with its central directory's end record ("PK\5\6", at most 64 KiB of
    // comment after it): a file cut short has none.
    std::error_code ec;
    const auto size = static_cast<std::streamoff>(fs::file_size(path, ec));
    const std::streamoff tail = std::min<std::streamoff>(size, 22 + 65535);
    std::string end(static_cast<size_t>(tail), '\0');
    in.clear();
    in.seekg(size - tail);
    in.read(end.data(), tail);
    if (ec || end.rfind(std::string("PK\x05\x06", 4)) == std::string::npos) {
      return "a truncated archive of " + std::to_string(size) + " bytes";
    }
    return "";
  }
  if (got == 8 && std::memcmp(head, "GSPRSMDL", 8) == 0) return "it is an exported sparse model";
  // torch.save(..., _use_new_zipfile_serialization=False): a pickled magic number (LONG1 of 10 bytes).
  if (got >= 4 && std::memcmp(head, "\x80\x02\x8a\x0a", 4) == 0) {
    return "it is in torch.save's legacy format; save it again with torch.save's default format (PyTorch 1.6 or later)";
  }
  if (got == 0) return "it is empty";
  if (got >= 2 && std::memcmp(head, "\x1f\x8b", 2) == 0) return "it is a gzip file: a data set?";
  for (size_t i = 0; i < got; ++i) {
    const auto c = static_cast<unsigned char>(head[i]);
    if (c < 0x09 || (c > 0x0d && c < 0x20) || c == 0x7f) return "it is not a LibTorch archive";
  }
  return "it is a text file: a configuration?";
}

}  // namespace

void check_checkpoint_file(const std::string& path) {
  const fs::path file(path);
  std::error_code ec;
  if (!fs::exists(file, ec)) {
    throw CheckpointError("checkpoint " + path + " does not exist; " + kExpected + nearby_checkpoint(file.parent_path()));
  }
  if (fs::is_directory(file, ec)) {
    throw CheckpointError("checkpoint " + path + " is a directory; " + kExpected + nearby_checkpoint(file));
  }
  if (const std::string what = not_an_archive(path); !what.empty()) {
    const bool exported = what == "it is an exported sparse model";
    throw CheckpointError(path + " is not a checkpoint (" + what + "); " + kExpected +
                          (exported ? "; model.sparse is the exported model, for gossamer infer" : "") +
                          nearby_checkpoint(file.parent_path(), file));
  }
}

namespace {

// Version 1: a LibTorch OutputArchive, "model/"-prefixed names (checkpoints of earlier builds).
CheckpointExtras load_archive_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                                         const std::vector<std::string>& extra_tensor_names) {
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
  } catch (const c10::Error&) {
    std::error_code ec;
    throw CheckpointError(path + " is not a checkpoint (a truncated or damaged archive of " +
                          std::to_string(fs::file_size(path, ec)) + " bytes); " + kExpected);
  }
  torch::NoGradGuard no_grad;
  auto restore = [&](const std::string& key, at::Tensor target, bool is_buffer) {
    at::Tensor t;
    if (!archive.try_read(key, t, is_buffer)) {
      throw CheckpointError("checkpoint " + path + " has no '" + key + "' (a checkpoint of another model, or not one "
                            "written by gossamer train?)");
    }
    if (t.sizes() != target.sizes()) {
      throw CheckpointError("checkpoint " + path + ": '" + key + "' has shape " + c10::str(t.sizes()) +
                            " but the model expects " + c10::str(target.sizes()) + " (different model config?)");
    }
    target.copy_(t);
  };
  for (auto& p : model.named_parameters(true)) restore("model/" + p.key(), p.value(), false);
  for (auto& b : model.named_buffers(true)) restore("model/" + b.key(), b.value(), true);
  if (optimizer) {
    torch::serialize::InputArchive opt_archive;
    if (!archive.try_read("optimizer", opt_archive)) throw CheckpointError("checkpoint " + path + " has no optimizer state");
    optimizer->load(opt_archive);
  }
  CheckpointExtras out;
  c10::IValue meta;
  if (!archive.try_read("meta", meta)) throw CheckpointError("checkpoint " + path + " has no metadata");
  out.meta_json = meta.toStringRef();
  for (const auto& name : extra_tensor_names) {
    at::Tensor t;
    if (!archive.try_read("extra/" + name, t, true)) throw CheckpointError("checkpoint " + path + " has no '" + name + "'");
    out.tensors[name] = t;
  }
  return out;
}

std::string shape_of(const at::Tensor& t) { return c10::str(t.sizes()); }

// "a, b, c (and 4 more)": the first few of `names`.
std::string first_names(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < 4; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > 4) out += " (and " + std::to_string(names.size() - 4) + " more)";
  return out;
}

// Copies `file` into the model's parameters and buffers in place; every name must match both ways
// with the same shape (PyTorch's load_state_dict(strict=True)). All mismatches are reported at once.
void restore_state_dict(const std::string& path, const NamedTensors& file, torch::nn::Module& model) {
  std::map<std::string, at::Tensor> given(file.begin(), file.end());
  std::vector<std::string> missing, shapes;
  std::set<std::string> known;
  const NamedTensors targets = state_dict_of(model);
  for (const auto& [name, target] : targets) {
    known.insert(name);
    auto it = given.find(name);
    if (it == given.end()) {
      missing.push_back("'" + name + "' " + shape_of(target));
    } else if (it->second.sizes() != target.sizes()) {
      shapes.push_back("'" + name + "' has shape " + shape_of(it->second) + " but the model expects " + shape_of(target));
    }
  }
  std::vector<std::string> unexpected;
  for (const auto& [name, t] : file) {
    if (!known.count(name)) unexpected.push_back("'" + name + "' " + shape_of(t));
  }
  if (missing.empty() && unexpected.empty() && shapes.empty()) {
    torch::NoGradGuard no_grad;
    for (const auto& [name, target] : targets) {
      at::Tensor t = target;
      t.copy_(given.at(name));
    }
    return;
  }
  std::string what;
  if (!shapes.empty()) what += "; " + first_names(shapes);
  if (!missing.empty()) what += "; the model's " + first_names(missing) + (missing.size() == 1 ? " is" : " are") + " not in the file";
  if (!unexpected.empty()) {
    what += "; the file's " + first_names(unexpected) + (unexpected.size() == 1 ? " is" : " are") + " not in the model";
  }
  const bool prefixed = !unexpected.empty() && unexpected.front().rfind("'module.", 0) == 0;
  throw CheckpointError(path + " does not fit this model (" + std::to_string(targets.size()) + " tensors, " +
                        std::to_string(file.size()) + " in the file)" + what +
                        (prefixed ? "; strip the 'module.' prefix nn.DataParallel adds before saving" : "") +
                        "; the file must be a state_dict of the same architecture: set [model] (model.name, "
                        "model.hidden, model.width) as in the run that wrote it, or build the Python model with "
                        "python/gossamer_models.py");
}

// The tensor `key` of a version-2 checkpoint's top-level dict, or an error naming what is missing.
c10::IValue entry(const c10::impl::GenericDict& d, const std::string& key, const std::string& path) {
  auto it = d.find(key);
  if (it == d.end()) throw CheckpointError("checkpoint " + path + " has no '" + key + "' (a damaged checkpoint?)");
  return it->value();
}

}  // namespace

CheckpointExtras load_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                                 const std::vector<std::string>& extra_tensor_names) {
  check_checkpoint_file(path);
  c10::IValue root;
  try {
    if (is_libtorch_archive(path)) return load_archive_checkpoint(path, model, optimizer, extra_tensor_names);
    root = load_torch_file(path);
  } catch (const TorchFileError& e) {
    throw CheckpointError(path + " is not a checkpoint (" + e.why + "); " + kExpected +
                          ", or a state_dict saved by Python's torch.save(model.state_dict(), path)");
  }
  bool gossamer = false;
  if (root.isGenericDict()) {
    const auto d = root.toGenericDict();
    auto it = d.find(std::string("format"));
    gossamer = it != d.end() && it->value().isString() && it->value().toStringRef() == kFormat;
  }
  CheckpointExtras out;
  try {
    if (!gossamer) {
      // A plain state_dict: Python's torch.save(model.state_dict(), path), or RUN/model.pt.
      if (optimizer || !extra_tensor_names.empty()) {
        throw CheckpointError(path + " holds model weights only (a state_dict), not a checkpoint written by gossamer "
                              "train: --resume needs the run's own checkpoint; give it as train.init_from to start "
                              "a new run from these weights");
      }
      restore_state_dict(path, tensors_of(root, path, "the file"), model);
      return out;
    }
    const auto d = root.toGenericDict();
    restore_state_dict(path, tensors_of(entry(d, "model", path), path, "'model'"), model);
    if (optimizer) {
      const c10::IValue opt = entry(d, "optimizer", path);
      if (!opt.isTensor()) throw CheckpointError("checkpoint " + path + ": 'optimizer' is not LibTorch's archive bytes");
      const at::Tensor bytes = opt.toTensor().contiguous();
      torch::serialize::InputArchive opt_archive;
      opt_archive.load_from(static_cast<const char*>(bytes.data_ptr()), static_cast<size_t>(bytes.numel()));
      optimizer->load(opt_archive);
    }
    const c10::IValue meta = entry(d, "meta_json", path);
    if (!meta.isString()) throw CheckpointError("checkpoint " + path + ": 'meta_json' is not a str");
    out.meta_json = meta.toStringRef();
    const NamedTensors extras = tensors_of(entry(d, "extras", path), path, "'extras'");
    const std::map<std::string, at::Tensor> by_name(extras.begin(), extras.end());
    for (const auto& name : extra_tensor_names) {
      auto it = by_name.find(name);
      if (it == by_name.end()) throw CheckpointError("checkpoint " + path + " has no '" + name + "'");
      out.tensors[name] = it->second;
    }
  } catch (const TorchFileError& e) {
    throw CheckpointError(e.what());
  } catch (const c10::Error& e) {
    // The optimizer archive of another optimizer or model (LibTorch's own check).
    throw CheckpointError("checkpoint " + path + ": its optimizer state does not fit this run's optimizer (" +
                          std::string(e.what_without_backtrace()) + ")");
  }
  return out;
}

}  // namespace gossamer::train
