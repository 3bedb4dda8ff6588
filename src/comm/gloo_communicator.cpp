#include "gossamer/comm/gloo_communicator.h"

#include "gossamer/comm/checks.h"
#include "gossamer/comm/kernels.h"
#include "gossamer/comm/traffic.h"
#include "gossamer/comm/workers.h"
#include "gossamer/util/error_message.h"
#include "gossamer/topology/topology.h"

#include <ATen/ATen.h>
#include <torch/csrc/distributed/c10d/HashStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace gossamer::comm {

struct StoreHandle::Impl {
  c10::intrusive_ptr<c10d::Store> store;
};

StoreHandle::~StoreHandle() = default;

namespace {

using Clock = std::chrono::steady_clock;

class StoreHandleImpl final : public StoreHandle {
 public:
  explicit StoreHandleImpl(c10::intrusive_ptr<c10d::Store> s) { impl_.store = std::move(s); }
  Impl& impl() override { return impl_; }

 private:
  Impl impl_;
};

// Point-to-point tags. Gloo matches send/recv per (peer, tag) in posting order; different kinds
// of traffic get different tags so that they can never be mixed up, and neighbor_allreduce tags
// carry the step so that ranks at different steps time out instead of mixing iterates.
constexpr int kTagNeighbor = 1 << 24;
constexpr int kTagStepSpan = 1 << 20;
constexpr int kTagExchangeHeader = 2 << 24;
constexpr int kTagExchangePayload = (2 << 24) + 1;
constexpr int kTagGroupRing = 3 << 24;
constexpr int kTagNeighborGather = 4 << 24;
constexpr int kTagBroadcast = 5 << 24;
constexpr int kTagAllgather = 6 << 24;

bool mentions_timeout(const std::string& m) {
  std::string l(m);
  std::transform(l.begin(), l.end(), l.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return l.find("timed out") != std::string::npos || l.find("timeout") != std::string::npos;
}

class GlooCommunicator final : public Communicator {
 public:
  GlooCommunicator(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size, const GlooOptions& o)
      : Communicator(o.timeout), rank_(rank), size_(size) {
    auto opts = c10d::ProcessGroupGloo::Options::create(o.timeout);
    try {
      if (!o.interface.empty()) {
        opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(o.interface));
      } else if (!o.hostname.empty()) {
        opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(o.hostname));
      } else {
        opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      opts->threads = o.threads;
      pg_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, size, opts);
    } catch (const std::exception& e) {
      const std::string m = "gloo: rank " + std::to_string(rank) + " could not join a group of " +
                            std::to_string(size) + " within " + std::to_string(o.timeout.count()) +
                            " ms (are all ranks started, with the same MASTER_ADDR/MASTER_PORT?): " + util::error_message(e);
      if (mentions_timeout(m)) throw CommTimeout(m);
      throw CommError(m);
    }
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "gloo"; }

  void allreduce(at::Tensor& t, ReduceOp op) override {
    check_tensor(t, "allreduce", rank_, true);
    check_usable("allreduce");
    const Wire before = wire_;
    if (size_ > 1 && t.numel() > 0) {
      const auto deadline = Clock::now() + timeout_;
      ring_allreduce(t, everyone(), rank_, "allreduce", deadline);
      if (op == ReduceOp::Mean) t.div_(size_);
    }
    record_measured(before, ring_allreduce_traffic(size_, rank_, t.numel(), t.element_size(), network_));
  }

