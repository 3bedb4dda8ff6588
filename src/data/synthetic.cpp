#include "gossamer/data/synthetic.h"

#include <ATen/ATen.h>

#include <stdexcept>

namespace gossamer::data {

namespace {

void check(const SyntheticSpec& s) {
  if (s.workers < 1) throw std::invalid_argument("synthetic: workers must be >= 1");
  if (s.samples_per_worker < 1 || s.dim < 1) throw std::invalid_argument("synthetic: samples and dim must be >= 1");
  if (s.heterogeneity < 0 || s.noise < 0) throw std::invalid_argument("synthetic: heterogeneity and noise must be >= 0");
}

// Draws features and per-worker ground truths with a private generator, so results depend on the
// seed alone and not on anything else that touched LibTorch's global generator.
struct Draws {
  at::Tensor x0;
  std::vector<at::Tensor> features, truths;
};

Draws draw(const SyntheticSpec& s) {
  check(s);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(s.seed);
  auto opts = at::TensorOptions().dtype(at::kDouble);
  Draws d;
  d.x0 = at::normal(0.0, 1.0, {s.dim}, gen, opts);
  for (int w = 0; w < s.workers; ++w) {
    at::Tensor u = at::normal(0.0, 1.0, {s.dim}, gen, opts);
    at::Tensor v = at::normal(0.0, 1.0, {s.dim}, gen, opts);
    at::Tensor a = at::normal(0.0, 1.0, {s.samples_per_worker, s.dim}, gen, opts) + s.heterogeneity * v;
    d.features.push_back(a / std::sqrt(static_cast<double>(s.dim)));
    d.truths.push_back(d.x0 + s.heterogeneity * u);
  }
  return d;
}

// Shared by both problems: features and truths from draw(), targets from `label(A_i, x_i, gen)`.
template <typename Label>
ConvexProblem assemble(const SyntheticSpec& spec, int64_t num_classes, Label label) {
  Draws d = draw(spec);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(spec.seed + 0x9e3779b97f4a7c15ULL);
  ConvexProblem p;
  p.x0 = d.x0;
  for (size_t w = 0; w < static_cast<size_t>(spec.workers); ++w) {
    Dataset ds;
    ds.inputs = d.features[w];
    ds.targets = label(ds.inputs, d.truths[w], gen);
    ds.num_classes = num_classes;
    p.workers.push_back(ds);
  }
  return p;
}

}  // namespace

ConvexProblem make_least_squares(const SyntheticSpec& spec) {
  return assemble(spec, 0, [&](const at::Tensor& a, const at::Tensor& x, at::Generator& gen) {
    return at::mv(a, x) +
           at::normal(0.0, spec.noise, {spec.samples_per_worker}, gen, at::TensorOptions().dtype(at::kDouble));
  });
}

ConvexProblem make_logistic_regression(const SyntheticSpec& spec) {
  return assemble(spec, 2, [](const at::Tensor& a, const at::Tensor& x, at::Generator& gen) {
    return at::bernoulli(at::sigmoid(at::mv(a, x) * 4.0), gen);
  });
}

}  // namespace gossamer::data
