#include "gossamer/comm/inprocess_communicator.h"

#include "gossamer/comm/checks.h"
#include "gossamer/comm/kernels.h"
#include "gossamer/comm/traffic.h"
#include "gossamer/comm/workers.h"
#include "gossamer/topology/topology.h"

#include <ATen/ATen.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>

namespace gossamer::comm {

namespace {

using Clock = std::chrono::steady_clock;

enum class OpCode { Allreduce, Broadcast, Allgather, Barrier, Neighbor, NeighborGather, GroupAllreduce };

const char* op_name(OpCode op) {
  switch (op) {
    case OpCode::Allreduce: return "allreduce";
    case OpCode::Broadcast: return "broadcast";
    case OpCode::Allgather: return "allgather";
    case OpCode::Barrier: return "barrier";
    case OpCode::Neighbor: return "neighbor_allreduce";
    case OpCode::NeighborGather: return "neighbor_gather";
    case OpCode::GroupAllreduce: return "group_allreduce";
  }
  return "?";
}

// What a member brings to a meeting: read by the other members between the two barriers (and, in
// an allreduce, written: each member writes one chunk of every member's tensor).
struct Slot {
  void* data = nullptr;
  int64_t numel = 0;
  c10::ScalarType dtype = c10::ScalarType::Undefined;
  OpCode op = OpCode::Barrier;
  int64_t aux = 0;  // root, step or reduce op: must agree across members
  c10::IntArrayRef sizes;
};

// "3, 12, 22": the first 16 ranks, then how many more (thousands of workers can miss a deadline at
// once, and a message listing all of them buries the rest of the error).
std::string rank_list(const std::vector<int>& ranks) {
  constexpr size_t kShown = 16;
  std::string s;
  for (size_t i = 0; i < ranks.size() && i < kShown; ++i) s += (i ? ", " : "") + std::to_string(ranks[i]);
  if (ranks.size() > kShown) s += " and " + std::to_string(ranks.size() - kShown) + " more";
  return s;
}


}  // namespace

class Rendezvous;

// One blocking call as seen by the waits inside it: all of them share one deadline, so the whole
// call, not each wait, is bounded by the timeout.
struct Call {
  const char* op;
  int rank;
  std::chrono::milliseconds timeout;
  Clock::time_point deadline;
  Call(const char* op_, int rank_, std::chrono::milliseconds t)
      : op(op_), rank(rank_), timeout(t), deadline(Clock::now() + t) {}
};

struct Mailbox {
  std::mutex mu;
  std::condition_variable cv;
  // Packets queued per source rank, in send order; a queue exists once its source has sent or a
  // receiver waits on it (a std::map keeps references to it valid while others are added). Not a
  // vector of n queues: an empty std::deque already holds about 600 bytes, and n mailboxes of n
  // queues took 10 GB at 4096 workers before anything was sent.
  std::map<int, std::deque<Bytes>> from;
};

struct InProcessGroup::State {
  State(int n, std::chrono::milliseconds t);

  // The first failure wins; wakes every waiter of every meeting and mailbox.
  void fail(bool is_timeout, const std::string& description);
  [[noreturn]] void throw_failure(const char* op, int rank);
  Rendezvous& group(const std::vector<int>& members);

  const int n;
  const std::chrono::milliseconds timeout;
  std::atomic<bool> failed{false};
  std::mutex fail_mu;
  bool fail_is_timeout = false;
  std::string fail_description;

  std::unique_ptr<Rendezvous> world;
  std::mutex groups_mu;  // guards groups and taken
  std::map<std::vector<int>, std::unique_ptr<Rendezvous>> groups;
  std::vector<bool> taken;
  std::vector<std::unique_ptr<Mailbox>> mailboxes;  // one per destination rank
};

// A fixed set of members that meet at barriers (generation counting, condition variable).
class Rendezvous {
 public:
  Rendezvous(InProcessGroup::State& st, std::vector<int> members)
      : members(std::move(members)), slots(this->members.size()), arrived_gen_(this->members.size(), -1), st_(st) {}