  void broadcast(at::Tensor& t, int root) override {
    check_tensor(t, "broadcast", rank_, false);
    check_peer(root, "root", "broadcast", rank_, size_);
    check_usable("broadcast");
    const Wire before = wire_;
    if (size_ > 1 && t.numel() > 0) {
      // Binomial tree on virtual ranks v = rank - root (mod n), the tree gloo::broadcast uses: in
      // round d the ranks v < 2^d that hold the data send it to v + 2^d.
      const auto deadline = Clock::now() + timeout_;
      const int v = (rank_ - root + size_) % size_;
      const auto real = [&](int virt) { return (virt + root) % size_; };
      for (int d = 1; d < size_; d <<= 1) {
        if (v < d && v + d < size_) {
          wait(post_send(t, real(v + d), kTagBroadcast, "broadcast"), "broadcast", real(v + d), deadline);
        } else if (v >= d && v < 2 * d) {
          wait(post_recv(t, real(v - d), kTagBroadcast, "broadcast"), "broadcast", real(v - d), deadline);
        }
      }
    }
    record_measured(before, broadcast_traffic(size_, rank_, root, t.nbytes(), network_));
  }

  std::vector<at::Tensor> allgather(const at::Tensor& t) override {
    check_tensor(t, "allgather", rank_, false);
    check_usable("allgather");
    std::vector<std::vector<at::Tensor>> out(1);
    for (int r = 0; r < size_; ++r) out[0].push_back(r == rank_ ? t.clone() : at::empty_like(t));
    const Wire before = wire_;
    if (size_ > 1 && t.numel() > 0) {
      // Ring, as gloo::allgather: in round s rank i passes block (i - s) on to i + 1 and receives
      // block (i - s - 1) from i - 1.
      const auto deadline = Clock::now() + timeout_;
      const int next = (rank_ + 1) % size_, prev = (rank_ + size_ - 1) % size_;
      for (int s = 0; s < size_ - 1; ++s) {
        const int give = (rank_ - s + size_) % size_, take = (rank_ - s - 1 + 2 * size_) % size_;
        auto r = post_recv(out[0][static_cast<size_t>(take)], prev, kTagAllgather, "allgather");
        auto w = post_send(out[0][static_cast<size_t>(give)], next, kTagAllgather, "allgather");
        wait(r, "allgather", prev, deadline);
        wait(w, "allgather", next, deadline);
      }
    }
    record_measured(before, allgather_traffic(size_, t.nbytes(), network_));
    return std::move(out[0]);
  }

  void barrier() override {
    check_usable("barrier");
    if (size_ > 1) {
      const auto deadline = Clock::now() + timeout_;
      c10d::BarrierOptions o;
      o.timeout = timeout_;
      wait(guard("barrier", -1, [&] { return pg_->barrier(o); }), "barrier", -1, deadline);
    }
    record(barrier_traffic(size_, network_));
  }

  void neighbor_allreduce(at::Tensor& t, const topology::Topology& topo, int64_t step) override {
    check_tensor(t, "neighbor_allreduce", rank_, true);
    check_topology_size(topo, "neighbor_allreduce");
    check_usable("neighbor_allreduce");
    const auto& row = topo.matrix(step).row(rank_);
    const auto ins = topo.in_neighbors(rank_, step);
    const int64_t numel = t.numel();
    const size_t nbytes = t.nbytes();
    const Wire before = wire_;
    if (numel > 0) {
      if (recv_.size() < ins.size()) recv_.resize(ins.size());
      for (size_t k = 0; k < ins.size(); ++k) {
        at::Tensor& buf = recv_[k];
        if (!buf.defined() || buf.numel() != numel || buf.scalar_type() != t.scalar_type()) {
          buf = at::empty({numel}, t.options());
        }
      }
      swap_with_neighbors(t, topo, step, recv_, kTagNeighbor, "neighbor_allreduce");
      received_.clear();
      for (size_t k = 0; k < ins.size(); ++k) received_.push_back(recv_[k].data_ptr());
      if (!mix_.defined() || mix_.nbytes() < nbytes) mix_ = at::empty({static_cast<int64_t>(nbytes)}, at::kByte);
      mix_row(mix_.data_ptr(), row, rank_, t.data_ptr(), ins, received_, numel, t.scalar_type());
      std::memcpy(t.data_ptr(), mix_.data_ptr(), nbytes);
    }
    record_measured(before, neighbor_traffic(topo, rank_, step, nbytes, network_));
  }

