#include "gossamer/train/sparse_setup.h"

#include <ATen/core/Tensor.h>

#include <cmath>
#include <stdexcept>

namespace gossamer::train {

models::ModelSpec model_spec(const config::Config& cfg, const data::Dataset& data) {
  models::ModelSpec spec;
  spec.name = cfg.model.name;
  spec.input_shape = data.inputs.sizes().slice(1).vec();
  spec.num_classes = data.num_classes;
  spec.hidden = cfg.model.hidden;
  spec.width = cfg.model.width;
  spec.transformer.dim = cfg.model.dim;
  spec.transformer.depth = cfg.model.depth;
  spec.transformer.heads = cfg.model.heads;
  spec.transformer.mlp_ratio = cfg.model.mlp_ratio;
  spec.transformer.patch = cfg.model.patch;
  spec.transformer.stem_channels = cfg.model.stem_channels;
  return spec;
}

std::vector<sparse::ParamSlice> parameter_slices(const FlatParameters& flat, const models::Model& model) {
  std::vector<sparse::ParamSlice> slices;
  for (const auto& sl : flat.slices()) slices.push_back({sl.name, sl.offset, sl.numel, sl.shape, model.prunable(sl.name)});
  return slices;
}

std::vector<int64_t> prunable_layer_uses(const std::vector<sparse::ParamSlice>& slices, const models::Model& model) {
  std::vector<int64_t> uses;
  for (const auto& l : sparse::prunable_layers(slices)) uses.push_back(model.weight_uses(l.name));
  return uses;
}

sparse::PruneSpec make_prune_spec(const config::Config& cfg, int64_t steps_per_epoch, int64_t total_steps) {
  const auto& c = cfg.sparse;
  auto steps = [&](double epochs) { return static_cast<int64_t>(std::llround(epochs * static_cast<double>(steps_per_epoch))); };
  sparse::PruneSpec p;
  p.method = sparse::parse_prune_method(c.method);
  p.sparsity = c.sparsity;
  p.scorer = sparse::parse_prune_scorer(c.scorer);
  p.pattern.kind = c.pattern == "n:m" ? sparse::PatternKind::NM
                   : c.pattern == "block" ? sparse::PatternKind::Block
                                          : sparse::PatternKind::Unstructured;
  p.pattern.n = c.n;
  p.pattern.m = c.m;
  p.pattern.block_rows = c.block_rows;
  p.pattern.block_cols = c.block_cols;
  p.allocation.kind = sparse::parse_allocation(c.allocation);
  p.allocation.overrides = sparse::parse_overrides(c.overrides);
  p.allocation.exempt_first = c.exempt_first;
  p.allocation.exempt_last = c.exempt_last;
  p.start_step = steps(c.start_epoch);
  // By default masks stop changing after 75% of training, leaving the rest to fine-tune.
  p.end_step = c.end_epoch < 0 ? (total_steps * 3) / 4 : steps(c.end_epoch);
  p.update_every = c.update_every;
  p.initial_sparsity = c.initial_sparsity;
  p.drop_fraction = c.drop_fraction;
  p.gap_partitions = c.gap_partitions;
  p.gap_phase_steps = std::max<int64_t>(1, steps(c.gap_epochs));
  p.gap_mode = sparse::parse_gap_mode(c.gap_mode);
  p.gap_rewarm = c.gap_rewarm;
  p.srste_lambda = c.srste_lambda;
  p.woodfisher_samples = c.woodfisher_samples;
  p.woodfisher.block_size = c.woodfisher_block;
  p.woodfisher.damping = c.woodfisher_damping;
  // With N >= c samples the block inverses become full rank and float32 cancels digits (measured
  // 1e-3 relative error at small damping, docs/sparse.md); double costs 2x memory, on blocks only.
  p.woodfisher.dtype = c.woodfisher_samples >= c.woodfisher_block ? at::kDouble : at::kFloat;
  p.seed = static_cast<uint64_t>(cfg.train.seed) * 7u + 11u;
  if ((p.method == sparse::PruneMethod::Gmp || p.method == sparse::PruneMethod::Rigl ||
       p.method == sparse::PruneMethod::Set) && p.end_step < p.start_step) {
    throw std::invalid_argument("sparse.end_epoch must not be before sparse.start_epoch");
  }
  return p;
}

}  // namespace gossamer::train
