// CompressedAveraging: a mixing rule (message_seam.h) whose averages travel as compressed packets
// (compress/): every participant encodes its message — with error feedback if asked, the memory
// kept here — sends the packet to every other participant (Communicator::exchange: the bytes
// counted are the packets'), decodes everyone's packets, its own included, and sums them in rank
// order, so every participant ends with the same bits. Summable packets (Compressor::summable(),
// random-k) instead go through one allreduce of their payload values, summed undecoded, and the
// sum is decoded once: 2(n-1)/n payloads sent instead of n - 1. For the averaging algorithms
// (parallel-sgd's gradients, local-sgd / wagma / diloco's models); gossip needs compressed
// gossip with copies of the neighbours' models (CHOCO), which this rule is not, so gossip
// algorithms refuse it (supports_mix() is false). Not exact linear mixing.
//
// Random choices: shared ones (random-k's coordinates) are keyed by the number of averages this
// rule has made, equal on every participant; private ones add the rank. With error feedback the
// memory covers the flat parameters; a sparse model's packed messages read and write it at their
// layout's coordinates (set_layout), so a mask that changes does not misalign it.
#pragma once

#include <memory>
#include <vector>

#include "gossamer/comm/communicator.h"
#include "gossamer/compress/compressor.h"
#include "gossamer/compress/error_feedback.h"
#include "gossamer/optim/message_seam.h"

namespace gossamer::optim {

class CompressedAveraging final : public Mixing {
 public:
  // `numel`: the size of the messages (the flat parameters), so that the error memory exists, and is
  // checkpointed, from the start; every message must have it.
  CompressedAveraging(std::unique_ptr<compress::Compressor> compressor, bool error_feedback, int64_t numel);

  void mix(comm::Communicator& comm, at::Tensor& x, const topology::Topology& topo, int64_t step) override;
  void average(comm::Communicator& comm, at::Tensor& x) override;
  void group_average(comm::Communicator& comm, at::Tensor& x, const std::vector<int>& group) override;
  bool exact_linear() const override { return false; }
  bool supports_mix() const override { return false; }
  void set_layout(const at::Tensor& index) override { layout_ = index; }
  std::string name() const override;
  // "calls" (the draw counter), with error feedback "error" (the memory), and "compressor" for a
  // compressor that adapts (Compressor::adapt, called before every encode: L-GreCo's choices).
  std::map<std::string, at::Tensor> state() const override;
  void load_state(const std::map<std::string, at::Tensor>& state) override;
  std::vector<at::Tensor> state_tensors() override;

  // The error-feedback memory, [numel] (undefined without error feedback).
  at::Tensor& error_memory() { return memory_.memory(); }
  int64_t numel() const { return numel_; }

 private:
  void over(comm::Communicator& comm, at::Tensor& x, const std::vector<int>& members);
  void sum_undecoded(comm::Communicator& comm, const at::Tensor& flat, const std::vector<int>& members, int64_t step);

  std::unique_ptr<compress::Compressor> compressor_;
  bool error_feedback_;
  int64_t numel_;
  compress::ErrorFeedback memory_;
  int64_t calls_ = 0;
  at::Tensor layout_;                  // the current call's coordinates (undefined: dense)
  comm::Bytes packet_;                 // this worker's packet, reused
  std::vector<at::Tensor> decoded_;    // per member, reused
  at::Tensor payload_sum_;             // summable packets: the payload values being allreduced
};

}  // namespace gossamer::optim
