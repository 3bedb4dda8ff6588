// MessageSeam: the one place where a distributed optimizer's messages leave the worker.
//
// Every algorithm says what it needs in three verbs: mix(x) with my graph neighbours
// (x_i <- sum_j w_ij x_j), average(x) over all workers, group_average(x) over a group. The seam
// decides how those messages travel:
//
//   1. layout   which coordinates a message carries. Dense by default; with MessageMasks installed
//               (a sparse model whose pruned weights are exactly zero) only the unmasked values
//               travel, packed in mask order, with no indices (every worker knows the mask).
//   2. mixing   how packed messages are combined: a Mixing rule. The default, ExactMixing, is the
//               communicator's linear collectives (neighbor_allreduce, allreduce, group_allreduce),
//               so an optimizer on the default seam computes exactly what it computed before the
//               seam existed. Compressors and robust aggregators are further Mixing rules.
//
// When the workers' masks differ (parallel GaP grows a different partition on each), worker j's
// message carries the values of its own mask m_j (an individual packet per neighbour), and the
// receiver averages each coordinate over the workers that hold it:
//   x_i[c] <- m_i[c] * (sum_j w_ij x_j[c]) * S / (sum_j w_ij m_j[c]),   S = sum_j w_ij,
// (S = n for average, the group size for group_average); on coordinates every worker holds this
// is plain mixing. That rule is not linear mixing with W, so an algorithm that needs exact
// linear mixing is refused with it (see DistributedOptimizer::needs_exact_mixing).
//
// A message is the flat parameter vector ([numel]) or a stack of such vectors ([k, numel], e.g.
// gradient tracking's model and tracker); with masks installed every message must be one of the
// two. Values outside the mask are left as they were (the pruner zeroes them).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace gossamer::comm {
class Communicator;
}
namespace gossamer::topology {
class Topology;
}

namespace gossamer::optim {

// Which coordinates of the flat parameter vector each worker's messages carry. Implemented by the
// sparse layer (sparse/pruner_masks.h); optim/ knows only this interface.
class MessageMasks {
 public:
  virtual ~MessageMasks();
  // Length of the flat parameter vector the masks cover.
  virtual int64_t numel() const = 0;
  // Changes whenever any rank's mask may have changed; the seam rebuilds its layouts then.
  virtual int64_t epoch() const = 0;
  // Whether ranks may hold different masks at some step of this run (fixed for the run).
  virtual bool may_differ() const = 0;
  // Whether they differ now (false means every rank holds mask(rank())).
  virtual bool differ() const = 0;
  // [numel] float, 1 = carried: the mask `rank` holds now. Values outside it are exactly 0 on that
  // rank whenever a message is sent.
  virtual at::Tensor mask(int rank) const = 0;
  // For messages: e.g. "the pruner's masks (gap, parallel)".
  virtual std::string describe() const = 0;
};

// How the (packed) messages of one call are combined. One object per worker. The communicator
// is the worker's own; `x` is contiguous, [rows, values] or [values], the same shape on every
// rank in the call (masks shared) — the rule must leave x holding the combined values.
class Mixing {
 public:
  virtual ~Mixing();
  virtual void mix(comm::Communicator& comm, at::Tensor& x, const topology::Topology& topo, int64_t step) = 0;
  virtual void average(comm::Communicator& comm, at::Tensor& x) = 0;
  virtual void group_average(comm::Communicator& comm, at::Tensor& x, const std::vector<int>& group) = 0;
  // True when mix applies W exactly and average is the exact mean (up to float summation order):
  // what gradient tracking's sum_i y_i = sum_i g_i or D²'s W̄ rely on.
  virtual bool exact_linear() const = 0;
  // False for a rule that only averages (mix throws): gossip algorithms refuse it when it is set.
  virtual bool supports_mix() const { return true; }
  // Before every call, the coordinates of the flat parameter vector its message carries: `index`
  // [kept] int64 ascending (the mask's layout), or undefined when the message is dense (every
  // coordinate, or no masks installed). A rule with state shaped like the parameters (error
  // feedback, CHOCO's public copies) keeps that state dense and reads and writes it at `index`,
  // so a mask that changes cannot misalign it. Stateless rules ignore it.
  virtual void set_layout(const at::Tensor& index) {}
  // State the rule keeps across calls, for checkpoints (keys without a prefix; the optimizer adds
  // "mixing."), and its tensors shaped like the flat parameters by handle, for masks.
  virtual std::map<std::string, at::Tensor> state() const { return {}; }
  virtual void load_state(const std::map<std::string, at::Tensor>& state) {}
  virtual std::vector<at::Tensor> state_tensors() { return {}; }
  virtual std::string name() const = 0;
  // Traffic the rule sent only to simulate something (an attack's oracle round), cumulative since
  // construction: the seam takes it out of what the algorithm is said to have sent.
  virtual uint64_t simulation_bytes() const { return 0; }
  virtual double simulation_seconds() const { return 0; }
  // Per-rule measurements since the last call (e.g. robust aggregation's shares), for metrics.jsonl.
  virtual std::map<std::string, double> take_metrics() { return {}; }
};

// The communicator's linear collectives, unchanged.
class ExactMixing final : public Mixing {
 public:
  void mix(comm::Communicator& comm, at::Tensor& x, const topology::Topology& topo, int64_t step) override;
  void average(comm::Communicator& comm, at::Tensor& x) override;
  void group_average(comm::Communicator& comm, at::Tensor& x, const std::vector<int>& group) override;
  bool exact_linear() const override { return true; }
  std::string name() const override { return "exact"; }
};

// What the seam's calls cost on this worker since construction (or reset_stats()).
struct SeamStats {
  uint64_t calls = 0;
  uint64_t bytes_sent = 0;        // the communicator's counter, summed over the seam's calls
  // The bytes the same calls would have sent as dense messages (every coordinate, float of the
  // message's dtype), from the formulas of comm/traffic.h: computed, not sent.
  uint64_t dense_bytes_sent = 0;
  uint64_t values_sent = 0;       // message coordinates carried (per call, rows x layout size)
  uint64_t dense_values = 0;      // the same for dense messages
  // Wall time spent packing messages into the mask's layout and unpacking them (measured with
  // steady_clock around those copies; the communication itself is not included).
  double pack_seconds = 0;
  // Traffic of the calls that only simulated something (Mixing::simulation_bytes), already taken
  // out of bytes_sent; the trainer takes it out of the communicator's counters too.
  uint64_t simulation_bytes = 0;
  double simulation_seconds = 0;
};

class MessageSeam {
 public:
  explicit MessageSeam(comm::Communicator& comm);
  ~MessageSeam();
  MessageSeam(const MessageSeam&) = delete;
  MessageSeam& operator=(const MessageSeam&) = delete;