  std::vector<at::Tensor> neighbor_gather(const at::Tensor& t, const topology::Topology& topo,
                                          int64_t step) override {
    check_tensor(t, "neighbor_gather", rank_, false);
    check_topology_size(topo, "neighbor_gather");
    check_usable("neighbor_gather");
    const auto ins = topo.in_neighbors(rank_, step);
    std::vector<at::Tensor> out;
    out.reserve(ins.size());
    for (size_t k = 0; k < ins.size(); ++k) out.push_back(at::empty_like(t));
    const Wire before = wire_;
    if (t.numel() > 0) swap_with_neighbors(t, topo, step, out, kTagNeighborGather, "neighbor_gather");
    record_measured(before, neighbor_traffic(topo, rank_, step, t.nbytes(), network_));
    return out;
  }

  void group_allreduce(at::Tensor& t, const std::vector<int>& group, ReduceOp op) override {
    check_tensor(t, "group_allreduce", rank_, true);
    check_group(group, rank_, size_);
    check_usable("group_allreduce");
    const int g = static_cast<int>(group.size());
    const int idx = static_cast<int>(std::lower_bound(group.begin(), group.end(), rank_) - group.begin());
    const int64_t numel = t.numel();
    const Wire before = wire_;
    if (g > 1 && numel > 0) {
      const auto deadline = Clock::now() + timeout_;
      ring_allreduce(t, group, idx, "group_allreduce", deadline);
      if (op == ReduceOp::Mean) t.div_(g);
    }
    record_measured(before, ring_allreduce_traffic(g, idx, numel, t.element_size(), network_));
  }

  std::vector<Bytes> exchange(const std::vector<std::pair<int, Bytes>>& out, const std::vector<int>& from) override {
    check_usable("exchange");
    for (const auto& [dst, packet] : out) check_peer(dst, "destination", "exchange", rank_, size_);
    for (int src : from) check_peer(src, "source", "exchange", rank_, size_);
    const auto deadline = Clock::now() + timeout_;
    const Wire before = wire_;
    std::vector<size_t> sent, received;
    std::vector<const Bytes*> to_self;
    // Size headers first (8 bytes, int64), then the payloads of non-empty packets; all sends and
    // the header receives are posted before any wait.
    std::vector<at::Tensor> send_headers, recv_headers;
    std::vector<std::pair<c10::intrusive_ptr<c10d::Work>, int>> sends;
    for (const auto& [dst, packet] : out) {
      if (dst == rank_) {
        to_self.push_back(&packet);
        continue;
      }
      at::Tensor h = at::empty({1}, at::kLong);
      h.data_ptr<int64_t>()[0] = static_cast<int64_t>(packet.size());
      send_headers.push_back(h);
      const int peer = dst;
      sends.emplace_back(post_send(h, peer, kTagExchangeHeader, "exchange"), peer);
      if (!packet.empty()) {
        at::Tensor payload = at::from_blob(const_cast<uint8_t*>(packet.data()), {static_cast<int64_t>(packet.size())},
                                           at::kByte);
        sends.emplace_back(post_send(payload, peer, kTagExchangePayload, "exchange"), peer);
      }
      sent.push_back(packet.size());
    }
    std::vector<c10::intrusive_ptr<c10d::Work>> header_recvs(from.size());
    for (size_t i = 0; i < from.size(); ++i) {
      if (from[i] == rank_) continue;
      at::Tensor h = at::empty({1}, at::kLong);
      recv_headers.push_back(h);
      header_recvs[i] = post_recv(h, from[i], kTagExchangeHeader, "exchange");
    }
    std::vector<Bytes> result(from.size());
    std::vector<std::pair<c10::intrusive_ptr<c10d::Work>, int>> payload_recvs;
    size_t next_self = 0, next_header = 0;
    for (size_t i = 0; i < from.size(); ++i) {
      if (from[i] == rank_) {
        if (next_self >= to_self.size()) {
          throw std::invalid_argument("exchange on rank " + std::to_string(rank_) +
                                      ": `from` lists this rank but `out` holds no packet for it");
        }
        result[i] = *to_self[next_self++];
        continue;
      }
      wait(header_recvs[i], "exchange", from[i], deadline);
      const int64_t len = recv_headers[next_header++].data_ptr<int64_t>()[0];
      if (len < 0 || len > (int64_t{1} << 40)) {
        mark_broken("exchange: rank " + std::to_string(from[i]) + " sent a corrupt size header");
        throw CommError("exchange on rank " + std::to_string(rank_) + ": rank " + std::to_string(from[i]) +
                        " sent a corrupt size header (" + std::to_string(len) + ")");
      }
      result[i].resize(static_cast<size_t>(len));
      received.push_back(static_cast<size_t>(len));
      if (len > 0) {
        at::Tensor payload = at::from_blob(result[i].data(), {len}, at::kByte);
        payload_recvs.emplace_back(post_recv(payload, from[i], kTagExchangePayload, "exchange"), from[i]);
      }
    }
    for (auto& [w, peer] : payload_recvs) wait(w, "exchange", peer, deadline);
    for (auto& [w, peer] : sends) wait(w, "exchange", peer, deadline);
    record_measured(before, exchange_traffic(sent, received, network_));
    return result;
  }

