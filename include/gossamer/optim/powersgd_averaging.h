// PowerSgdAveraging: PowerSGD (Vogels, Karimireddy, Jaggi 2019, arXiv 1905.13727) as a mixing rule
// of the message seam: the averages of the averaging algorithms (parallel-sgd's gradients,
// local-sgd / wagma / diloco's models) travel as rank-r factors of each layer's matrix.
//
// One average of the message x, per layer matrix M (rows x cols, M = x + e with error feedback):
//   P = M Q                         (Q: [cols, r], warm-started from the previous average)
//   allreduce-sum P; orthogonalise its columns (Gram-Schmidt, ε = 1e-8 so a zero column stays 0)
//   Q = Mᵀ P;  e = M − P Qᵀ         (this worker's own approximation: what it failed to send)
//   allreduce-mean Q;  x <- P Qᵀ    (the same on every worker)
// Layers whose factors would not halve the bytes ((rows + cols) r 2 >= rows cols, PyTorch's rule)
// and coordinates outside every layer (biases are vectors) travel uncompressed, appended to P's
// allreduce, so each average costs exactly two allreduces. The first `start_step` averages are
// plain allreduces (PyTorch's start_powerSGD_iter; no error is kept then). Q starts as a
// standard normal matrix drawn from the shared seed, identical on every worker.
//
// Where this differs from PyTorch's hook: the error kept is M − P Q_iᵀ with this worker's Q before
// averaging (the paper's and epfml's reference code), not M − P Q̄ᵀ (the two have the same sum over
// workers); uncompressed tensors share P's allreduce instead of a separate one.
//
// Messages must be the flat parameters (dense): a sparse model's packed values have no matrix
// shape, so a packed layout is refused. Not exact linear mixing; averages only (mix throws).
#pragma once

#include <cstdint>
#include <vector>

#include "gossamer/compress/low_rank.h"
#include "gossamer/optim/message_seam.h"

namespace gossamer::optim {

struct PowerSgdOptions {
  int64_t rank = 1;           // r
  int64_t start_step = 0;     // plain allreduces before compression starts
  bool error_feedback = false;  // as compress.error_feedback; PyTorch's hook uses true (set it)
  uint64_t seed = 1;          // Q's initial draw (shared by every worker)
  double eps = 1e-8;          // orthogonalisation's guard
};

// One tensor of the flat message: where it starts and its shape.
struct MessageTensor {
  int64_t offset = 0;
  std::vector<int64_t> shape;
};

class PowerSgdAveraging final : public Mixing {
 public:
  // `tensors` in ascending offset, non-overlapping, inside [0, numel). Throws std::invalid_argument
  // for bad options (naming the field) or tensors.
  PowerSgdAveraging(const PowerSgdOptions& options, const std::vector<MessageTensor>& tensors, int64_t numel);

  void mix(comm::Communicator& comm, at::Tensor& x, const topology::Topology& topo, int64_t step) override;
  void average(comm::Communicator& comm, at::Tensor& x) override;
  void group_average(comm::Communicator& comm, at::Tensor& x, const std::vector<int>& group) override;
  bool exact_linear() const override { return false; }
  bool supports_mix() const override { return false; }
  void set_layout(const at::Tensor& index) override;
  std::string name() const override;
  // "calls", "q" (the warm start) and, with error feedback, "error".
  std::map<std::string, at::Tensor> state() const override;
  void load_state(const std::map<std::string, at::Tensor>& state) override;
  std::vector<at::Tensor> state_tensors() override;

  // Values sent per average once compression runs (P's and Q's allreduce messages together).
  int64_t message_values() const { return p_values_ + q_values_; }
  int64_t compressed_layers() const { return static_cast<int64_t>(layers_.size()); }
  const at::Tensor& error_memory() const { return memory_; }

 private:
  struct Layer {
    int64_t offset, rows, cols, p_offset, q_offset;
  };
  void over(comm::Communicator& comm, at::Tensor& x, const std::vector<int>* group);

  PowerSgdOptions options_;
  int64_t numel_;
  std::vector<Layer> layers_;                            // factored
  std::vector<std::pair<int64_t, int64_t>> plain_;       // (offset, numel) sent as they are
  int64_t p_values_ = 0, q_values_ = 0, plain_values_ = 0;
  at::Tensor q_;       // [q_values_] every layer's Q, warm start
  at::Tensor memory_;  // [numel] error feedback
  at::Tensor p_msg_, m_;  // reused: P's message (+ plain values), the compensated message
  bool packed_ = false;
  int64_t calls_ = 0;
};

}  // namespace gossamer::optim
