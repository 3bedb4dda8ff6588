// Pruner: keeps a model's weights sparse during training, following one method's schedule.
//
// It works on the model's flat parameter and gradient buffers (train/flat_parameters.h) and is
// driven by four calls around each training step:
//
//   before_forward(t)  SR-STE: the forward pass sees the N:M-masked weights
//   after_backward(t)  SR-STE: straight-through gradient (+ λ_W term); RigL/SET: drop and regrow;
//                      every method: the gradient is masked, so momenta of pruned weights stay 0
//   after_step(t, S)   scheduled pruning (one-shot, GMP, GaP); then the weights and every optimizer
//                      state tensor in S are multiplied by the mask
//   finish(T, S)       end of training after T steps: SR-STE's N:M mask is made permanent, and
//                      a run stopped before its schedule ended is pruned to the target
//
// Several workers: every mask decision is taken from statistics averaged over the workers (the
// mean model's magnitudes, the mean dense gradient) and the mask is then broadcast from rank 0, so
// all workers hold the same mask bit for bit and gossip averaging can never bring a pruned weight
// back. WoodFisher pruning also moves every worker to the pruned mean model (its weight update is
// computed for one model). Parallel GaP is the exception inside a phase: each worker grows its
// own partition, the optimizer's messages carry each worker's own mask (sparse/pruner_masks.h and
// optim/message_seam.h) so that a grown weight is averaged only with the workers that hold it, and at every phase boundary the
// workers combine their partitions and agree on one mask and one model again. Masks are saved
// through state() / load_state() for exact resume.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gossamer/sparse/allocation.h"
#include "gossamer/sparse/layout.h"
#include "gossamer/sparse/metrics.h"
#include "gossamer/sparse/pattern.h"
#include "gossamer/sparse/woodfisher.h"

namespace gossamer::comm {
class Communicator;
}

namespace gossamer::sparse {

class GapTimeline;

enum class PruneMethod { None, OneShot, Gmp, Gap, Rigl, Set, SrSte };
enum class PruneScorer { Magnitude, WoodFisher };
// GaP across workers: cyclic = one partition dense at a time, the same one on every worker;
// parallel = worker w keeps partition (w mod K) dense, so all K partitions grow at once, and the
// phase ends with a combination of the K grown-and-pruned partitions (docs/sparse.md).
enum class GapMode { Cyclic, Parallel };

PruneMethod parse_prune_method(const std::string& name);  // none | oneshot | gmp | gap | rigl | set | srste
PruneScorer parse_prune_scorer(const std::string& name);  // magnitude | woodfisher
GapMode parse_gap_mode(const std::string& name);          // cyclic | parallel
std::string to_string(PruneMethod method);

struct PruneSpec {
  PruneMethod method = PruneMethod::None;
  double sparsity = 0.9;  // target over the pruned layers (N:M patterns force 1 − n/m)
  PruneScorer scorer = PruneScorer::Magnitude;
  Pattern pattern;
  AllocationSpec allocation;
  int64_t start_step = 0;      // oneshot: prune after this many steps; gmp/rigl/set: first update
  int64_t end_step = 0;        // gmp/gap/rigl/set: last update (steps)
  int64_t update_every = 100;  // gmp/rigl/set: steps between updates
  double initial_sparsity = 0.0;  // gmp: s_0
  double drop_fraction = 0.3;     // rigl/set
  int64_t gap_partitions = 4;
  int64_t gap_phase_steps = 1000;  // gap: steps each partition stays dense
  GapMode gap_mode = GapMode::Cyclic;
  double gap_rewarm = 1.0;  // parallel GaP: lr re-warm after a combination, as a fraction of a phase
  double srste_lambda = 2e-4;
  int64_t woodfisher_samples = 64;
  WoodFisherOptions woodfisher;
  uint64_t seed = 1;  // random initial masks (GaP, RigL, SET) and SET's regrowth
  // Throws std::invalid_argument naming the setting when a combination cannot work.
  void validate() const;
};

struct PrunerContext {
  comm::Communicator* comm = nullptr;  // required with several workers
  // WoodFisher: write the loss gradient of mini-batch `index` at the current weights into the flat
  // gradient buffer.
  std::function<void(int64_t index)> sample_gradient;
  std::vector<int64_t> uses;  // per pruned layer, for FLOP counts (empty = 1 each)
};

class Pruner {
 public:
  // `parameters`: every parameter's slice of the flat buffers `values` and `gradients` ([numel]).
  Pruner(PruneSpec spec, const std::vector<ParamSlice>& parameters, at::Tensor values, at::Tensor gradients,
         PrunerContext ctx = {});