 private:
  void check_usable(const char* op) const {
    if (!broken_.empty()) {
      throw CommError(std::string(op) + " on rank " + std::to_string(rank_) +
                      ": the Gloo communicator is unusable after an earlier failure (" + broken_ +
                      "); restart the workers");
    }
  }

  void mark_broken(const std::string& why) {
    if (broken_.empty()) broken_ = why;
  }

  [[noreturn]] void fail(const char* op, int peer, const std::string& what) {
    const bool timed_out = mentions_timeout(what);
    std::string m = std::string(op) + " on rank " + std::to_string(rank_) + " (gloo, " + std::to_string(size_) +
                    " ranks)";
    if (peer >= 0) m += std::string(timed_out ? " waiting for" : " with") + " rank " + std::to_string(peer);
    if (timed_out) {
      m += " timed out after " + std::to_string(timeout_.count()) + " ms";
      if (std::string(op) == "neighbor_allreduce" || std::string(op) == "neighbor_gather") m += " (ranks at different steps also end here)";
    } else {
      m += " failed (did a peer exit?)";
    }
    m += ": " + what;
    mark_broken(m);
    if (timed_out) throw CommTimeout(m);
    throw CommError(m);
  }

  // Posting can throw too (e.g. a closed connection): same conversion as waiting.
  template <typename F>
  c10::intrusive_ptr<c10d::Work> guard(const char* op, int peer, F&& post) {
    try {
      return post();
    } catch (const std::exception& e) {
      fail(op, peer, util::error_message(e));
    }
  }

  void wait(const c10::intrusive_ptr<c10d::Work>& w, const char* op, int peer, Clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    bool ok = false;
    try {
      ok = w->wait(std::max(left, std::chrono::milliseconds(1)));
    } catch (const std::exception& e) {
      fail(op, peer, util::error_message(e));
    }
    if (!ok) fail(op, peer, "the operation was aborted");
  }

  // What this rank has handed to / taken from the transport: every send and receive of this
  // backend goes through post_send / post_recv, so the byte counters report the payloads Gloo
  // was given, not a formula (docs/comm.md). Messages stay the algorithm's logical messages.
  struct Wire {
    uint64_t bytes_sent = 0, bytes_received = 0;
  };

  c10::intrusive_ptr<c10d::Work> post_send(const at::Tensor& t, int peer, int tag, const char* op) {
    std::vector<at::Tensor> v{t};
    auto w = guard(op, peer, [&] { return pg_->send(v, peer, tag); });
    wire_.bytes_sent += t.nbytes();
    return w;
  }

