// Aggregator: the vectors one worker received (its own included) to one vector, robust to some of
// them being arbitrary (docs/robust.md). Rules: mean, coordinate median, trimmed mean, Krum,
// Multi-Krum, geometric median (smoothed Weiszfeld), centered clipping, SafeguardSGD; NNM and
// bucketing as pre-aggregators in front of any of them.
//
// Inputs are rows of one [n, d] float32 tensor, each named by its sender (a rank). A rule never
// learns which senders are Byzantine; it reports what it did (each input's share of the result,
// which inputs it clipped, whom it evicted) so that the caller, who may know, can measure it.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace gossamer::robust {

// What one aggregation did, row by row of its inputs.
struct AggregateReport {
  // Share of each input in the result, summing to 1 (0 for an input the rule ignored). For rules
  // that output a weighted mean of the inputs (mean, Krum, Multi-Krum, geometric median, SafeguardSGD)
  // the weights; for coordinate-wise rules (median, trimmed mean) the fraction of coordinates whose
  // value came from the input; for centered clipping each input's clipping factor in the last
  // iteration, normalised. Through a pre-aggregator, the shares of the inner rule mapped back.
  std::vector<double> share;
  std::vector<bool> clipped;  // centered clipping: the inputs shortened in the last iteration
  std::vector<int> evicted;   // SafeguardSGD: senders evicted by this call
};

class Aggregator {
 public:
  virtual ~Aggregator();
  // out ([d], float32, contiguous) <- the aggregate of the rows of `inputs` ([n, d] float32,
  // contiguous). senders[k] is the rank that sent row k (ascending); stateful rules keep state per
  // sender. Throws std::invalid_argument when n < min_inputs().
  virtual void aggregate(const at::Tensor& inputs, const std::vector<int>& senders, at::Tensor& out,
                         AggregateReport& report) = 0;
  // The fewest inputs the rule is defined on (Krum: 2f + 3; trimmed mean: 2b + 1).
  virtual int64_t min_inputs() const { return 1; }
  virtual std::string name() const = 0;
  // State kept across calls, for checkpoints, and its tensors whose last dimension is the message
  // coordinate (so that a caller whose message layout changes can move them along).
  virtual std::map<std::string, at::Tensor> state() const { return {}; }
  virtual void load_state(const std::map<std::string, at::Tensor>& state) {}
  virtual std::vector<at::Tensor*> coordinate_state() { return {}; }
  // Allocates the state for messages of d coordinates, so that state() names every key before the
  // first call (a checkpoint is read by the names it had at the start).
  virtual void reserve(int64_t d) {}
  // Senders excluded from now on (SafeguardSGD's evicted workers); empty for the other rules.
  virtual std::vector<int> excluded() const { return {}; }
};

// SafeguardSGD (Allen-Zhu et al. 2021, arXiv 2012.14368): per sender, running sums A (since the last
// window1 boundary) and B (since the last window0 boundary) of its messages divided by the number
// of good senders; a sender whose A or B is farther than 2·threshold from the good median's is
// evicted; the output is the mean of the good senders' messages.
struct SafeguardOptions {
  int64_t window0 = 20;    // T0: the short window, in calls
  int64_t window1 = 200;   // T1: the long window, in calls
  // 𝔗0, 𝔗1: absolute thresholds (the paper's concentration bounds). 0 = automatic: the median
  // distance of the good senders' sums to the medoid's, recomputed every call (our choice; the
  // paper sets them by hand).
  double threshold0 = 0;
  double threshold1 = 0;
  bool readmit = false;    // evicted senders come back at the next window1 boundary
  int64_t world = 0;       // number of senders (ranks 0..world-1); required
};

struct AggregatorOptions {
  // mean | median | trimmed-mean | krum | multi-krum | geomed | cc | safeguard
  std::string rule = "mean";
  int64_t f = 1;           // Byzantine inputs tolerated: krum, multi-krum, nnm, and trimmed-mean's default trim
  int64_t trim = -1;       // trimmed-mean: b values dropped at each end of every coordinate (-1: f)
  int64_t select = -1;     // multi-krum: m inputs averaged (-1: n - f)
  double radius = 10;      // cc: τ, the clipping radius
  int64_t cc_iterations = 3;       // cc: L
  int64_t geomed_iterations = 8;   // geomed: Weiszfeld iterations
  double geomed_smoothing = 1e-6;  // geomed: ν, the smallest distance divided by
  std::string pre = "none";        // none | nnm | bucketing
  int64_t bucket_size = 2;         // bucketing: s inputs averaged per bucket
  uint64_t seed = 1;               // bucketing's permutations (the same on every rank for a call)
  SafeguardOptions safeguard;
  // Throws std::invalid_argument naming the field, the value and what is allowed.
  void validate() const;
};

// The configured rule (with its pre-aggregator). Validates the options.
std::unique_ptr<Aggregator> make_aggregator(const AggregatorOptions& options);

// The rules make_aggregator knows, for messages.
const std::vector<std::string>& aggregator_names();

}  // namespace gossamer::robust