  // Blocks until every member arrived or `deadline`. `completion` runs on the last member to
  // arrive, under the lock, while all the others wait: the one safe moment to resize shared state.
  // With `check`, the last member also compares every member's slot with member 0's (before
  // anyone can leave and overwrite its slot with the next call's) and every member then throws
  // the same CommError on a mismatch, which leaves the group usable.
  void arrive(int idx, const Call& c, bool check, const std::function<void()>& completion = {}) {
    std::unique_lock<std::mutex> lk(mu);
    if (st_.failed.load()) {
      lk.unlock();
      st_.throw_failure(c.op, c.rank);
    }
    const int64_t gen = generation_;
    arrived_gen_[static_cast<size_t>(idx)] = gen;
    if (++arrived_ == static_cast<int>(members.size())) {
      verdict_ = check ? check_slots() : std::string();
      if (completion && verdict_.empty()) completion();
      arrived_ = 0;
      ++generation_;
      const std::string verdict = verdict_;
      lk.unlock();
      cv.notify_all();
      if (!verdict.empty()) throw CommError(std::string(c.op) + " on rank " + std::to_string(c.rank) + ": " + verdict);
      return;
    }
    cv.wait_until(lk, c.deadline, [&] { return generation_ != gen || st_.failed.load(); });
    if (generation_ != gen) {
      // verdict_ is ours to read until we arrive again: the next verdict needs every member.
      if (check && !verdict_.empty()) {
        const std::string verdict = verdict_;
        lk.unlock();
        throw CommError(std::string(c.op) + " on rank " + std::to_string(c.rank) + ": " + verdict);
      }
      return;
    }
    if (!st_.failed.load()) {
      std::vector<int> missing;
      for (size_t k = 0; k < members.size(); ++k) {
        if (arrived_gen_[k] != gen) missing.push_back(members[k]);
      }
      lk.unlock();
      st_.fail(true, "rank(s) " + rank_list(missing) + " did not reach " + c.op + " within " +
                         std::to_string(c.timeout.count()) + " ms (noticed by rank " + std::to_string(c.rank) + ")");
    } else {
      lk.unlock();
    }
    st_.throw_failure(c.op, c.rank);
  }

  const std::vector<int> members;
  std::vector<Slot> slots;
  std::mutex mu;
  std::condition_variable cv;

 private:
  // Empty when every member made the same call with the same shape, dtype and root/step/op.
  std::string check_slots() const {
    const Slot& a = slots[0];
    for (size_t k = 1; k < slots.size(); ++k) {
      const Slot& b = slots[k];
      const std::string rk = "rank " + std::to_string(members[k]);
      const std::string r0 = "rank " + std::to_string(members[0]);
      if (b.op != a.op) {
        return rk + " called " + op_name(b.op) + " while " + r0 + " called " + op_name(a.op) +
               "; every rank must make the same calls in the same order";
      }
      if (b.dtype != a.dtype || b.sizes != a.sizes) {
        return rk + " passed a " + std::string(c10::toString(b.dtype)) + " tensor of shape " + c10::str(b.sizes) + ", " +
               r0 + " a " + std::string(c10::toString(a.dtype)) + " tensor of shape " + c10::str(a.sizes) +
               "; every rank must pass the same shape and dtype";
      }
      if (b.aux != a.aux) {
        return rk + " passed " + std::to_string(b.aux) + ", " + r0 + " passed " + std::to_string(a.aux) +
               " (root, step or reduce op must agree)";
      }
    }
    return {};
  }

  std::string verdict_;
  std::vector<int64_t> arrived_gen_;  // generation at which each member last arrived
  int64_t generation_ = 0;
  int arrived_ = 0;
  InProcessGroup::State& st_;
};

InProcessGroup::State::State(int n_, std::chrono::milliseconds t) : n(n_), timeout(t), taken(static_cast<size_t>(n_)) {
  std::vector<int> all(static_cast<size_t>(n));
  for (int r = 0; r < n; ++r) all[static_cast<size_t>(r)] = r;
  world = std::make_unique<Rendezvous>(*this, all);
  for (int r = 0; r < n; ++r) mailboxes.push_back(std::make_unique<Mailbox>());
}

void InProcessGroup::State::fail(bool is_timeout, const std::string& description) {
  {
    std::lock_guard<std::mutex> lock(fail_mu);
    if (failed.load()) return;
    fail_is_timeout = is_timeout;
    fail_description = description;
    failed.store(true);
  }
  // Lock each mutex before notifying, so that a waiter between its predicate check and its
  // sleep cannot miss the wake-up.
  auto wake = [](std::mutex& m, std::condition_variable& cv) {
    { std::lock_guard<std::mutex> lock(m); }
    cv.notify_all();
  };
  wake(world->mu, world->cv);
  {
    std::lock_guard<std::mutex> lock(groups_mu);
    for (auto& [key, g] : groups) wake(g->mu, g->cv);
  }
  for (auto& m : mailboxes) wake(m->mu, m->cv);
}

void InProcessGroup::State::throw_failure(const char* op, int rank) {
  std::string description;
  bool is_timeout;
  {
    std::lock_guard<std::mutex> lock(fail_mu);
    description = fail_description;
    is_timeout = fail_is_timeout;
  }
  const std::string where = std::string(op) + " on rank " + std::to_string(rank);
  if (is_timeout) {
    throw CommTimeout(where + " timed out: " + description);
  }
  throw CommError(where + " stopped: " + description);
}

Rendezvous& InProcessGroup::State::group(const std::vector<int>& members) {
  std::lock_guard<std::mutex> lock(groups_mu);
  auto& slot = groups[members];
  if (!slot) slot = std::make_unique<Rendezvous>(*this, members);
  return *slot;
}

namespace {

class InProcessCommunicator final : public Communicator {
 public:
  InProcessCommunicator(std::shared_ptr<InProcessGroup::State> st, int rank)
      : Communicator(st->timeout), st_(std::move(st)), rank_(rank) {}