  c10::intrusive_ptr<c10d::Work> post_recv(const at::Tensor& t, int peer, int tag, const char* op) {
    std::vector<at::Tensor> v{t};
    auto w = guard(op, peer, [&] { return pg_->recv(v, peer, tag); });
    wire_.bytes_received += t.nbytes();
    return w;
  }

  // One call's record: bytes as counted on the wire since `before`; messages and modelled seconds
  // from the call's formula in traffic.h.
  void record_measured(const Wire& before, Traffic model) {
    model.bytes_sent = wire_.bytes_sent - before.bytes_sent;
    model.bytes_received = wire_.bytes_received - before.bytes_received;
    record(model);
  }

  void check_topology_size(const topology::Topology& topo, const char* op) const {
    if (topo.size() != size_) {
      throw std::invalid_argument(std::string(op) + " on rank " + std::to_string(rank_) + ": topology '" +
                                  topo.name() + "' has " + std::to_string(topo.size()) + " ranks, the communicator " +
                                  std::to_string(size_) + "; build the topology for the communicator's size");
    }
  }

  // Sends t to every out-neighbour of step `step` and receives the in-neighbours' tensors into
  // `into` (into[k] from topo.in_neighbors(rank_, step)[k], preallocated like t). Every receive
  // and send is posted before any wait, so no pair of ranks can block each other; the tag carries
  // the step, so ranks at different steps time out instead of mixing iterates.
  void swap_with_neighbors(const at::Tensor& t, const topology::Topology& topo, int64_t step,
                           std::vector<at::Tensor>& into, int tag_base, const char* op) {
    const auto ins = topo.in_neighbors(rank_, step);
    const auto outs = topo.out_neighbors(rank_, step);
    const auto deadline = Clock::now() + timeout_;
    const int tag = tag_base + static_cast<int>(step % kTagStepSpan);
    std::vector<std::pair<c10::intrusive_ptr<c10d::Work>, int>> works;
    for (size_t k = 0; k < ins.size(); ++k) works.emplace_back(post_recv(into[k], ins[k].rank, tag, op), ins[k].rank);
    for (const auto& nb : outs) works.emplace_back(post_send(t, nb.rank, tag, op), nb.rank);
    for (auto& [w, peer] : works) wait(w, op, peer, deadline);
  }

  std::vector<int> everyone() const {
    std::vector<int> all(static_cast<size_t>(size_));
    for (int r = 0; r < size_; ++r) all[static_cast<size_t>(r)] = r;
    return all;
  }

  // Ring reduce-scatter then allgather among the group's members over send/recv (traffic.h has
  // the chunk schedule). Member idx sends to idx+1 and receives from idx-1.
  void ring_allreduce(at::Tensor& t, const std::vector<int>& group, int idx, const char* op,
                      Clock::time_point deadline) {
    const int g = static_cast<int>(group.size());
    const int64_t numel = t.numel();
    at::Tensor flat = t.view({numel});
    const int next = group[static_cast<size_t>((idx + 1) % g)];
    const int prev = group[static_cast<size_t>((idx + g - 1) % g)];
    const auto chunk = [&](int c) {
      c = ((c % g) + g) % g;
      return flat.narrow(0, ring_chunk_offset(g, numel, c), ring_chunk(g, numel, c));
    };
    const int64_t largest = ring_chunk(g, numel, 0);
    if (!ring_tmp_.defined() || ring_tmp_.numel() < largest || ring_tmp_.scalar_type() != t.scalar_type()) {
      ring_tmp_ = at::empty({largest}, t.options());
    }
    for (int phase = 0; phase < 2; ++phase) {
      for (int s = 0; s < g - 1; ++s) {
        at::Tensor out = phase == 0 ? chunk(idx - s) : chunk(idx + 1 - s);
        at::Tensor in_dst = phase == 0 ? chunk(idx - s - 1) : chunk(idx - s);
        at::Tensor in = phase == 0 ? ring_tmp_.narrow(0, 0, in_dst.numel()) : in_dst;
        std::vector<std::pair<c10::intrusive_ptr<c10d::Work>, int>> works;
        if (in.numel() > 0) works.emplace_back(post_recv(in, prev, kTagGroupRing, op), prev);
        if (out.numel() > 0) works.emplace_back(post_send(out, next, kTagGroupRing, op), next);
        for (auto& [w, peer] : works) wait(w, op, peer, deadline);
        if (phase == 0 && in.numel() > 0) in_dst.add_(in);
      }
    }
  }

