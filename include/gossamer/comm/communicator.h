// Communicator: one per worker, blocking collectives and neighbour exchanges, each bounded by a
// timeout, with byte/message counters and an α-β network model for "what would this cost on a
// real network". Backends: InProcess (threads of one process, shared memory; the embedded
// default) and Gloo (c10d::ProcessGroupGloo; one worker per process, any number of machines).
// Counters and modelled time follow the formulas in traffic.h, identical on both backends, so a
// run on InProcess reports the same bytes as the same run on Gloo. See docs/comm.md.
#pragma once

#include <ATen/core/Tensor.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace gossamer::topology {
class Topology;
}

namespace gossamer::comm {

enum class ReduceOp { Sum, Mean };

// α-β model of one link: a message of b bytes costs latency_s + b / bandwidth_bytes_per_s.
// Defaults: 50 µs and 1 Gbit/s, a modest cluster Ethernet.
struct NetworkModel {
  double latency_s = 50e-6;
  double bandwidth_bytes_per_s = 1.25e8;
  double seconds(size_t bytes) const;
};

// What this worker put on / took off the wire since the last reset_stats(). Bytes are payload
// bytes (tensor data, packet bytes and exchange size headers); messages count point-to-point
// messages of the algorithm (see traffic.h). modelled_seconds sums, per call, the critical path
// of that call under network() (the per-call formulas are in traffic.h).
struct CommStats {
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  uint64_t messages_sent = 0;
  uint64_t messages_received = 0;
  double modelled_seconds = 0.0;
  uint64_t calls = 0;  // blocking calls completed (any kind)
};

// A peer failed, vanished, or the group was aborted; the message names the rank(s) and the op.
class CommError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A blocking call exceeded its timeout; the message names the op, this rank, the ranks waited
// for (where known) and the timeout.
class CommTimeout : public CommError {
 public:
  using CommError::CommError;
};

// Long enough for a slow first step (allocation, JIT of nothing, first touch of 100s of MB), short
// enough that a dead peer is reported within a minute. Change per communicator with set_timeout().
constexpr std::chrono::milliseconds kDefaultTimeout{60000};

using Bytes = std::vector<uint8_t>;

struct Traffic;  // traffic.h

class Communicator {
 public:
  virtual ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string backend() const = 0;  // "inprocess" | "gloo"

  // In place over all ranks; t contiguous CPU float32/float64, same shape on every rank.
  // InProcess sums in rank order 0..n-1 (bit-identical on every rank and run to run); Gloo uses
  // its ring, equal up to float summation order.
  virtual void allreduce(at::Tensor& t, ReduceOp op = ReduceOp::Sum) = 0;
  // Copies root's t into every rank's t (any dtype, contiguous, same shape everywhere).
  virtual void broadcast(at::Tensor& t, int root) = 0;
  // Every rank's t (same shape and dtype on every rank), in rank order; fresh tensors.
  virtual std::vector<at::Tensor> allgather(const at::Tensor& t) = 0;
  virtual void barrier() = 0;
  // x_i <- sum_j w_ij x_j with W = topo.matrix(step), in place, summed in ascending j (self
  // included) on both backends; only neighbour traffic. Every rank calls it (with the same step).
  // t contiguous float32/float64, same shape on every rank.
  virtual void neighbor_allreduce(at::Tensor& t, const topology::Topology& topo, int64_t step) = 0;
  // The in-neighbours' individual tensors at step k (W = topo.matrix(step), self excluded), for
  // mixing rules that are not a weighted sum (robust aggregation, compressed gossip): result[k] is
  // a fresh copy of the tensor of topo.in_neighbors(rank(), step)[k], in that order (ascending
  // rank). Sends t to every out-neighbour. Every rank calls it with the same step, shape and dtype
  // (any dtype, contiguous); same timeouts and failure messages as neighbor_allreduce, and the
  // same traffic (traffic.h: B to each out-neighbour, B from each in-neighbour).
  virtual std::vector<at::Tensor> neighbor_gather(const at::Tensor& t, const topology::Topology& topo,
                                                  int64_t step) = 0;
  // Reduce over `group` (sorted ranks including this rank); ranks outside the group don't call
  // it. Disjoint groups may run concurrently. InProcess sums in group order.
  virtual void group_allreduce(at::Tensor& t, const std::vector<int>& group, ReduceOp op = ReduceOp::Mean) = 0;
  // Variable-size byte packets: sends each (dst, packet) of `out`, receives one packet from each
  // rank in `from`; result[i] is the packet from from[i]. Packets between a pair are matched in
  // call order. Empty packets are allowed (they still cost a size header). Ranks not involved
  // need not call.
  virtual std::vector<Bytes> exchange(const std::vector<std::pair<int, Bytes>>& out,
                                      const std::vector<int>& from) = 0;

  const CommStats& stats() const { return stats_; }
  void reset_stats() { stats_ = CommStats{}; }
  const NetworkModel& network() const { return network_; }
  void set_network(NetworkModel m);
  std::chrono::milliseconds timeout() const { return timeout_; }
  void set_timeout(std::chrono::milliseconds t);

 protected:
  explicit Communicator(std::chrono::milliseconds timeout = kDefaultTimeout);
  // Adds one call's traffic (from traffic.h) to the counters.
  void record(const Traffic& t);

  CommStats stats_;
  NetworkModel network_;
  std::chrono::milliseconds timeout_;
};

}  // namespace gossamer::comm
