#include "gossamer/train/checkpoint.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "gossamer/util/atomic_file.h"

namespace gossamer::train {

void save_checkpoint(const std::string& path, const torch::nn::Module& model, const torch::optim::Optimizer* optimizer,
                     const CheckpointExtras& extras) {
  torch::serialize::OutputArchive archive;
  for (const auto& p : model.named_parameters(true)) archive.write("model/" + p.key(), p.value().detach(), false);
  for (const auto& b : model.named_buffers(true)) archive.write("model/" + b.key(), b.value(), true);
  if (optimizer) {
    torch::serialize::OutputArchive opt_archive;
    optimizer->save(opt_archive);
    archive.write("optimizer", opt_archive);
  }
  archive.write("meta", c10::IValue(extras.meta_json));
  for (const auto& [k, t] : extras.tensors) archive.write("extra/" + k, t, true);
  util::write_file_atomically(path, [&](const std::string& tmp) { archive.save_to(tmp); });
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

CheckpointExtras load_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                                 const std::vector<std::string>& extra_tensor_names) {
  check_checkpoint_file(path);
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

}  // namespace gossamer::train