  const int rank_;
  const int size_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg_;
  std::string broken_;  // why the communicator is unusable; empty while healthy
  std::vector<at::Tensor> recv_;  // neighbour receive buffers, reused across steps
  at::Tensor mix_;
  at::Tensor ring_tmp_;
  std::vector<const void*> received_;  // recv_ data pointers, reused
  Wire wire_;
};

int env_int(const char* name, int fallback, bool* found = nullptr) {
  const char* v = std::getenv(name);
  if (found) *found = v != nullptr && *v != '\0';
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  if (*end != '\0' || x < 0 || x > (1L << 30)) {
    throw std::invalid_argument(std::string("environment variable ") + name + "='" + v +
                                "' is not a non-negative integer");
  }
  return static_cast<int>(x);
}

bool is_loopback(const std::string& addr) {
  return addr == "localhost" || addr == "::1" || addr.rfind("127.", 0) == 0;
}

}  // namespace

std::string source_address_for(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port > 0 && port <= 65535 ? port : 9);
  if (host.empty() || ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found) != 0) return "";
  std::string out;
  for (const addrinfo* a = found; a != nullptr && out.empty(); a = a->ai_next) {
    // connect() on a UDP socket sends nothing: it only asks the kernel for the route, which fixes
    // the local address getsockname() then reports.
    const int fd = ::socket(a->ai_family, SOCK_DGRAM, 0);
    if (fd < 0) continue;
    sockaddr_storage local{};
    socklen_t len = sizeof local;
    char name[NI_MAXHOST] = {};
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0 &&
        ::getnameinfo(reinterpret_cast<sockaddr*>(&local), len, name, sizeof name, nullptr, 0, NI_NUMERICHOST) == 0) {
      out = name;
    }
    ::close(fd);
  }
  ::freeaddrinfo(found);
  return out;
}

std::shared_ptr<StoreHandle> make_hash_store() {
  return std::make_shared<StoreHandleImpl>(c10::make_intrusive<c10d::HashStore>());
}

std::shared_ptr<StoreHandle> make_tcp_store(const std::string& host, int port, bool is_server, int world_size,
                                            std::chrono::milliseconds timeout) {
  if (port < 0 || port > 65535) throw std::invalid_argument("make_tcp_store: port " + std::to_string(port) + " outside [0, 65535]");
  c10d::TCPStoreOptions so;
  so.port = static_cast<std::uint16_t>(port);
  so.isServer = is_server;
  so.numWorkers = static_cast<std::size_t>(world_size);
  so.waitWorkers = true;
  so.timeout = timeout;
  try {
    return std::make_shared<StoreHandleImpl>(c10::make_intrusive<c10d::TCPStore>(host, so));
  } catch (const std::exception& e) {
    const std::string m = std::string("TCPStore at ") + host + ":" + std::to_string(port) + (is_server ? " (hosting)" : "") +
                          ": " + util::error_message(e) +
                          (is_server ? " (is the port free? pick another MASTER_PORT)"
                                     : " (is rank 0 running, and MASTER_ADDR/MASTER_PORT the same on every rank?)");
    if (mentions_timeout(m)) throw CommTimeout(m);
    throw CommError(m);
  }
}

std::unique_ptr<Communicator> make_gloo(const std::shared_ptr<StoreHandle>& store, int rank, int size,
                                        const GlooOptions& options) {
  if (!store) throw std::invalid_argument("make_gloo: no store");
  if (size < 1 || rank < 0 || rank >= size) {
    throw std::invalid_argument("make_gloo: rank " + std::to_string(rank) + " outside a world of size " + std::to_string(size));
  }
  if (options.timeout.count() <= 0) throw std::invalid_argument("make_gloo: timeout must be positive");
  return std::make_unique<GlooCommunicator>(store->impl().store, rank, size, options);
}