  int rank() const override { return rank_; }
  int size() const override { return st_->n; }
  std::string backend() const override { return "inprocess"; }

  void allreduce(at::Tensor& t, ReduceOp op) override {
    check_tensor(t, "allreduce", rank_, true);
    reduce(*st_->world, rank_, t, op, OpCode::Allreduce);
    record(ring_allreduce_traffic(size(), rank_, t.numel(), t.element_size(), network_));
  }

  void group_allreduce(at::Tensor& t, const std::vector<int>& group, ReduceOp op) override {
    check_tensor(t, "group_allreduce", rank_, true);
    check_group(group, rank_, size());
    const int idx = static_cast<int>(std::lower_bound(group.begin(), group.end(), rank_) - group.begin());
    const int g = static_cast<int>(group.size());
    if (g > 1) reduce(st_->group(group), idx, t, op, OpCode::GroupAllreduce);
    record(ring_allreduce_traffic(g, idx, t.numel(), t.element_size(), network_));
  }

  void broadcast(at::Tensor& t, int root) override {
    check_tensor(t, "broadcast", rank_, false);
    check_peer(root, "root", "broadcast", rank_, size());
    Rendezvous& w = *st_->world;
    const Call c("broadcast", rank_, timeout_);
    publish(w, rank_, t, OpCode::Broadcast, root);
    w.arrive(rank_, c, true);
    const size_t nbytes = t.nbytes();
    if (rank_ != root && nbytes > 0) std::memcpy(t.data_ptr(), w.slots[static_cast<size_t>(root)].data, nbytes);
    w.arrive(rank_, c, false);  // the root's tensor stays untouched until all copied
    record(broadcast_traffic(size(), rank_, root, nbytes, network_));
  }

  std::vector<at::Tensor> allgather(const at::Tensor& t) override {
    check_tensor(t, "allgather", rank_, false);
    Rendezvous& w = *st_->world;
    const Call c("allgather", rank_, timeout_);
    std::vector<at::Tensor> out;
    out.reserve(static_cast<size_t>(size()));
    for (int r = 0; r < size(); ++r) out.push_back(at::empty_like(t));
    publish(w, rank_, t, OpCode::Allgather, 0);
    w.arrive(rank_, c, true);
    const size_t nbytes = t.nbytes();
    if (nbytes > 0) {
      for (int r = 0; r < size(); ++r) std::memcpy(out[static_cast<size_t>(r)].data_ptr(), w.slots[static_cast<size_t>(r)].data, nbytes);
    }
    w.arrive(rank_, c, false);
    record(allgather_traffic(size(), nbytes, network_));
    return out;
  }

  void barrier() override {
    Rendezvous& w = *st_->world;
    Slot& s = w.slots[static_cast<size_t>(rank_)];
    s = Slot{};
    s.op = OpCode::Barrier;
    w.arrive(rank_, Call("barrier", rank_, timeout_), true);
    record(barrier_traffic(size(), network_));
  }

