// RobustMixing: the message seam's rule for robust aggregation, with the attacks injected where a
// Byzantine worker's messages leave it (docs/robust.md).
//
// Every message travels as its own packet (compress/packet.h: header, element count, CRC-32), so
// that a receiver holds each sender's vector:
//   average / group_average  all-to-all among the members; every member aggregates the members'
//                            vectors (its own included) with the configured Aggregator;
//   mix                      to graph neighbours; the receiver combines its own model and its
//                            in-neighbours' by self-centered clipping (ClippedGossip,
//                            x_i + sum_j w_ij clip(x_j - x_i, tau_i)), by the W-weighted mean, or by
//                            the Aggregator over {itself} + neighbours (unweighted).
// A packet that is empty, malformed (checksum, size, format) or carries NaN/Inf is rejected: the
// receiver counts it, logs the sender once, and combines the rest (in mix, a rejected neighbour's
// weight stays with the receiver's own model).
//
// Attackers (options.attackers) send attack::forge's message instead of their own; an attack that
// needs the honest messages first runs an oracle round (an allgather of every worker's true
// message) whose bytes and modelled time are reported as simulation traffic, not as the
// algorithm's (MessageSeam subtracts them). The rule never uses the attacker list to aggregate: it
// uses it to forge, and to measure (the Byzantine share of each aggregate).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "gossamer/comm/communicator.h"
#include "gossamer/optim/message_seam.h"
#include "gossamer/robust/aggregator.h"
#include "gossamer/robust/attack.h"

namespace gossamer::optim {

struct RobustMixingOptions {
  robust::AggregatorOptions aggregator;  // averages, and mix unless gossip says otherwise
  // How mix combines neighbours: "clipped" (ClippedGossip), "mean" (W-weighted) or "aggregator".
  std::string gossip = "mean";
  // ClippedGossip's radius tau_i: > 0 fixed; 0 = adaptive, the (f+1)-th largest distance
  // ||x_j - x_i|| among the neighbours received (f = aggregator.f), so that the f farthest are
  // clipped to it (the epfml code's rule; the paper's theoretical radius needs unknown constants).
  double gossip_radius = 0;
  // > 0: averages carry the worker momentum m <- beta m + x instead of x (centered clipping's
  // setting; the local optimizer then runs without momentum). Dense state [numel].
  double worker_momentum = 0;
  std::vector<int> attackers;  // ranks that attack (sorted), for forging and measuring
  robust::AttackOptions attack;
  int64_t numel = 0;           // length of the flat parameter vector
};

// Counters and means since the last take_metrics().
struct RobustWindow {
  uint64_t calls = 0;
  uint64_t rejected = 0;
  double byzantine_share = 0;  // summed over calls
  double deviation = 0;        // ||aggregate - mean of honest inputs|| / ||mean of honest inputs||, summed
  double clipped = 0;          // inputs clipped, summed
  std::map<int, double> share;  // per sender, summed over calls
};

class RobustMixing final : public Mixing {
 public:
  explicit RobustMixing(RobustMixingOptions options);

  void mix(comm::Communicator& comm, at::Tensor& x, const topology::Topology& topo, int64_t step) override;
  void average(comm::Communicator& comm, at::Tensor& x) override;
  void group_average(comm::Communicator& comm, at::Tensor& x, const std::vector<int>& group) override;
  bool exact_linear() const override { return false; }
  void set_layout(const at::Tensor& index) override;
  std::map<std::string, at::Tensor> state() const override;
  void load_state(const std::map<std::string, at::Tensor>& state) override;
  std::vector<at::Tensor> state_tensors() override;
  std::string name() const override;
  uint64_t simulation_bytes() const override { return oracle_bytes_; }
  double simulation_seconds() const override { return oracle_seconds_; }
  std::map<std::string, double> take_metrics() override;

  // Whole run: messages rejected, and the senders the aggregator has excluded (SafeguardSGD).
  uint64_t rejected_total() const { return rejected_total_; }
  std::vector<int> excluded() const { return aggregator_->excluded(); }

 private:
  bool attacking(int rank) const;
  void over(comm::Communicator& comm, at::Tensor& x, const std::vector<int>& members);
  std::vector<at::Tensor> oracle(comm::Communicator& comm, const at::Tensor& message);
  void pack(const at::Tensor& message, comm::Bytes& packet) const;
  comm::Bytes attack_packet(const robust::AttackView& view, int64_t call, int rank) const;
  // Fills `into` ([d]) from a packet; false (counted; logged when first_receiver, once per
  // sender) when rejected.
  bool accept(const comm::Bytes& packet, int sender, int receiver, bool first_receiver, at::Tensor& into);
  // [rows, d] rows of a buffer kept across calls.
  at::Tensor input_rows(int64_t rows, int64_t d);
  void measure(const robust::AggregateReport& report, const std::vector<int>& senders, const at::Tensor& inputs,
               const at::Tensor& result);

  RobustMixingOptions o_;
  std::unique_ptr<robust::Aggregator> aggregator_;
  std::set<int> attackers_;
  bool oracle_ = false;
  int64_t calls_ = 0;
  at::Tensor layout_, momentum_;
  at::Tensor result_;
  at::Tensor inputs_;  // [rows, d] the received messages, reused
  uint64_t oracle_bytes_ = 0;
  double oracle_seconds_ = 0;
  uint64_t rejected_total_ = 0;
  std::set<int> logged_;  // senders whose rejection was logged
  RobustWindow window_;
};

}  // namespace gossamer::optim
