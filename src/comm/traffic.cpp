#include "gossamer/comm/traffic.h"

#include "gossamer/comm/communicator.h"
#include "gossamer/topology/topology.h"

#include <algorithm>

namespace gossamer::comm {

int log2_ceil(int n) {
  int d = 0;
  while ((1 << d) < n) ++d;
  return d;
}

int64_t ring_chunk(int n, int64_t numel, int c) {
  const int64_t base = numel / n;
  const int64_t extra = numel % n;
  return base + (c < extra ? 1 : 0);
}

int64_t ring_chunk_offset(int n, int64_t numel, int c) {
  const int64_t base = numel / n;
  const int64_t extra = numel % n;
  return base * c + std::min<int64_t>(c, extra);
}

Traffic ring_allreduce_traffic(int n, int index, int64_t numel, size_t element_size, const NetworkModel& net) {
  Traffic t;
  if (n <= 1 || numel <= 0) return t;
  const auto bytes = [&](int c) { return static_cast<uint64_t>(ring_chunk(n, numel, c % n)) * element_size; };
  const uint64_t total = static_cast<uint64_t>(numel) * element_size;
  t.bytes_sent = 2 * total - bytes(index + 1) - bytes(index + 2);
  t.bytes_received = 2 * total - bytes(index) - bytes(index + 1);
  t.messages_sent = t.messages_received = 2 * static_cast<uint64_t>(n - 1);
  t.seconds = 2.0 * (n - 1) * net.seconds(bytes(0));  // chunk 0 is the largest
  return t;
}

Traffic broadcast_traffic(int n, int rank, int root, size_t bytes, const NetworkModel& net) {
  Traffic t;
  if (n <= 1 || bytes == 0) return t;
  // Binomial tree on virtual ranks v = rank - root (mod n), as gloo::broadcast: v sends to
  // v + 2^i for every 2^i > v with v + 2^i < n, and receives once from its parent if v > 0.
  const int v = (rank - root + n) % n;
  for (int step = 1; step < n; step <<= 1) {
    if (v < step && v + step < n) ++t.messages_sent;
  }
  t.messages_received = v > 0 ? 1 : 0;
  t.bytes_sent = t.messages_sent * bytes;
  t.bytes_received = t.messages_received * bytes;
  t.seconds = log2_ceil(n) * net.seconds(bytes);
  return t;
}

Traffic allgather_traffic(int n, size_t bytes, const NetworkModel& net) {
  Traffic t;
  if (n <= 1 || bytes == 0) return t;
  t.messages_sent = t.messages_received = static_cast<uint64_t>(n - 1);
  t.bytes_sent = t.bytes_received = static_cast<uint64_t>(n - 1) * bytes;
  t.seconds = (n - 1) * net.seconds(bytes);
  return t;
}

Traffic barrier_traffic(int n, const NetworkModel& net) {
  Traffic t;
  if (n <= 1) return t;
  t.messages_sent = t.messages_received = static_cast<uint64_t>(log2_ceil(n));
  t.seconds = log2_ceil(n) * net.seconds(0);
  return t;
}

Traffic neighbor_traffic(const topology::Topology& topo, int rank, int64_t step, size_t bytes,
                         const NetworkModel& net) {
  Traffic t;
  if (bytes == 0) return t;
  t.messages_sent = topo.out_neighbors(rank, step).size();
  t.messages_received = topo.in_neighbors(rank, step).size();
  t.bytes_sent = t.messages_sent * bytes;
  t.bytes_received = t.messages_received * bytes;
  if (t.messages_sent + t.messages_received > 0) t.seconds = net.seconds(bytes);
  return t;
}

Traffic exchange_traffic(const std::vector<size_t>& sent, const std::vector<size_t>& received,
                         const NetworkModel& net) {
  Traffic t;
  size_t largest = 0;
  for (size_t s : sent) {
    t.bytes_sent += kExchangeHeaderBytes + s;
    largest = std::max(largest, s);
  }
  for (size_t s : received) {
    t.bytes_received += kExchangeHeaderBytes + s;
    largest = std::max(largest, s);
  }
  t.messages_sent = sent.size();
  t.messages_received = received.size();
  if (!sent.empty() || !received.empty()) t.seconds = net.seconds(kExchangeHeaderBytes + largest);
  return t;
}

}  // namespace gossamer::comm
