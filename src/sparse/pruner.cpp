#include "gossamer/sparse/pruner.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <stdexcept>

#include "gossamer/comm/communicator.h"
#include "gossamer/sparse/mask_bits.h"
#include "gossamer/sparse/schedule.h"

namespace gossamer::sparse {

PruneMethod parse_prune_method(const std::string& name) {
  if (name == "none") return PruneMethod::None;
  if (name == "oneshot") return PruneMethod::OneShot;
  if (name == "gmp") return PruneMethod::Gmp;
  if (name == "gap") return PruneMethod::Gap;
  if (name == "rigl") return PruneMethod::Rigl;
  if (name == "set") return PruneMethod::Set;
  if (name == "srste") return PruneMethod::SrSte;
  throw std::invalid_argument("unknown sparse method '" + name + "': use none, oneshot, gmp, gap, rigl, set or srste");
}

PruneScorer parse_prune_scorer(const std::string& name) {
  if (name == "magnitude") return PruneScorer::Magnitude;
  if (name == "woodfisher") return PruneScorer::WoodFisher;
  throw std::invalid_argument("unknown sparse scorer '" + name + "': use magnitude or woodfisher");
}

GapMode parse_gap_mode(const std::string& name) {
  if (name == "cyclic") return GapMode::Cyclic;
  if (name == "parallel") return GapMode::Parallel;
  throw std::invalid_argument("unknown sparse.gap_mode '" + name + "': use cyclic or parallel");
}

std::string to_string(PruneMethod m) {
  switch (m) {
    case PruneMethod::OneShot: return "oneshot";
    case PruneMethod::Gmp: return "gmp";
    case PruneMethod::Gap: return "gap";
    case PruneMethod::Rigl: return "rigl";
    case PruneMethod::Set: return "set";
    case PruneMethod::SrSte: return "srste";
    default: return "none";
  }
}

void PruneSpec::validate() const {
  if (!(sparsity >= 0.0 && sparsity <= 1.0)) throw std::invalid_argument("sparse.sparsity must be in [0, 1]");
  pattern.validate();
  const bool random_start = method == PruneMethod::Gap || method == PruneMethod::Rigl || method == PruneMethod::Set;
  if (random_start && allocation.kind == AllocationKind::Global) {
    throw std::invalid_argument("sparse.allocation = \"global\" ranks trained weights, but " + to_string(method) +
                                " starts from a random sparse model: use uniform or erk");
  }
  if ((method == PruneMethod::Rigl || method == PruneMethod::Set) && pattern.kind != PatternKind::Unstructured) {
    throw std::invalid_argument(to_string(method) + " drops and regrows single weights: it needs sparse.pattern = \"unstructured\"");
  }
  if (method == PruneMethod::SrSte && pattern.kind != PatternKind::NM) {
    throw std::invalid_argument("srste trains an N:M pattern: set sparse.pattern = \"n:m\"");
  }
  if (scorer == PruneScorer::WoodFisher && method != PruneMethod::OneShot && method != PruneMethod::Gmp) {
    throw std::invalid_argument("the woodfisher scorer works with oneshot and gmp, not " + to_string(method));
  }
  if (update_every < 1) throw std::invalid_argument("sparse.update_every must be >= 1");
  if (gap_phase_steps < 1) throw std::invalid_argument("sparse.gap_epochs is shorter than one step");
  if (gap_rewarm < 0 || gap_rewarm > 1) throw std::invalid_argument("sparse.gap_rewarm must be in [0, 1]");
  if (initial_sparsity > sparsity) throw std::invalid_argument("sparse.initial_sparsity exceeds sparse.sparsity");
  if (woodfisher_samples < 1) throw std::invalid_argument("sparse.woodfisher_samples must be >= 1");
  if (gap_mode == GapMode::Parallel && method != PruneMethod::Gap) {
    throw std::invalid_argument("sparse.gap_mode = \"parallel\" belongs to sparse.method = \"gap\", not " +
                                to_string(method));
  }
}

Pruner::Pruner(PruneSpec spec, const std::vector<ParamSlice>& parameters, at::Tensor values, at::Tensor gradients,
               PrunerContext ctx)
    : spec_(std::move(spec)), ctx_(std::move(ctx)), layers_(prunable_layers(parameters)),
      values_(std::move(values)), gradients_(std::move(gradients)) {
  spec_.validate();
  if (enabled() && layers_.empty()) throw std::invalid_argument("sparse training: the model has no weight layers to prune");
  if (!ctx_.uses.empty() && ctx_.uses.size() != layers_.size()) {
    throw std::invalid_argument("Pruner: ctx.uses needs one entry per pruned layer");
  }
  for (const auto& l : layers_) pruned_numel_ += l.numel;
  if (spec_.scorer == PruneScorer::WoodFisher && enabled() && !ctx_.sample_gradient) {
    throw std::invalid_argument("the woodfisher scorer needs a gradient sampler (PrunerContext::sample_gradient)");
  }
  mask_ = at::ones_like(values_);
  sad_reference_ = at::ones_like(values_);
  if (spec_.method == PruneMethod::Gap) {
    // Built once: the partition split is a small dynamic program, not something to redo every step.
    gap_ = std::make_shared<GapTimeline>(layers_, spec_.gap_partitions, spec_.gap_phase_steps, spec_.end_step);
  }
  if (parallel_gap()) {
    if (world() < 2) {
      throw std::invalid_argument(
          "sparse.gap_mode = \"parallel\" grows a different partition on each worker and needs cluster.workers >= 2 "
          "(this run has 1); use sparse.gap_mode = \"cyclic\" for a single worker");
    }
    if (spec_.gap_partitions > world()) {
      throw std::invalid_argument("sparse.gap_partitions = " + std::to_string(spec_.gap_partitions) +
                                  " exceeds cluster.workers = " + std::to_string(world()) +
                                  ": parallel GaP needs at least one worker per partition; lower gap_partitions");
    }
    common_ = at::ones_like(values_);
  }
  // Validate overrides now rather than at the first pruning step, possibly hours in.
  keep_counts(layers_, spec_.sparsity, AllocationSpec{AllocationKind::Uniform, spec_.allocation.overrides,
                                                      spec_.allocation.exempt_first, spec_.allocation.exempt_last});
}

at::Tensor Pruner::layer(at::Tensor& flat, size_t i) const {
  return flat.narrow(0, layers_[i].offset, layers_[i].numel).view(layers_[i].shape);
}

int Pruner::world() const { return ctx_.comm ? ctx_.comm->size() : 1; }

const at::Tensor& Pruner::mean_values() {
  if (world() == 1) return values_;
  if (!mean_.defined()) mean_ = at::empty_like(values_);
  mean_.copy_(values_);
  ctx_.comm->allreduce(mean_, comm::ReduceOp::Mean);
  return mean_;
}

at::Tensor Pruner::mean_gradients() {
  if (world() == 1) return gradients_;
  at::Tensor g = gradients_.clone();
  ctx_.comm->allreduce(g, comm::ReduceOp::Mean);
  return g;
}

void Pruner::agree_on_mask() {
  if (world() > 1) {
    // One bit per coordinate on the wire; every rank decodes the same bits into the same mask.
    at::Tensor bits = ctx_.comm->rank() == 0 ? pack_mask_bits(mask_) : at::empty({(mask_.numel() + 7) / 8}, at::kByte);
    ctx_.comm->broadcast(bits, 0);
    unpack_mask_bits(bits, mask_);
  }
  ++mask_epoch_;
}

void Pruner::apply_mask(const std::vector<at::Tensor>& optimizer_state) {
  values_.mul_(mask_);
  for (const auto& s : optimizer_state) {
    if (s.defined() && s.numel() == mask_.numel()) const_cast<at::Tensor&>(s).mul_(mask_.view(s.sizes()));
  }
}

std::vector<int64_t> Pruner::target_keep() const { return keep_counts(layers_, spec_.sparsity, spec_.allocation); }

void Pruner::random_masks() {
  at::Generator gen = at::detail::createCPUGenerator(spec_.seed);
  const auto keep = target_keep();
  for (size_t i = 0; i < layers_.size(); ++i) {
    at::Tensor scores = at::rand(layers_[i].shape, gen);
    at::Tensor m = layer(mask_, i);
    m.copy_(select_mask(scores, keep[i], spec_.pattern));
    // A layer that keeps a fraction d of a dense initialisation passes on only ~sqrt(d) of the
    // signal; without BatchNorm five such layers silence the network (LeNet at 80% did not learn).
    // Scaling the kept weights by 1/sqrt(d) restores the dense layer's output variance.
    const double density = m.sum().item<double>() / static_cast<double>(layers_[i].numel);
    if (density > 0) layer(values_, i).mul_(1.0 / std::sqrt(density));
  }
  agree_on_mask();
}

void Pruner::prune_to(double sparsity) {
  if (spec_.scorer == PruneScorer::WoodFisher) return woodfisher_prune(sparsity);
  at::Tensor w = mean_values();
  std::vector<at::Tensor> scores;
  for (size_t i = 0; i < layers_.size(); ++i) {
    // Weights already pruned score below every live weight: gradual schedules never revive them.
    scores.push_back(layer(w, i).abs().masked_fill_(layer(mask_, i).eq(0), -1.0));
  }
  const auto keep = keep_counts(layers_, sparsity, spec_.allocation, scores);
  for (size_t i = 0; i < layers_.size(); ++i) layer(mask_, i).copy_(select_mask(scores[i], keep[i], spec_.pattern));
  agree_on_mask();
}

void Pruner::prune_layers(size_t begin, size_t end) {
  at::Tensor w = mean_values();
  const auto keep = target_keep();
  for (size_t i = begin; i < end; ++i) {
    layer(mask_, i).copy_(select_mask(layer(w, i).abs(), keep[i], spec_.pattern));
  }
  agree_on_mask();
}

void Pruner::woodfisher_prune(double sparsity) {
  // Every worker moves to the mean model first: the Fisher and the OBS update are for one model.
  if (world() > 1) values_.copy_(mean_values());
  auto gather = [&](at::Tensor& flat) {
    std::vector<at::Tensor> parts;
    for (size_t i = 0; i < layers_.size(); ++i) parts.push_back(layer(flat, i).reshape({-1}));
    return at::cat(parts);
  };
  WoodFisherInverse finv(pruned_numel_, spec_.woodfisher_samples, spec_.woodfisher);
  for (int64_t n = 0; n < spec_.woodfisher_samples; ++n) {
    ctx_.sample_gradient(n);
    at::Tensor g = gather(gradients_);
    if (world() > 1) ctx_.comm->allreduce(g, comm::ReduceOp::Mean);
    finv.add_gradient(g);
  }
  gradients_.zero_();
  at::Tensor w = gather(values_);
  at::Tensor all_scores = obs_scores(w, finv).to(at::kFloat);
  std::vector<at::Tensor> scores;
  int64_t at_offset = 0;
  for (size_t i = 0; i < layers_.size(); ++i) {
    at::Tensor s = all_scores.narrow(0, at_offset, layers_[i].numel).view(layers_[i].shape);
    s.masked_fill_(layer(mask_, i).eq(0), -1.0);
    scores.push_back(s);
    at_offset += layers_[i].numel;
  }
  const auto keep = keep_counts(layers_, sparsity, spec_.allocation, scores);
  for (size_t i = 0; i < layers_.size(); ++i) layer(mask_, i).copy_(select_mask(scores[i], keep[i], spec_.pattern));
  agree_on_mask();
  at::Tensor kept = gather(mask_);
  at::Tensor updated = obs_prune(w, kept.eq(0), finv).to(at::kFloat).mul_(kept);
  at_offset = 0;
  for (size_t i = 0; i < layers_.size(); ++i) {
    layer(values_, i).copy_(updated.narrow(0, at_offset, layers_[i].numel).view(layers_[i].shape));
    at_offset += layers_[i].numel;
  }
  if (world() > 1) ctx_.comm->broadcast(values_, 0);
}

void Pruner::drop_and_grow(int64_t step) {
  const double f = cosine_drop_fraction(step, spec_.start_step, spec_.end_step, spec_.drop_fraction);
  at::Tensor w = mean_values();
  at::Tensor g = spec_.method == PruneMethod::Rigl ? mean_gradients() : at::Tensor();
  // SET regrows at random; the generator depends only on (seed, step), so all workers agree.
  at::Generator gen = at::detail::createCPUGenerator(spec_.seed * 1000003u + static_cast<uint64_t>(step));
  for (size_t i = 0; i < layers_.size(); ++i) {
    at::Tensor m = layer(mask_, i);
    const int64_t active = m.sum().item<int64_t>();
    const int64_t inactive = layers_[i].numel - active;
    const int64_t k = std::min(inactive, static_cast<int64_t>(std::floor(f * static_cast<double>(active))));
    if (k <= 0) continue;
    at::Tensor live = m.eq(1);
    at::Tensor keep_scores = layer(w, i).abs().masked_fill_(live.logical_not(), -1.0);
    at::Tensor after_drop = topk_mask(keep_scores, active - k);
    // Regrow among the weights that were inactive before this update (a weight just dropped is
    // not brought straight back), so that every regrown weight starts at zero with zero momentum.
    at::Tensor grow_scores = spec_.method == PruneMethod::Rigl ? layer(g, i).abs() : at::rand(layers_[i].shape, gen);
    grow_scores.masked_fill_(live, -1.0);
    at::Tensor grown = topk_mask(grow_scores, k);
    m.copy_(after_drop.add_(grown));
  }
  agree_on_mask();
}

void Pruner::srste_mask_from(const at::Tensor& flat, at::Tensor& out) const {
  out.fill_(1.0);
  for (size_t i = 0; i < layers_.size(); ++i) {
    at::Tensor src = flat.narrow(0, layers_[i].offset, layers_[i].numel).view(layers_[i].shape);
    layer(out, i).copy_(nm_mask(src.abs(), spec_.pattern.n, spec_.pattern.m));
  }
}

double Pruner::lr_factor(int64_t step) const {
  if (!parallel_gap() || spec_.gap_rewarm <= 0) return 1.0;
  // Combinations happen after every phase (before steps phase_steps, 2 phase_steps, ...) and at
  // the schedule's end; the first phase starts from the random mask, not from a combination.
  const int64_t phase = spec_.gap_phase_steps;
  const int64_t last = step >= spec_.end_step ? spec_.end_step : (step / phase) * phase;
  if (last <= 0) return 1.0;
  const double ramp = std::max(1.0, std::round(spec_.gap_rewarm * static_cast<double>(phase)));
  return std::min(1.0, static_cast<double>(step - last + 1) / ramp);
}

int64_t Pruner::grown_partition(int rank) const {
  if (!parallel_gap()) return -1;
  return static_cast<int64_t>(rank) % gap_->partitions();
}

at::Tensor Pruner::worker_mask(int rank) const {
  if (!growing_) return parallel_gap() ? common_ : mask_;
  at::Tensor m = common_.clone();
  auto [b, e] = gap_->layers_of(grown_partition(rank));
  for (size_t i = b; i < e; ++i) m.narrow(0, layers_[i].offset, layers_[i].numel).fill_(1.0);
  return m;
}

void Pruner::grow_own_partition() {
  const int rank = ctx_.comm ? ctx_.comm->rank() : 0;
  mask_.copy_(common_);
  auto [b, e] = gap_->layers_of(grown_partition(rank));
  for (size_t i = b; i < e; ++i) layer(mask_, i).fill_(1.0);
  growing_ = true;
  ++mask_epoch_;
}

void Pruner::combine_and_prune() {
  // Partition p of the combined model is the mean of partition p over the workers that grew it
  // (ranks r with r mod K = p); everything outside the pruned layers (biases, norms) is the mean
  // over all workers. One allreduce of each worker's own contribution gives every partition's sum.
  const int w = world();
  const int64_t k = gap_->partitions();
  const int own = static_cast<int>(grown_partition(ctx_.comm->rank()));
  at::Tensor take = at::ones_like(values_), count = at::full_like(values_, static_cast<double>(w));
  for (int64_t p = 0; p < k; ++p) {
    const double holders = static_cast<double>((w - 1 - p) / k + 1);  // ranks p, p + K, ... below w
    auto [b, e] = gap_->layers_of(p);
    for (size_t i = b; i < e; ++i) {
      layer(take, i).fill_(p == own ? 1.0 : 0.0);
      layer(count, i).fill_(holders);
    }
  }
  at::Tensor sum = values_ * take;
  ctx_.comm->allreduce(sum, comm::ReduceOp::Sum);
  values_.copy_(sum.div_(count));
  // Gloo may round the sum differently on different ranks: rank 0's combination is the one kept,
  // so that the magnitudes ranked below, and so the masks, are identical bit for bit.
  ctx_.comm->broadcast(values_, 0);
  const auto keep = target_keep();
  for (size_t i = 0; i < layers_.size(); ++i) {
    layer(common_, i).copy_(select_mask(layer(values_, i).abs(), keep[i], spec_.pattern));
  }
  mask_.copy_(common_);
  values_.mul_(common_);
  growing_ = false;
  ++mask_epoch_;
}

void Pruner::start() {
  if (!enabled()) return;
  last_update_step_ = 0;
  switch (spec_.method) {
    case PruneMethod::OneShot:
      if (spec_.start_step == 0) prune_to(spec_.sparsity);
      break;
    case PruneMethod::Gmp:
      if (spec_.initial_sparsity > 0) prune_to(spec_.initial_sparsity);
      break;
    case PruneMethod::Gap: {
      random_masks();
      if (parallel_gap()) {
        common_.copy_(mask_);
        if (gap_->phase(0) >= 0) grow_own_partition();
        break;
      }
      const GapTimeline& tl = *gap_;
      const int64_t p = tl.dense_partition(0);
      if (p >= 0) {
        auto [b, e] = tl.layers_of(p);
        for (size_t i = b; i < e; ++i) layer(mask_, i).fill_(1.0);
        ++mask_epoch_;
      }
      break;
    }
    case PruneMethod::Rigl:
    case PruneMethod::Set:
      random_masks();
      break;
    case PruneMethod::SrSte:
      srste_mask_from(values_, mask_);  // for reporting; the dense weights stay
      break;
    default:
      break;
  }
  if (spec_.method != PruneMethod::SrSte) apply_mask({});
  sad_reference_.copy_(mask_);
}

void Pruner::before_forward(int64_t step) {
  if (spec_.method != PruneMethod::SrSte) return;
  if (!dense_.defined()) dense_ = at::empty_like(values_);
  dense_.copy_(values_);
  srste_mask_from(values_, mask_);
  values_.mul_(mask_);
  ++mask_epoch_;
}

void Pruner::after_backward(int64_t step) {
  if (!enabled()) return;
  if (spec_.method == PruneMethod::SrSte) {
    // Straight-through: the gradient taken at the masked weights updates the dense weights; the
    // λ_W term decays the weights the mask removed (Zhou et al. 2021, eq. 4).
    values_.copy_(dense_);
    if (spec_.srste_lambda > 0) {
      gradients_.add_((1.0 - mask_) * dense_, spec_.srste_lambda);
    }
    return;
  }
  const bool regrow = spec_.method == PruneMethod::Rigl || spec_.method == PruneMethod::Set;
  if (regrow && step > spec_.start_step && step < spec_.end_step && (step - spec_.start_step) % spec_.update_every == 0) {
    drop_and_grow(step);
    last_update_step_ = step + 1;
  }
  gradients_.mul_(mask_);
}

void Pruner::after_step(int64_t step, const std::vector<at::Tensor>& optimizer_state) {
  if (!enabled() || spec_.method == PruneMethod::SrSte) return;
  const int64_t done = step + 1;
  switch (spec_.method) {
    case PruneMethod::OneShot:
      if (done == spec_.start_step) {
        prune_to(spec_.sparsity);
        last_update_step_ = done;
      }
      break;
    case PruneMethod::Gmp:
      if (done >= spec_.start_step && done <= spec_.end_step &&
          ((done - spec_.start_step) % spec_.update_every == 0 || done == spec_.end_step)) {
        prune_to(gmp_sparsity(done, spec_.start_step, spec_.end_step, spec_.initial_sparsity, spec_.sparsity));
        last_update_step_ = done;
      }
      break;
    case PruneMethod::Gap: {
      const GapTimeline& tl = *gap_;
      if (parallel_gap()) {
        if (tl.phase(step) != tl.phase(done)) {
          combine_and_prune();
          // Mask the optimizer state with the combined mask before growing again: a weight pruned
          // here and regrown with the own partition must restart at zero with zero momentum.
          apply_mask(optimizer_state);
          if (tl.phase(done) >= 0) grow_own_partition();
          last_update_step_ = done;
        }
        break;
      }
      const int64_t before = tl.dense_partition(step), after = tl.dense_partition(done);
      if (before != after) {
        if (before >= 0) {
          auto [b, e] = tl.layers_of(before);
          prune_layers(b, e);
        }
        if (after >= 0) {
          auto [b, e] = tl.layers_of(after);
          for (size_t i = b; i < e; ++i) layer(mask_, i).fill_(1.0);
        }
        ++mask_epoch_;
        last_update_step_ = done;
      }
      break;
    }
    default:
      break;
  }
  apply_mask(optimizer_state);
}

void Pruner::finish(int64_t steps_done, const std::vector<at::Tensor>& optimizer_state) {
  if (!enabled()) return;
  // A run that stops before its schedule ends still leaves with the sparsity it asked for.
  switch (spec_.method) {
    case PruneMethod::SrSte:
      srste_mask_from(mean_values(), mask_);
      agree_on_mask();
      break;
    case PruneMethod::Gap: {
      const GapTimeline& tl = *gap_;
      if (parallel_gap()) {
        if (growing_) combine_and_prune();
        break;
      }
      const int64_t dense = steps_done > 0 ? tl.dense_partition(steps_done - 1) : tl.dense_partition(0);
      if (dense >= 0) {
        auto [b, e] = tl.layers_of(dense);
        prune_layers(b, e);
      }
      break;
    }
    case PruneMethod::OneShot:
      if (steps_done < spec_.start_step) prune_to(spec_.sparsity);
      break;
    case PruneMethod::Gmp:
      if (steps_done < spec_.end_step) prune_to(spec_.sparsity);
      break;
    default:
      break;
  }
  apply_mask(optimizer_state);
}

void Pruner::make_deployable(at::Tensor& flat) const {
  if (!enabled()) return;
  flat.mul_(deployable_mask(flat));
}

at::Tensor Pruner::deployable_mask(const at::Tensor& flat) const {
  if (spec_.method == PruneMethod::SrSte) {
    at::Tensor m = at::empty_like(flat);
    srste_mask_from(flat, m);
    return m;
  }
  // Parallel GaP inside a phase: the model every worker agrees on is the common sparse one.
  return parallel_gap() ? common_ : mask_;
}

SparsityReport Pruner::report() const { return sparsity_report(layers_, mask_, ctx_.uses); }

int64_t Pruner::take_flips() {
  const int64_t flips = mask_flips(layers_, mask_, sad_reference_);
  sad_reference_.copy_(mask_);
  return flips;
}

std::vector<std::string> Pruner::state_names() const {
  std::vector<std::string> names{"sparse.mask", "sparse.sad_reference"};
  if (parallel_gap()) names.push_back("sparse.gap_common");
  return names;
}

std::map<std::string, at::Tensor> Pruner::state() const {
  std::map<std::string, at::Tensor> out{{"sparse.mask", mask_}, {"sparse.sad_reference", sad_reference_}};
  if (parallel_gap()) out["sparse.gap_common"] = common_;
  return out;
}

void Pruner::load_state(const std::map<std::string, at::Tensor>& tensors) {
  for (const auto& name : state_names()) {
    auto it = tensors.find(name);
    if (it == tensors.end()) throw std::runtime_error("sparse state: the checkpoint has no '" + name + "'");
    if (it->second.numel() != mask_.numel()) {
      throw std::runtime_error("sparse state: '" + name + "' has " + std::to_string(it->second.numel()) +
                               " entries, the model has " + std::to_string(mask_.numel()));
    }
  }
  mask_.copy_(tensors.at("sparse.mask"));
  sad_reference_.copy_(tensors.at("sparse.sad_reference"));
  if (parallel_gap()) {
    common_.copy_(tensors.at("sparse.gap_common"));
    // Inside a phase the own mask has a dense partition on top of the common one.
    growing_ = !mask_.equal(common_);
  }
  ++mask_epoch_;
}

}  // namespace gossamer::sparse