LaunchEnv read_launch_env() {
  LaunchEnv env;
  bool has_rank = false, has_size = false;
  env.rank = env_int("RANK", 0, &has_rank);
  env.world_size = env_int("WORLD_SIZE", 1, &has_size);
  if (!has_rank || !has_size) {
    // mpirun-style launchers: Open MPI, then MPICH / Slurm PMI.
    for (const auto& [r, s] : {std::pair{"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"}, std::pair{"PMI_RANK", "PMI_SIZE"}}) {
      bool fr = false, fs = false;
      const int rr = env_int(r, 0, &fr);
      const int ss = env_int(s, 1, &fs);
      if (fr && fs) {
        env.rank = rr;
        env.world_size = ss;
        has_rank = has_size = true;
        break;
      }
    }
  }
  env.local_rank = env_int("LOCAL_RANK", env_int("OMPI_COMM_WORLD_LOCAL_RANK", env.rank));
  if (env.world_size < 1 || env.rank >= env.world_size) {
    throw std::invalid_argument("RANK=" + std::to_string(env.rank) + " is outside WORLD_SIZE=" +
                                std::to_string(env.world_size) + "; start workers with `gossamer launch --workers N -- ...`");
  }
  if (const char* a = std::getenv("MASTER_ADDR"); a && *a) env.master_addr = a;
  bool has_port = false;
  env.master_port = env_int("MASTER_PORT", 0, &has_port);
  if (!has_port && env.world_size > 1) {
    throw std::invalid_argument("MASTER_PORT is not set: every rank needs the port of rank 0's store; start the "
                                "workers with `gossamer launch --workers N -- ...` or set MASTER_ADDR and MASTER_PORT");
  }
  if (env.master_port > 65535) throw std::invalid_argument("MASTER_PORT=" + std::to_string(env.master_port) + " is not a port");
  if (const char* i = std::getenv("GLOO_SOCKET_IFNAME"); i && *i) env.socket_ifname = i;
  return env;
}

std::unique_ptr<Communicator> make_gloo_from_env(std::chrono::milliseconds timeout) {
  const LaunchEnv env = read_launch_env();
  auto store = make_tcp_store(env.master_addr, env.master_port, env.rank == 0, env.world_size, timeout);
  GlooOptions o;
  o.timeout = timeout;
  if (!env.socket_ifname.empty()) {
    o.interface = env.socket_ifname;
  } else if (!is_loopback(env.master_addr)) {
    // Peers on other machines must reach this rank at the address it advertises: the one this
    // machine sends from towards MASTER_ADDR. (Gloo's default, the address the host name resolves
    // to, is 127.0.1.1 on a stock Debian /etc/hosts: peers would then connect to themselves.)
    o.hostname = source_address_for(env.master_addr, env.master_port);
  }
  return make_gloo(store, env.rank, env.world_size, o);
}

void run_gloo_threads(int n, const std::function<void(Communicator&)>& fn, std::chrono::milliseconds timeout) {
  auto store = make_hash_store();
  // Communicators are destroyed only once every rank is done, so that no rank tears down its
  // connections while a peer still completes the last call.
  std::mutex mu;
  std::condition_variable cv;
  int running = n;
  run_threads(n, [&](int r) {
    std::unique_ptr<Communicator> c;
    auto done = [&] {
      std::unique_lock<std::mutex> lock(mu);
      if (--running == 0) cv.notify_all();
      cv.wait(lock, [&] { return running == 0; });
    };
    try {
      GlooOptions o;
      o.timeout = timeout;
      c = make_gloo(store, r, n, o);
      fn(*c);
    } catch (...) {
      done();
      throw;
    }
    done();
  });
}

}  // namespace gossamer::comm