  bool enabled() const { return spec_.method != PruneMethod::None; }
  const PruneSpec& spec() const { return spec_; }
  const std::vector<ParamSlice>& layers() const { return layers_; }

  // A fresh run: the method's initial mask (random sparse for GaP, RigL and SET; dense otherwise,
  // or the pruned model right away for one-shot at step 0), applied to the weights.
  void start();
  void before_forward(int64_t step);
  void after_backward(int64_t step);
  void after_step(int64_t step, const std::vector<at::Tensor>& optimizer_state);
  void finish(int64_t steps_done, const std::vector<at::Tensor>& optimizer_state);

  // Applies to `flat` (a copy of some weights, e.g. the mean model) what deployment would: SR-STE's
  // N:M mask computed from those weights; the current mask for every other method.
  void make_deployable(at::Tensor& flat) const;
  // The mask make_deployable applies to `flat`: SR-STE's N:M mask of those weights, parallel GaP's
  // common mask (inside a phase a worker's own mask also keeps its grown partition), else mask().
  at::Tensor deployable_mask(const at::Tensor& flat) const;

  // [numel], 1 = kept; ones outside the pruned layers.
  const at::Tensor& mask() const { return mask_; }
  SparsityReport report() const;
  // Mask positions that changed since the previous call (SAD), and the number of pruned-layer weights.
  int64_t take_flips();
  int64_t pruned_layer_numel() const { return pruned_numel_; }
  // Factor on the scheduled lr at `step`: 1, except after a parallel-GaP combination, where it
  // climbs linearly from 1/R to 1 over the R = gap_rewarm · phase steps that follow (a function of
  // the step alone, so a resumed run gets the same lrs).
  double lr_factor(int64_t step) const;
  // Steps at which the mask changes, for progress messages: true if `step` had a mask update.
  bool updated_at(int64_t step) const { return last_update_step_ == step; }

  // Parallel GaP. During a phase worker r holds the common mask plus partition (r mod K) dense,
  // so the workers' masks differ; between phases (and with every other method) they are equal.
  bool masks_differ() const { return growing_; }
  // The mask rank `rank` holds now (computed, not communicated: every worker knows the common
  // mask and the partition each rank grows). [numel]
  at::Tensor worker_mask(int rank) const;
  // Increases whenever some worker's mask may have changed (every method); for caches such as the
  // message seam's packed layouts.
  int64_t mask_epoch() const { return mask_epoch_; }
  // Partition rank `rank` keeps dense in parallel GaP (rank mod K), or -1 for other methods.
  int64_t grown_partition(int rank) const;

  std::map<std::string, at::Tensor> state() const;
  void load_state(const std::map<std::string, at::Tensor>& tensors);
  // Names of the tensors in state(): the mask and SAD reference, plus parallel GaP's common mask.
  std::vector<std::string> state_names() const;

 private:
  at::Tensor layer(at::Tensor& flat, size_t i) const;
  int world() const;
  const at::Tensor& mean_values();            // the mean model (own weights with one worker)
  at::Tensor mean_gradients();                // the mean dense gradient
  void agree_on_mask();                       // broadcast from rank 0
  void apply_mask(const std::vector<at::Tensor>& optimizer_state);
  std::vector<int64_t> target_keep() const;   // per layer, at the target sparsity (score-free allocations)
  void random_masks();
  void prune_to(double sparsity);             // oneshot / gmp
  void prune_layers(size_t begin, size_t end);  // gap: magnitude back to target
  bool parallel_gap() const { return spec_.method == PruneMethod::Gap && spec_.gap_mode == GapMode::Parallel; }
  void grow_own_partition();                  // parallel gap: mask = common + own partition dense
  void combine_and_prune();                   // parallel gap: end of a phase
  void woodfisher_prune(double sparsity);
  void drop_and_grow(int64_t step);           // rigl / set
  void srste_mask_from(const at::Tensor& flat, at::Tensor& out_mask) const;

  PruneSpec spec_;
  PrunerContext ctx_;
  std::vector<ParamSlice> layers_;
  int64_t pruned_numel_ = 0;
  at::Tensor values_, gradients_;
  at::Tensor mask_, sad_reference_, mean_, dense_;
  int64_t last_update_step_ = -1;
  std::shared_ptr<const GapTimeline> gap_;  // GaP only
  at::Tensor common_;        // parallel GaP: the mask every worker shares (target sparsity everywhere)
  bool growing_ = false;     // parallel GaP: inside a phase (masks differ between workers)
  int64_t mask_epoch_ = 0;
};

}  // namespace gossamer::sparse