  void neighbor_allreduce(at::Tensor& t, const topology::Topology& topo, int64_t step) override {
    check_tensor(t, "neighbor_allreduce", rank_, true);
    check_topology_size(topo, "neighbor_allreduce");
    // Like allreduce: member r mixes chunk r of every member's tensor (all of W(k)'s rows) and
    // writes the results straight back, so nobody needs a scratch copy of its whole tensor; the
    // second barrier keeps every tensor untouched by its owner until all chunks are written.
    const topology::MixingMatrix& W = topo.matrix(step);
    Rendezvous& w = *st_->world;
    const Call c("neighbor_allreduce", rank_, timeout_);
    publish(w, rank_, t, OpCode::Neighbor, step);
    w.arrive(rank_, c, true);
    const size_t nbytes = t.nbytes();
    const int n = size();
    const int64_t numel = t.numel();
    if (numel > 0) {
      const int64_t offset = ring_chunk_offset(n, numel, rank_) * static_cast<int64_t>(t.element_size());
      srcs_.clear();
      dsts_.clear();
      rows_.resize(static_cast<size_t>(n));
      for (int i = 0; i < n; ++i) {
        uint8_t* base = static_cast<uint8_t*>(w.slots[static_cast<size_t>(i)].data) + offset;
        srcs_.push_back(base);
        dsts_.push_back(base);
        auto& terms = rows_[static_cast<size_t>(i)];
        terms.clear();
        for (const auto& nb : W.row(i)) terms.push_back(MixTerm{nb.rank, nb.weight});
      }
      mix_in_order(dsts_, srcs_, rows_, ring_chunk(n, numel, rank_), t.scalar_type());
    }
    w.arrive(rank_, c, false);
    record(neighbor_traffic(topo, rank_, step, nbytes, network_));
  }

  std::vector<at::Tensor> neighbor_gather(const at::Tensor& t, const topology::Topology& topo,
                                          int64_t step) override {
    check_tensor(t, "neighbor_gather", rank_, false);
    check_topology_size(topo, "neighbor_gather");
    // Each member copies its in-neighbours' tensors out of their slots between the two barriers;
    // the second barrier keeps every source untouched until all copies are made.
    const auto ins = topo.in_neighbors(rank_, step);
    std::vector<at::Tensor> out;
    out.reserve(ins.size());
    for (size_t k = 0; k < ins.size(); ++k) out.push_back(at::empty_like(t));
    Rendezvous& w = *st_->world;
    const Call c("neighbor_gather", rank_, timeout_);
    publish(w, rank_, t, OpCode::NeighborGather, step);
    w.arrive(rank_, c, true);
    const size_t nbytes = t.nbytes();
    if (nbytes > 0) {
      for (size_t k = 0; k < ins.size(); ++k) {
        std::memcpy(out[k].data_ptr(), w.slots[static_cast<size_t>(ins[k].rank)].data, nbytes);
      }
    }
    w.arrive(rank_, c, false);
    record(neighbor_traffic(topo, rank_, step, nbytes, network_));
    return out;
  }

  std::vector<Bytes> exchange(const std::vector<std::pair<int, Bytes>>& out, const std::vector<int>& from) override {
    if (st_->failed.load()) st_->throw_failure("exchange", rank_);
    const Call c("exchange", rank_, timeout_);
    std::vector<size_t> sent, received;
    std::deque<const Bytes*> to_self;
    for (const auto& [dst, packet] : out) {
      check_peer(dst, "destination", "exchange", rank_, size());
      if (dst == rank_) {
        to_self.push_back(&packet);
        continue;
      }
      Bytes copy(packet);  // the caller may free its packet as soon as we return
      Mailbox& box = *st_->mailboxes[static_cast<size_t>(dst)];
      {
        std::lock_guard<std::mutex> lock(box.mu);
        box.from[rank_].push_back(std::move(copy));
      }
      box.cv.notify_all();
      sent.push_back(packet.size());
    }
    std::vector<Bytes> result;
    result.reserve(from.size());
    Mailbox& mine = *st_->mailboxes[static_cast<size_t>(rank_)];
    for (int src : from) {
      check_peer(src, "source", "exchange", rank_, size());
      if (src == rank_) {
        if (to_self.empty()) {
          throw std::invalid_argument("exchange on rank " + std::to_string(rank_) +
                                      ": `from` lists this rank but `out` holds no packet for it");
        }
        result.push_back(*to_self.front());
        to_self.pop_front();
        continue;
      }
      std::unique_lock<std::mutex> lk(mine.mu);
      auto& q = mine.from[src];
      mine.cv.wait_until(lk, c.deadline, [&] { return !q.empty() || st_->failed.load(); });
      if (q.empty()) {
        const bool already_failed = st_->failed.load();
        lk.unlock();
        if (!already_failed) {
          st_->fail(true, "rank " + std::to_string(src) + " sent no packet to rank " + std::to_string(rank_) +
                              " in exchange within " + std::to_string(timeout_.count()) + " ms");
        }
        st_->throw_failure("exchange", rank_);
      }
      result.push_back(std::move(q.front()));
      q.pop_front();
      received.push_back(result.back().size());
    }
    record(exchange_traffic(sent, received, network_));
    return result;
  }