  // x_i <- sum_j w_ij x_j, W = topo.matrix(step). Every rank calls it with the same step.
  void mix(at::Tensor& x, const topology::Topology& topo, int64_t step);
  // x <- mean over all ranks.
  void average(at::Tensor& x);
  // x <- mean over `group` (sorted ranks including this one); ranks outside do not call it.
  void group_average(at::Tensor& x, const std::vector<int>& group);

  // Sparse-aware messages: only the masked-in values travel. Null restores dense messages.
  // `masks` must outlive the seam (or be replaced first).
  void use_masks(const MessageMasks* masks);
  const MessageMasks* masks() const { return masks_; }
  // Replaces the mixing rule (never null).
  void set_mixing(std::unique_ptr<Mixing> mixing);
  const Mixing& mixing() const { return *mixing_; }
  Mixing& mixing() { return *mixing_; }

  // Whether every call is exact linear mixing: the rule is exact and the masks never differ.
  bool exact_linear() const;
  // "exact mixing, dense messages" / "exact mixing, packed by the pruner's masks (...)".
  std::string describe() const;

  comm::Communicator& communicator() { return comm_; }
  const SeamStats& stats() const { return stats_; }
  void reset_stats() { stats_ = SeamStats{}; }

 private:
  enum class Kind { Mix, Average, Group };
  struct Layout {
    at::Tensor index;    // [kept] int64 coordinates in ascending order
    int64_t kept = 0;
    bool dense = true;   // every coordinate kept: messages go unpacked
  };
  void call(Kind kind, at::Tensor& x, const topology::Topology* topo, int64_t step, const std::vector<int>* group);
  // Each returns the message coordinates this worker sent (rows x layout size).
  uint64_t call_shared(Kind kind, at::Tensor& x, const topology::Topology* topo, int64_t step,
                   const std::vector<int>* group);
  uint64_t call_differing(Kind kind, at::Tensor& x, const topology::Topology* topo, int64_t step,
                      const std::vector<int>* group);
  void run_mixing(Kind kind, at::Tensor& x, const topology::Topology* topo, int64_t step,
                  const std::vector<int>* group);
  void refresh_layouts();
  const Layout& layout_of(int rank);
  Layout make_layout(const at::Tensor& mask) const;
  const at::Tensor& coordinate_scale(const std::vector<std::pair<int, double>>& weights);
  int64_t rows_of(const at::Tensor& x, const char* verb) const;

  comm::Communicator& comm_;
  std::unique_ptr<Mixing> mixing_;
  const MessageMasks* masks_ = nullptr;
  int64_t epoch_ = -1;
  std::map<int, Layout> layouts_;  // per rank whose mask was needed in this epoch
  std::map<std::vector<int>, Layout> unions_;  // per set of ranks: the union of their masks
  std::map<std::vector<std::pair<int, double>>, at::Tensor> scales_;  // differing masks: per weight list
  at::Tensor packed_;  // reused [rows, kept] buffer
  std::vector<at::Tensor> unpacked_;  // per-worker masks: neighbours' messages made dense, reused
  at::Tensor mixed_;                  // per-worker masks: the mix before it replaces the message
  SeamStats stats_;
};

}  // namespace gossamer::optim
