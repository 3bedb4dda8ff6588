// Traffic of one call on one worker: the bytes and point-to-point messages the algorithm moves,
// and its modelled time under the α-β NetworkModel. Both backends count with these functions, so
// equal calls report equal numbers on InProcess (which moves nothing over a network and counts
// the traffic the same algorithm would send) and on Gloo. The formulas (docs/comm.md):
//
//   allreduce / group_allreduce (ring of n: reduce-scatter, then allgather; chunk c of the
//   flattened tensor has numel/n elements, the first numel%n chunks one more; rank i sends to
//   i+1 and receives from i-1):
//     sent     = 2*B - chunk[(i+1)%n] - chunk[(i+2)%n]      (= 2(n-1)/n * B when n | numel)
//     received = 2*B - chunk[i]       - chunk[(i+1)%n]
//     messages = 2(n-1) each way;  seconds = 2(n-1) * (α + max_chunk/β)
//   broadcast (binomial tree rooted at root, as gloo::broadcast): B per child sent, B received
//     by every non-root;  seconds = ceil(log2 n) * (α + B/β) on every rank
//   allgather (ring, as gloo::allgather): (n-1)*B each way, n-1 messages;
//     seconds = (n-1) * (α + B/β)
//   barrier (dissemination, as gloo::barrier): ceil(log2 n) zero-byte messages each way;
//     seconds = ceil(log2 n) * α
//   neighbor_allreduce: B to each out-neighbour, B from each in-neighbour (self excluded);
//     links work in parallel: seconds = α + B/β if any message moves
//   exchange: each packet costs kExchangeHeaderBytes + its size and one message; links in
//     parallel: seconds = max over this worker's packets of α + bytes/β; packets to self are free
// where B = numel * element size. Calls on empty tensors, and any call with n = 1, move nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace gossamer::topology {
class Topology;
}

namespace gossamer::comm {

struct NetworkModel;

struct Traffic {
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  uint64_t messages_sent = 0;
  uint64_t messages_received = 0;
  double seconds = 0.0;
};

// The size header every exchanged packet carries (an int64 byte count).
constexpr size_t kExchangeHeaderBytes = 8;

// Elements of chunk c when numel elements are split over n ranks (first numel%n chunks get +1).
int64_t ring_chunk(int n, int64_t numel, int c);
// First element of chunk c.
int64_t ring_chunk_offset(int n, int64_t numel, int c);

Traffic ring_allreduce_traffic(int n, int index, int64_t numel, size_t element_size, const NetworkModel& net);
Traffic broadcast_traffic(int n, int rank, int root, size_t bytes, const NetworkModel& net);
Traffic allgather_traffic(int n, size_t bytes, const NetworkModel& net);
Traffic barrier_traffic(int n, const NetworkModel& net);
Traffic neighbor_traffic(const topology::Topology& topo, int rank, int64_t step, size_t bytes,
                         const NetworkModel& net);
// Payload sizes of the packets sent to / received from other ranks (self excluded).
Traffic exchange_traffic(const std::vector<size_t>& sent, const std::vector<size_t>& received,
                         const NetworkModel& net);

// ceil(log2 n) for n >= 1.
int log2_ceil(int n);

}  // namespace gossamer::comm