 private:
  void check_topology_size(const topology::Topology& topo, const char* op) const {
    if (topo.size() != size()) {
      throw std::invalid_argument(std::string(op) + " on rank " + std::to_string(rank_) + ": topology '" +
                                  topo.name() + "' has " + std::to_string(topo.size()) + " ranks, the communicator " +
                                  std::to_string(size()) + "; build the topology for the communicator's size");
    }
  }

  static void publish(Rendezvous& w, int idx, const at::Tensor& t, OpCode op, int64_t aux) {
    Slot& s = w.slots[static_cast<size_t>(idx)];
    s.data = t.data_ptr();
    s.numel = t.numel();
    s.dtype = t.scalar_type();
    s.op = op;
    s.aux = aux;
    s.sizes = t.sizes();
  }

  // Member idx reduces chunk idx of every member's tensor, in member order, and writes the result
  // straight into that chunk of every member's tensor: no other member reads or writes that chunk,
  // and the owners wait at the second barrier until all chunks are written. Each element is read
  // once and written once per member (the memory traffic of one memcpy per member, in parallel).
  void reduce(Rendezvous& w, int idx, at::Tensor& t, ReduceOp op, OpCode code) {
    const Call c(op_name(code), rank_, timeout_);
    const bool mean = op == ReduceOp::Mean;
    publish(w, idx, t, code, mean ? 1 : 0);
    w.arrive(idx, c, true);
    const int m = static_cast<int>(w.members.size());
    const int64_t numel = t.numel();
    const int64_t elem = static_cast<int64_t>(t.element_size());
    if (numel > 0) {
      const int64_t offset = ring_chunk_offset(m, numel, idx) * elem;
      const int64_t cnt = ring_chunk(m, numel, idx);
      srcs_.clear();
      dsts_.clear();
      for (const Slot& s : w.slots) {
        uint8_t* base = static_cast<uint8_t*>(s.data) + offset;
        srcs_.push_back(base);
        dsts_.push_back(base);
      }
      sum_in_order(dsts_, srcs_, cnt, t.scalar_type(), mean);
    }
    w.arrive(idx, c, false);
  }

  std::shared_ptr<InProcessGroup::State> st_;
  const int rank_;
  std::vector<const void*> srcs_;  // reused per call
  std::vector<void*> dsts_;
  std::vector<std::vector<MixTerm>> rows_;  // W(k), row by row
};

}  // namespace

InProcessGroup::InProcessGroup(int size, std::chrono::milliseconds timeout) {
  if (size < 1) throw std::invalid_argument("InProcessGroup: size must be >= 1, got " + std::to_string(size));
  if (timeout.count() <= 0) throw std::invalid_argument("InProcessGroup: timeout must be positive");
  state_ = std::make_shared<State>(size, timeout);
}

InProcessGroup::~InProcessGroup() = default;

int InProcessGroup::size() const { return state_->n; }

std::unique_ptr<Communicator> InProcessGroup::communicator(int rank) {
  if (rank < 0 || rank >= state_->n) {
    throw std::out_of_range("InProcessGroup::communicator: rank " + std::to_string(rank) + " outside [0, " +
                            std::to_string(state_->n) + ")");
  }
  {
    std::lock_guard<std::mutex> lock(state_->groups_mu);
    if (state_->taken[static_cast<size_t>(rank)]) {
      throw std::logic_error("InProcessGroup::communicator: rank " + std::to_string(rank) + " was already handed out");
    }
    state_->taken[static_cast<size_t>(rank)] = true;
  }
  return std::make_unique<InProcessCommunicator>(state_, rank);
}

void InProcessGroup::abort(int rank, const std::string& reason) {
  state_->fail(false, "rank " + std::to_string(rank) + " failed: " + reason);
}

bool InProcessGroup::failed() const { return state_->failed.load(); }

void run_inprocess(int n, const std::function<void(Communicator&)>& fn, std::chrono::milliseconds timeout) {
  InProcessGroup group(n, timeout);
  std::vector<std::unique_ptr<Communicator>> comms;
  for (int r = 0; r < n; ++r) comms.push_back(group.communicator(r));
  run_threads(
      n, [&](int r) { fn(*comms[static_cast<size_t>(r)]); },
      [&](int r, const std::string& what) { group.abort(r, what); });
}

}  // namespace gossamer::comm
