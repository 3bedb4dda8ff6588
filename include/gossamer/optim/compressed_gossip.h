// CompressedGossip: CHOCO-SGD's gossip (Koloskova, Stich, Jaggi 2019, arXiv 1902.00340; the deep
// learning study arXiv 1907.09356) as a mixing rule of the message seam (message_seam.h).
//
// Every worker i keeps a public copy x̂_i of its model that all its neighbours also know, and
// s_i = sum_j w_ij x̂_j, the weighted sum of its neighbours' copies (its own included). One mix of
// the message x (= the model after the local step, x½ in the paper):
//   q_i  = C(x - x̂_i)             one compressed packet, sent to every out-neighbour
//   x̂_i += D(q_i)                 what every neighbour reconstructs
//   s_i += sum_j w_ij D(q_j)       (self included: the receivers' arithmetic)
//   x   <- x + γ (s_i - x̂_i)       the consensus step γ ∈ (0, 1]
// Only the packets travel (Communicator::exchange, counted as packet bytes). With W doubly
// stochastic the step keeps the workers' mean (sum_i (s_i - x̂_i) = 0); with C the identity and
// γ = 1 it is plain gossip x <- W x. Keeping s_i instead of every neighbour's copy is the
// memory-saving form of the paper's Algorithm 1 (two vectors per worker); it needs the same W at
// every step, so time-varying topologies are refused.
//
// Shared random choices (random-k's coordinates) are keyed by the rule's count of mixes,
// private ones (stochastic rounding) add the rank. x̂ and s cover the flat parameters; a sparse
// model's packed messages read and write them at the layout's coordinates (set_layout). Several
// messages per step (several parameter tensors, mixed in the same order every step) each get
// their own copies. Not exact linear mixing; averages are not part of CHOCO (average() throws).
#pragma once

#include <memory>
#include <vector>

#include "gossamer/comm/communicator.h"
#include "gossamer/compress/compressor.h"
#include "gossamer/optim/message_seam.h"

namespace gossamer::optim {

// Throws std::invalid_argument (naming the topology) unless it has one mixing matrix for every step.
void require_static_topology(const topology::Topology& topo);

class CompressedGossip final : public Mixing {
 public:
  // `numels`: the sizes of the messages mixed in each step, in call order (the parameter tensors).
  // Throws std::invalid_argument for a null compressor or γ outside (0, 1].
  CompressedGossip(std::unique_ptr<compress::Compressor> compressor, double consensus_step,
                   std::vector<int64_t> numels);

  void mix(comm::Communicator& comm, at::Tensor& x, const topology::Topology& topo, int64_t step) override;
  void average(comm::Communicator& comm, at::Tensor& x) override;
  void group_average(comm::Communicator& comm, at::Tensor& x, const std::vector<int>& group) override;
  bool exact_linear() const override { return false; }
  void set_layout(const at::Tensor& index) override { layout_ = index; }
  std::string name() const override;
  // "calls", and per message k "copy.k" (x̂) and "neighbours.k" (s).
  std::map<std::string, at::Tensor> state() const override;
  void load_state(const std::map<std::string, at::Tensor>& state) override;
  std::vector<at::Tensor> state_tensors() override;

  double consensus_step() const { return gamma_; }
  const at::Tensor& copy(size_t k) const { return copies_.at(k); }

 private:
  std::unique_ptr<compress::Compressor> compressor_;
  double gamma_;
  std::vector<at::Tensor> copies_, sums_;  // x̂_i and s_i per message, [numel] float32
  int64_t calls_ = 0;                      // mixes made: message calls_ % numels.size() comes next
  const topology::Topology* topology_ = nullptr;  // the one this rule gossips over (checked static)
  at::Tensor layout_;
  // Reused buffers (one message's size).
  comm::Bytes packet_;
  at::Tensor copy_, sum_, diff_, decoded_;
};

}  // namespace gossamer::optim
