#include "gossamer/train/sparse_kernels.h"

#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <stdexcept>

#include "gossamer/kernels/conv.h"
#include "gossamer/kernels/csr.h"
#include "gossamer/kernels/path_timing.h"
#include "gossamer/kernels/sparse_conv2d.h"
#include "gossamer/kernels/sparse_linear.h"
#include "gossamer/models/model.h"
#include "gossamer/sparse/pruner.h"

namespace gossamer::train {

struct SparseKernelRouter::Layer {
  std::string name;
  at::Tensor weight, bias, mask;  // the model's parameters and the pruner's mask view
  bool conv = false;
  kernels::ConvGeometry geometry;
  std::string mode;
  bool fixed = false;  // inference: the CSR as read from the file, never rebuilt
  bool profiling = false;
  double seconds = 0;  // in the chosen path while profiling
  int64_t calls = 0;
  int64_t mask_version = -1;
  std::shared_ptr<kernels::CsrWeight> csr;
  std::shared_ptr<kernels::SparseConvWeight> conv_weight;
  struct Choice {
    bool sparse = false;
    kernels::PathTimes times;
    // Evaluation in "auto" mode decides on the model's own calls (see forward).
    std::shared_ptr<kernels::PathTrial> trial;
  };
  std::map<std::pair<int64_t, bool>, Choice> choices;

