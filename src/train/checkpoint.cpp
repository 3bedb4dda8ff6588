#include "gossamer/train/checkpoint.h"

#include <torch/torch.h>

#include <filesystem>

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

CheckpointExtras load_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                                 const std::vector<std::string>& extra_tensor_names) {
  if (!std::filesystem::exists(path)) throw std::runtime_error("checkpoint " + path + " does not exist");
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
  } catch (const c10::Error& e) {
    throw std::runtime_error("checkpoint " + path + " is unreadable or corrupt: " + e.what_without_backtrace());
  }
  torch::NoGradGuard no_grad;
  auto restore = [&](const std::string& key, at::Tensor target, bool is_buffer) {
    at::Tensor t;
    if (!archive.try_read(key, t, is_buffer)) throw std::runtime_error("checkpoint " + path + " has no '" + key + "'");
    if (t.sizes() != target.sizes()) {
      throw std::runtime_error("checkpoint " + path + ": '" + key + "' has shape " + c10::str(t.sizes()) +
                               " but the model expects " + c10::str(target.sizes()) + " (different model config?)");
    }
    target.copy_(t);
  };
  for (auto& p : model.named_parameters(true)) restore("model/" + p.key(), p.value(), false);
  for (auto& b : model.named_buffers(true)) restore("model/" + b.key(), b.value(), true);
  if (optimizer) {
    torch::serialize::InputArchive opt_archive;
    if (!archive.try_read("optimizer", opt_archive)) throw std::runtime_error("checkpoint " + path + " has no optimizer state");
    optimizer->load(opt_archive);
  }
  CheckpointExtras out;
  c10::IValue meta;
  if (!archive.try_read("meta", meta)) throw std::runtime_error("checkpoint " + path + " has no metadata");
  out.meta_json = meta.toStringRef();
  for (const auto& name : extra_tensor_names) {
    at::Tensor t;
    if (!archive.try_read("extra/" + name, t, true)) throw std::runtime_error("checkpoint " + path + " has no '" + name + "'");
    out.tensors[name] = t;
  }
  return out;
}

}  // namespace gossamer::train
