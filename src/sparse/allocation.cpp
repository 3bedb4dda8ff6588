#include "gossamer/sparse/allocation.h"

#include <ATen/ATen.h>

#include <cmath>
#include <numeric>
#include <sstream>
#include <stdexcept>

namespace gossamer::sparse {

AllocationKind parse_allocation(const std::string& name) {
  if (name == "uniform") return AllocationKind::Uniform;
  if (name == "global") return AllocationKind::Global;
  if (name == "erk") return AllocationKind::Erk;
  throw std::invalid_argument("unknown allocation '" + name + "': use uniform, global or erk");
}

std::map<std::string, double> parse_overrides(const std::string& text) {
  auto trim = [](const std::string& v) {
    const auto b = v.find_first_not_of(' ');
    if (b == std::string::npos) return std::string();
    return v.substr(b, v.find_last_not_of(' ') - b + 1);
  };
  std::map<std::string, double> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (trim(item).empty()) continue;
    const auto eq = item.find('=');
    const std::string name = eq == std::string::npos ? "" : trim(item.substr(0, eq));
    const std::string number = eq == std::string::npos ? "" : trim(item.substr(eq + 1));
    double value = -1;
    try {
      size_t used = 0;
      value = std::stod(number, &used);
      if (used != number.size()) value = -1;  // "0.5x", "0.5 0.7", "10%"
    } catch (const std::exception&) {
      value = -1;
    }
    if (name.empty() || !(value >= 0.0 && value <= 1.0)) {
      throw std::invalid_argument("sparsity override '" + item +
                                  "' must look like layer.weight=SPARSITY with SPARSITY in [0, 1]");
    }
    out[name] = value;
  }
  return out;
}

std::vector<double> erk_densities(const std::vector<ParamSlice>& layers, double sparsity) {
  const size_t L = layers.size();
  std::vector<double> raw(L), density(L, 0.0);
  std::vector<bool> dense(L, false);
  double total = 0;
  for (size_t i = 0; i < L; ++i) {
    double sum = 0, prod = 1;
    for (int64_t d : layers[i].shape) {
      sum += static_cast<double>(d);
      prod *= static_cast<double>(d);
    }
    raw[i] = sum / prod;
    total += static_cast<double>(layers[i].numel);
  }
  const double budget = (1.0 - sparsity) * total;
  // Solve ε Σ_{sparse} raw_i n_i = budget − Σ_{dense} n_i; a layer whose ε·raw exceeds 1 becomes
  // dense and the rest is re-solved (RigL's ERK with dense overflow).
  for (size_t iter = 0; iter <= L; ++iter) {
    double dense_numel = 0, weighted = 0;
    for (size_t i = 0; i < L; ++i) {
      if (dense[i]) dense_numel += static_cast<double>(layers[i].numel);
      else weighted += raw[i] * static_cast<double>(layers[i].numel);
    }
    const double eps = weighted > 0 ? std::max(0.0, budget - dense_numel) / weighted : 0.0;
    bool changed = false;
    for (size_t i = 0; i < L; ++i) {
      if (!dense[i] && eps * raw[i] > 1.0) {
        dense[i] = true;
        changed = true;
      }
    }
    if (!changed) {
      for (size_t i = 0; i < L; ++i) density[i] = dense[i] ? 1.0 : eps * raw[i];
      break;
    }
  }
  return density;
}

std::vector<int64_t> keep_counts(const std::vector<ParamSlice>& layers, double sparsity, const AllocationSpec& spec,
                                 const std::vector<at::Tensor>& scores) {
  if (!(sparsity >= 0.0 && sparsity <= 1.0)) throw std::invalid_argument("sparsity must be in [0, 1]");
  std::map<std::string, double> fixed = spec.overrides;
  for (const auto& [name, s] : fixed) {
    bool found = false;
    for (const auto& l : layers) found = found || l.name == name;
    if (!found) {
      std::string known;
      for (const auto& l : layers) known += (known.empty() ? "" : ", ") + l.name;
      throw std::invalid_argument("sparsity override names '" + name + "', which is not a pruned layer; pruned layers: " +
                                  known);
    }
  }
  if (!layers.empty() && spec.exempt_first) fixed[layers.front().name] = 0.0;
  if (!layers.empty() && spec.exempt_last) fixed[layers.back().name] = 0.0;

  std::vector<int64_t> keep(layers.size(), 0);
  std::vector<size_t> free_layers;
  for (size_t i = 0; i < layers.size(); ++i) {
    auto it = fixed.find(layers[i].name);
    if (it != fixed.end()) {
      keep[i] = static_cast<int64_t>(std::llround((1.0 - it->second) * static_cast<double>(layers[i].numel)));
    } else {
      free_layers.push_back(i);
    }
  }
  if (free_layers.empty()) return keep;

  switch (spec.kind) {
    case AllocationKind::Uniform:
      for (size_t i : free_layers) {
        keep[i] = static_cast<int64_t>(std::llround((1.0 - sparsity) * static_cast<double>(layers[i].numel)));
      }
      break;
    case AllocationKind::Erk: {
      std::vector<ParamSlice> sub;
      for (size_t i : free_layers) sub.push_back(layers[i]);
      const auto density = erk_densities(sub, sparsity);
      for (size_t k = 0; k < free_layers.size(); ++k) {
        const size_t i = free_layers[k];
        keep[i] = std::min(layers[i].numel,
                           static_cast<int64_t>(std::llround(density[k] * static_cast<double>(layers[i].numel))));
      }
      break;
    }
    case AllocationKind::Global: {
      if (scores.size() != layers.size()) throw std::invalid_argument("global allocation needs one score tensor per layer");
      std::vector<at::Tensor> parts;
      int64_t total = 0;
      for (size_t i : free_layers) {
        parts.push_back(scores[i].reshape({-1}).to(at::kFloat));
        total += layers[i].numel;
      }
      const int64_t budget = static_cast<int64_t>(std::llround((1.0 - sparsity) * static_cast<double>(total)));
      // Rank all scores together (stable: ties go to the earlier layer, then the lower index) and
      // count how many of the best `budget` fall in each layer.
      at::Tensor all = at::cat(parts);
      at::Tensor order = std::get<1>(at::sort(all, /*stable=*/true, 0, /*descending=*/true)).narrow(0, 0, budget);
      std::vector<int64_t> bounds{0};
      for (size_t i : free_layers) bounds.push_back(bounds.back() + layers[i].numel);
      at::Tensor edges = at::tensor(std::vector<int64_t>(bounds.begin() + 1, bounds.end()), at::kLong);
      at::Tensor which = at::bucketize(order, edges, /*out_int32=*/false, /*right=*/true);
      at::Tensor counts = at::bincount(which, {}, static_cast<int64_t>(free_layers.size()));
      for (size_t k = 0; k < free_layers.size(); ++k) keep[free_layers[k]] = counts[static_cast<int64_t>(k)].item<int64_t>();
      break;
    }
  }
  return keep;
}

}  // namespace gossamer::sparse