  void refresh() {
    if (fixed) return;
    at::NoGradGuard ng;
    const at::Tensor w = weight.detach();
    if (mask._version() != mask_version || (!csr && !conv_weight)) {
      if (conv) conv_weight = std::make_shared<kernels::SparseConvWeight>(kernels::sparse_conv_weight(w, mask));
      else csr = std::make_shared<kernels::CsrWeight>(kernels::csr_from_dense(w, mask));
      mask_version = mask._version();
      choices.clear();  // a new density: measure again
    } else if (conv) {
      kernels::sparse_conv_update_values(*conv_weight, w);
    } else {
      kernels::csr_update_values(*csr, w);
    }
  }
  at::Tensor dense(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) const {
    if (!conv) return at::linear(x, w, b);
    return at::conv2d(x, w, b, {geometry.stride[0], geometry.stride[1]}, {geometry.padding[0], geometry.padding[1]},
                      {geometry.dilation[0], geometry.dilation[1]});
  }
  at::Tensor sparse(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) const {
    if (conv) return kernels::sparse_conv2d_dense_grad(x, w, conv_weight, b, geometry);
    return kernels::sparse_linear_dense_grad(x, w, csr, b);
  }
  // Training: forward + backward of both paths on detached copies of the weight and bias, so that
  // no gradient leaks into the model's gradient buffer.
  kernels::PathTimes time_training(const at::Tensor& x) const {
    at::Tensor w = weight.detach().clone().set_requires_grad(true);
    at::Tensor b = bias.defined() ? bias.detach().clone().set_requires_grad(true) : at::Tensor();
    const at::Tensor xin = x.detach();
    return kernels::time_paths(
        [&](bool use_sparse) {
          at::Tensor y = use_sparse ? sparse(xin, w, b) : dense(xin, w, b);
          y.backward(at::ones_like(y));
        },
        3);
  }
  // Evaluation in "auto" mode: the layer's first calls at a batch size alternate the two paths on
  // the real inputs, inside the model's forward. Timing a path in isolation (time_path, repeated
  // on one input) is biased there: in a ResNet-20 at batch 64 it measured a sparse 3x3 conv at
  // 0.6 ms that took 1.0 ms between the model's other layers, against 0.7-0.8 ms dense, so the
  // isolated choice made the whole forward 14-18% slower than dense. Both paths compute the same
  // layer, so the trial calls return correct outputs (equal to float rounding).
  at::Tensor trial(Choice& c, const at::Tensor& x) {
    const bool use_sparse = c.trial->next_sparse();
    const auto t0 = std::chrono::steady_clock::now();
    at::Tensor y = use_sparse ? sparse(x, weight, bias) : dense(x, weight, bias);
    c.trial->record(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    if (c.trial->decided()) {
      c.times = c.trial->times();
      c.sparse = c.times.sparse_faster();
      c.trial.reset();
    }
    return y;
  }
  at::Tensor forward(const at::Tensor& x) {
    refresh();
    const bool training = at::GradMode::is_enabled() && weight.requires_grad();
    const auto key = std::make_pair(x.size(0), training);
    auto it = choices.find(key);
    if (it == choices.end()) {
      Choice c;
      if (mode == "sparse" || mode == "dense") {
        c.sparse = mode == "sparse";
      } else if (training) {
        // Forward and backward: the backward runs outside this call, so both paths are timed
        // here on copies.
        c.times = time_training(x);
        c.sparse = c.times.sparse_faster();
      } else {
        c.trial = std::make_shared<kernels::PathTrial>();
      }
      it = choices.emplace(key, c).first;
    }
    if (it->second.trial) return trial(it->second, x);
    if (!profiling) return it->second.sparse ? sparse(x, weight, bias) : dense(x, weight, bias);
    const auto t0 = std::chrono::steady_clock::now();
    at::Tensor y = it->second.sparse ? sparse(x, weight, bias) : dense(x, weight, bias);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ++calls;
    return y;
  }
};

void check_kernels_mode(const std::string& mode) {
  if (mode != "auto" && mode != "sparse" && mode != "dense") {
    throw std::invalid_argument("sparse kernels mode '" + mode + "': use auto, sparse or dense");
  }
}

namespace {

// Fills the layer's kind and geometry from the module that owns its weight; returns why the layer
// cannot run on the sparse kernels, or "" if it can.
std::string configure(SparseKernelRouter::Layer& layer, torch::nn::Module& module) {
  if (auto* conv = module.as<torch::nn::Conv2dImpl>()) {
    const auto& o = conv->options;
    if (o.groups() != 1) return "grouped convolution";
    if (!c10::holds_alternative<torch::ExpandingArray<2>>(o.padding())) return "'same'/'valid' padding mode";
    if (!c10::holds_alternative<torch::enumtype::kZeros>(o.padding_mode())) return "padding mode other than zeros";
    layer.conv = true;
    const auto& pad = c10::get<torch::ExpandingArray<2>>(o.padding());
    layer.geometry.stride = {(*o.stride())[0], (*o.stride())[1]};
    layer.geometry.padding = {(*pad)[0], (*pad)[1]};
    layer.geometry.dilation = {(*o.dilation())[0], (*o.dilation())[1]};
    return "";
  }
  if (module.as<torch::nn::LinearImpl>()) return "";
  return "not a Linear or Conv2d layer";
}

}  // namespace

SparseKernelRouter::SparseKernelRouter(models::Model& model, const sparse::Pruner& pruner, const std::string& mode)
    : model_(model) {
  check_kernels_mode(mode);
  if (mode == "dense" || !pruner.enabled()) return;
  if (pruner.spec().method == sparse::PruneMethod::SrSte) return;  // the mask changes every step
  std::map<std::string, at::Tensor> params;
  for (const auto& p : model.named_parameters(true)) params[p.key()] = p.value();
  std::map<std::string, std::shared_ptr<torch::nn::Module>> modules;
  for (const auto& m : model.named_modules("", false)) modules[m.key()] = m.value();
  for (const auto& l : pruner.layers()) {
    const std::string prefix = l.name.substr(0, l.name.rfind('.'));
    auto mod = modules.find(prefix);
    if (mod == modules.end()) {
      not_routed_.push_back(l.name + ": dense (not routed: no module '" + prefix + "')");
      continue;
    }
    auto layer = std::make_shared<Layer>();
    layer->name = l.name;
    layer->weight = params.at(l.name);
    auto b = params.find(prefix + ".bias");
    if (b != params.end()) layer->bias = b->second;
    layer->mask = pruner.mask().narrow(0, l.offset, l.numel).view(l.shape);
    layer->mode = mode;
    const std::string why = configure(*layer, *mod->second);
    if (!why.empty()) {
      not_routed_.push_back(l.name + ": dense (not routed: " + why + ")");
      continue;
    }
    install(layer);
  }
}

SparseKernelRouter::SparseKernelRouter(models::Model& model, const std::map<std::string, kernels::CsrWeight>& layers,
                                       const std::string& mode)
    : model_(model) {
  check_kernels_mode(mode);
  std::map<std::string, at::Tensor> params;
  for (const auto& p : model.named_parameters(true)) params[p.key()] = p.value();
  std::map<std::string, std::shared_ptr<torch::nn::Module>> modules;
  for (const auto& m : model.named_modules("", false)) modules[m.key()] = m.value();
  // Everything is checked and built before the first override is installed, so that a throw
  // leaves the model as it was.
  std::vector<std::shared_ptr<Layer>> ready;
  for (const auto& [name, csr] : layers) {
    auto p = params.find(name);
    if (p == params.end()) throw std::invalid_argument("sparse kernels: the model has no parameter '" + name + "'");
    const at::Tensor& w = p->second;
    if (w.dim() < 2 || csr.rows != w.size(0) || csr.rows * csr.cols != w.numel()) {
      throw std::invalid_argument("sparse kernels: CSR [" + std::to_string(csr.rows) + ", " + std::to_string(csr.cols) +
                                  "] of '" + name + "' does not match the weight's shape");
    }
    const std::string prefix = name.substr(0, name.rfind('.'));
    auto mod = modules.find(prefix);
    if (mod == modules.end()) {
      not_routed_.push_back(name + ": dense (not routed: no module '" + prefix + "')");
      continue;
    }
    auto layer = std::make_shared<Layer>();
    layer->name = name;
    layer->weight = w;
    auto b = params.find(prefix + ".bias");
    if (b != params.end()) layer->bias = b->second;
    layer->mode = mode;
    layer->fixed = true;
    const std::string why = configure(*layer, *mod->second);
    if (!why.empty()) {
      not_routed_.push_back(name + ": dense (not routed: " + why + ")");
      continue;
    }
    if (layer->conv) {
      layer->conv_weight =
          std::make_shared<kernels::SparseConvWeight>(kernels::sparse_conv_weight(csr, w.size(1), w.size(2), w.size(3)));
    } else {
      layer->csr = std::make_shared<kernels::CsrWeight>(csr);
    }
    ready.push_back(layer);
  }
  for (const auto& layer : ready) install(layer);
}

void SparseKernelRouter::install(const std::shared_ptr<Layer>& layer) {
  model_.set_layer_override(layer->name, [layer](const at::Tensor& x) { return layer->forward(x); });
  layers_.push_back(layer);
}

SparseKernelRouter::~SparseKernelRouter() {
  for (const auto& l : layers_) model_.set_layer_override(l->name, nullptr);
}

std::vector<std::string> SparseKernelRouter::decisions() const {
  std::vector<std::string> out;
  bool any_ran = false;
  for (const auto& l : layers_) any_ran = any_ran || !l->choices.empty();
  for (const auto& l : layers_) {
    for (const auto& [key, c] : l->choices) {
      if (c.trial) continue;  // still deciding
      char buf[256];
      const char* path = c.sparse ? "sparse" : "dense";
      if (l->mode == "auto") {
        std::snprintf(buf, sizeof buf, "%s b%lld %s: %s (sparse %.3f ms, dense %.3f ms)", l->name.c_str(),
                      static_cast<long long>(key.first), key.second ? "train" : "eval", path, 1e3 * c.times.sparse_s,
                      1e3 * c.times.dense_s);
      } else {
        std::snprintf(buf, sizeof buf, "%s b%lld %s: %s (forced)", l->name.c_str(), static_cast<long long>(key.first),
                      key.second ? "train" : "eval", path);
      }
      out.push_back(buf);
    }
    // Only models whose forward calls Model::run_layer for this layer use the override.
    if (l->choices.empty() && any_ran) out.push_back(l->name + ": dense (the model does not call it through its layer hook)");
  }
  out.insert(out.end(), not_routed_.begin(), not_routed_.end());
  return out;
}

bool SparseKernelRouter::deciding() const {
  for (const auto& l : layers_)
    for (const auto& [key, c] : l->choices)
      if (c.trial) return true;
  return false;
}

void SparseKernelRouter::set_profiling(bool on) {
  for (const auto& l : layers_) {
    l->profiling = on;
    if (on) {
      l->seconds = 0;
      l->calls = 0;
    }
  }
}

std::vector<SparseKernelRouter::LayerTime> SparseKernelRouter::profile() const {
  std::vector<LayerTime> out;
  for (const auto& l : layers_) out.push_back({l->name, l->seconds, l->calls});
  return out;
}

}  // namespace gossamer::train
