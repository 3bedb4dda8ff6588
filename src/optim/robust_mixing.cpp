#include "gossamer/optim/robust_mixing.h"

#include <ATen/ATen.h>

#include "gossamer/optim/detail.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <stdexcept>

#include "gossamer/comm/communicator.h"
#include "gossamer/compress/packet.h"
#include "gossamer/topology/topology.h"
#include "gossamer/util/log.h"

namespace gossamer::optim {
namespace {

// The packet format byte of an uncompressed float32 vector (compress/ uses 1..10).
constexpr uint8_t kFloat32Packet = 11;

// t's last dimension moved from the coordinates `from` to `to` of a vector of `numel` (undefined
// index = every coordinate); coordinates new to `to` start at 0.
at::Tensor relayout(const at::Tensor& t, const at::Tensor& from, const at::Tensor& to, int64_t numel) {
  std::vector<int64_t> shape(t.sizes().begin(), t.sizes().end());
  shape.back() = numel;
  at::Tensor dense = from.defined() ? at::zeros(shape, t.options()) : t;
  if (from.defined()) dense.index_copy_(t.dim() - 1, from, t);
  return to.defined() ? dense.index_select(t.dim() - 1, to).contiguous() : dense.contiguous();
}

}  // namespace

RobustMixing::RobustMixing(RobustMixingOptions options) : o_(std::move(options)) {
  if (o_.gossip != "clipped" && o_.gossip != "mean" && o_.gossip != "aggregator") {
    throw std::invalid_argument("robust mixing: gossip = \"" + o_.gossip + "\": use clipped, mean or aggregator");
  }
  if (o_.gossip_radius < 0) throw std::invalid_argument("robust mixing: gossip_radius must be >= 0 (0 = adaptive)");
  if (o_.worker_momentum < 0 || o_.worker_momentum >= 1) {
    throw std::invalid_argument("robust mixing: worker_momentum = " + std::to_string(o_.worker_momentum) +
                                " must be in [0, 1)");
  }
  if (o_.numel < 0) throw std::invalid_argument("robust mixing: numel must be >= 0");
  aggregator_ = robust::make_aggregator(o_.aggregator);
  aggregator_->reserve(o_.numel);
  attackers_.insert(o_.attackers.begin(), o_.attackers.end());
  if (o_.attack.kind != robust::AttackKind::None) o_.attack.validate();
  oracle_ = !attackers_.empty() && robust::needs_honest_messages(o_.attack.kind);
  if (o_.worker_momentum > 0) momentum_ = at::zeros({o_.numel}, at::kFloat);
}

bool RobustMixing::attacking(int rank) const {
  return attackers_.count(rank) > 0 && o_.attack.kind != robust::AttackKind::None &&
         o_.attack.kind != robust::AttackKind::LabelFlip;
}

std::string RobustMixing::name() const {
  std::string s = "robust (";
  if (o_.gossip == "clipped") {
    s += "clipped gossip, radius " +
         (o_.gossip_radius > 0 ? std::to_string(o_.gossip_radius)
                               : "adaptive (f = " + std::to_string(o_.aggregator.f) + ")") +
         "; averages: " + aggregator_->name();
  } else {
    s += aggregator_->name();
  }
  if (o_.worker_momentum > 0) s += "; worker momentum " + std::to_string(o_.worker_momentum);
  if (!attackers_.empty() && o_.attack.kind != robust::AttackKind::None) {
    s += "; attack " + robust::attack_name(o_.attack.kind) + " from rank(s)";
    for (int r : attackers_) s += " " + std::to_string(r);
  }
  return s + ")";
}

void RobustMixing::set_layout(const at::Tensor& index) {
  const bool same = (!index.defined() && !layout_.defined()) ||
                    (index.defined() && layout_.defined() && index.numel() == layout_.numel() && index.equal(layout_));
  if (!same) {
    // The aggregator's state follows the coordinates it belongs to (a mask that changed).
    for (at::Tensor* t : aggregator_->coordinate_state()) {
      if (t->defined()) *t = relayout(*t, layout_, index, o_.numel);
    }
  }
  layout_ = index;
}

std::map<std::string, at::Tensor> RobustMixing::state() const {
  std::map<std::string, at::Tensor> s{{"calls", at::tensor({calls_}, at::kLong)}};
  if (momentum_.defined()) s["momentum"] = momentum_;
  for (auto& [k, v] : aggregator_->state()) s["aggregator." + k] = v;
  // The measurements since the last take_metrics, so that a resumed run logs the same window.
  std::vector<double> w{static_cast<double>(window_.calls), static_cast<double>(window_.rejected),
                        window_.byzantine_share, window_.deviation, window_.clipped};
  for (const auto& [r, share] : window_.share) {
    w.push_back(r);
    w.push_back(share);
  }
  s["window"] = at::tensor(w, at::kDouble);
  return s;
}

void RobustMixing::load_state(const std::map<std::string, at::Tensor>& state) {
  auto it = state.find("calls");
  if (it == state.end()) {
    throw std::runtime_error(name() + ": the checkpoint has no 'mixing.calls' (was it written without [robust]?)");
  }
  calls_ = it->second.item<int64_t>();
  if (momentum_.defined()) {
    auto m = state.find("momentum");
    if (m == state.end() || m->second.numel() != o_.numel) {
      throw std::runtime_error(name() + ": the checkpoint has no worker momentum of " + std::to_string(o_.numel) +
                               " values ('mixing.momentum'; was it written with robust.worker_momentum = 0?)");
    }
    momentum_.copy_(m->second.reshape({-1}));
  }
  auto w = state.find("window");
  if (w != state.end() && w->second.numel() >= 5) {
    const at::Tensor t = w->second.to(at::kDouble).contiguous();
    const double* p = t.data_ptr<double>();
    window_ = RobustWindow{};
    window_.calls = static_cast<uint64_t>(p[0]);
    window_.rejected = static_cast<uint64_t>(p[1]);
    window_.byzantine_share = p[2];
    window_.deviation = p[3];
    window_.clipped = p[4];
    for (int64_t k = 5; k + 1 < t.numel(); k += 2) window_.share[static_cast<int>(p[k])] = p[k + 1];
  }
  std::map<std::string, at::Tensor> agg;
  for (const auto& [k, v] : state) {
    if (k.rfind("aggregator.", 0) == 0) agg[k.substr(11)] = v;
  }
  aggregator_->load_state(agg);
}

std::vector<at::Tensor> RobustMixing::state_tensors() {
  if (!momentum_.defined()) return {};
  return {momentum_};
}

std::vector<at::Tensor> RobustMixing::oracle(comm::Communicator& comm, const at::Tensor& message) {
  const comm::CommStats before = comm.stats();
  std::vector<at::Tensor> all = comm.allgather(message.contiguous());
  oracle_bytes_ += comm.stats().bytes_sent - before.bytes_sent;
  oracle_seconds_ += comm.stats().modelled_seconds - before.modelled_seconds;
  return all;
}

void RobustMixing::pack(const at::Tensor& message, comm::Bytes& packet) const {
  const at::Tensor m = message.to(at::kFloat).contiguous();
  const size_t bytes = static_cast<size_t>(m.numel()) * sizeof(float);
  compress::start_packet(packet, kFloat32Packet, m.numel(), bytes);
  if (bytes > 0) std::memcpy(packet.data() + compress::kPacketHeaderBytes, m.data_ptr<float>(), bytes);
  compress::seal_packet(packet);
}

comm::Bytes RobustMixing::attack_packet(const robust::AttackView& view, int64_t call, int rank) const {
  comm::Bytes packet;
  switch (o_.attack.kind) {
    case robust::AttackKind::Silent:
      return packet;  // empty: the receiver has nothing to combine
    case robust::AttackKind::Garbage: {
      pack(view.own, packet);
      std::mt19937_64 rng(o_.attack.seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(call) * 131u +
                          static_cast<uint64_t>(rank));
      for (size_t k = compress::kPacketHeaderBytes; k < packet.size(); ++k) packet[k] = static_cast<uint8_t>(rng());
      return packet;
    }
    default:
      pack(robust::forge(o_.attack, view), packet);
      return packet;
  }
}

bool RobustMixing::accept(const comm::Bytes& packet, int sender, int receiver, bool first_receiver, at::Tensor& into) {
  std::string why;
  if (packet.empty()) {
    why = "an empty packet (a silent worker)";
  } else {
    try {
      const compress::Payload p = compress::open_packet(packet, kFloat32Packet, into.numel(), sender, "robust mixing");
      if (p.size != static_cast<size_t>(into.numel()) * sizeof(float)) {
        why = "a payload of " + std::to_string(p.size) + " bytes for " + std::to_string(into.numel()) + " values";
      } else {
        if (p.size > 0) std::memcpy(into.data_ptr<float>(), p.data, p.size);
        if (!at::isfinite(into).all().item<bool>()) why = "NaN or Inf values";
      }
    } catch (const compress::PacketError& e) {
      why = e.what();
    }
  }
  if (why.empty()) return true;
  ++rejected_total_;
  ++window_.rejected;
  // Logged once per sender and run: by the sender's lowest-ranked receiver, the first time.
  if (first_receiver && logged_.insert(sender).second) {
    util::log_warn("robust: rank " + std::to_string(receiver) + " rejected a message from rank " +
                   std::to_string(sender) + ": " + why + " (every receiver rejects and counts such messages: "
                   "robust/rejected in metrics.jsonl; this sender is not logged again)");
  }
  return false;
}

void RobustMixing::measure(const robust::AggregateReport& report, const std::vector<int>& senders,
                           const at::Tensor& inputs, const at::Tensor& result) {
  window_.calls += 1;
  std::vector<int64_t> honest;
  for (size_t k = 0; k < senders.size(); ++k) {
    const double s = k < report.share.size() ? report.share[k] : 0.0;
    window_.share[senders[k]] += s;
    if (attackers_.count(senders[k])) {
      window_.byzantine_share += s;
    } else {
      honest.push_back(static_cast<int64_t>(k));
    }
  }
  for (bool c : report.clipped) window_.clipped += c ? 1 : 0;
  if (!honest.empty()) {
    const at::Tensor mean = inputs.index_select(0, at::tensor(honest, at::kLong)).to(at::kDouble).mean(0);
    const double norm = mean.norm().item<double>();
    const double off = (result.to(at::kDouble) - mean).norm().item<double>();
    window_.deviation += norm > 0 ? off / norm : off;
  }
}

std::map<std::string, double> RobustMixing::take_metrics() {
  std::map<std::string, double> m;
  const double calls = static_cast<double>(std::max<uint64_t>(1, window_.calls));
  m["robust/rejected"] = static_cast<double>(window_.rejected);
  m["robust/byzantine_share"] = window_.byzantine_share / calls;
  m["robust/deviation"] = window_.deviation / calls;
  m["robust/clipped"] = window_.clipped / calls;
  for (const auto& [r, s] : window_.share) m["robust/share/r" + std::to_string(r)] = s / calls;
  m["robust/excluded"] = static_cast<double>(aggregator_->excluded().size());
  window_ = RobustWindow{};
  return m;
}

at::Tensor RobustMixing::input_rows(int64_t rows, int64_t d) {
  // Reused across calls: fresh multi-MB buffers pay their first touch every step on these VMs.
  if (!inputs_.defined() || inputs_.size(0) < rows || inputs_.size(1) != d) inputs_ = at::empty({rows, d}, at::kFloat);
  return inputs_.narrow(0, 0, rows);
}

void RobustMixing::average(comm::Communicator& comm, at::Tensor& x) {
  over(comm, x, detail::every_rank(comm));
}

void RobustMixing::group_average(comm::Communicator& comm, at::Tensor& x, const std::vector<int>& group) {
  over(comm, x, group);
}

void RobustMixing::over(comm::Communicator& comm, at::Tensor& x, const std::vector<int>& members) {
  if (x.scalar_type() != at::kFloat) throw std::invalid_argument(name() + ": messages must be float32");
  const int rank = comm.rank();
  const int64_t call = calls_++;
  at::Tensor flat = x.view({-1});
  const int64_t d = flat.numel();
  at::Tensor message = flat;
  if (momentum_.defined()) {
    if (layout_.defined()) {
      message = momentum_.index_select(0, layout_).mul_(o_.worker_momentum).add_(flat);
      momentum_.index_copy_(0, layout_, message);
    } else {
      message = momentum_.mul_(o_.worker_momentum).add_(flat);
    }
  }
  std::vector<at::Tensor> everyone;
  if (oracle_) everyone = oracle(comm, message);
  comm::Bytes mine;
  if (attacking(rank)) {
    robust::AttackView view;
    view.own = message;
    view.call = call;
    view.rank = rank;
    if (oracle_) {
      std::vector<at::Tensor> honest;
      for (int j : members) {
        if (!attackers_.count(j)) honest.push_back(everyone[static_cast<size_t>(j)]);
      }
      if (!honest.empty()) view.honest = at::stack(honest);
    }
    mine = attack_packet(view, call, rank);
  } else {
    pack(message, mine);
  }
  const std::vector<comm::Bytes> packets = detail::exchange_with_members(comm, members, mine);
  at::Tensor inputs = input_rows(static_cast<int64_t>(members.size()), d);
  std::vector<int> senders;
  int64_t rows = 0;
  for (size_t i = 0, k = 0; i < members.size(); ++i) {
    const int j = members[i];
    at::Tensor row = inputs[rows];
    if (j == rank) {
      row.copy_(message);
    } else if (!accept(packets[k++], j, rank, rank == (j == members[0] ? members[1] : members[0]), row)) {
      continue;
    }
    senders.push_back(j);
    ++rows;
  }
  inputs = inputs.narrow(0, 0, rows).contiguous();
  if (rows < aggregator_->min_inputs()) {
    throw std::runtime_error(name() + " on rank " + std::to_string(rank) + ": only " + std::to_string(rows) +
                             " acceptable messages of " + std::to_string(members.size()) + ", the rule needs " +
                             std::to_string(aggregator_->min_inputs()) + " (too many silent or malformed senders)");
  }
  if (!result_.defined() || result_.numel() != d) result_ = at::empty({d}, at::kFloat);
  robust::AggregateReport report;
  aggregator_->aggregate(inputs, senders, result_, report);
  measure(report, senders, inputs, result_);
  flat.copy_(result_);
}

void RobustMixing::mix(comm::Communicator& comm, at::Tensor& x, const topology::Topology& topo, int64_t step) {
  if (x.scalar_type() != at::kFloat) throw std::invalid_argument(name() + ": messages must be float32");
  const int rank = comm.rank();
  const int64_t call = calls_++;
  at::Tensor flat = x.view({-1});
  const int64_t d = flat.numel();
  const topology::MixingMatrix& w = topo.matrix(step);
  const auto ins = topo.in_neighbors(rank, step);
  const auto outs = topo.out_neighbors(rank, step);
  std::vector<at::Tensor> everyone;
  if (oracle_) everyone = oracle(comm, flat);
  std::vector<std::pair<int, comm::Bytes>> out;
  comm::Bytes mine;
  if (!attacking(rank)) pack(flat, mine);
  for (const auto& nb : outs) {
    if (!attacking(rank)) {
      out.emplace_back(nb.rank, mine);
      continue;
    }
    // Tailored to the target: its model first, then its honest in-neighbours with its weights.
    robust::AttackView view;
    view.own = flat;
    view.call = call;
    view.rank = rank;
    if (oracle_) {
      std::vector<at::Tensor> honest{everyone[static_cast<size_t>(nb.rank)]};
      for (const auto& e : w.row(nb.rank)) {
        if (e.rank == nb.rank) continue;
        if (attackers_.count(e.rank)) {
          view.byzantine_weight += e.weight;
        } else {
          honest.push_back(everyone[static_cast<size_t>(e.rank)]);
          view.honest_weights.push_back(e.weight);
        }
      }
      view.honest = at::stack(honest);
    }
    out.emplace_back(nb.rank, attack_packet(view, call, rank));
  }
  std::vector<int> from;
  for (const auto& nb : ins) from.push_back(nb.rank);
  const std::vector<comm::Bytes> packets = comm.exchange(out, from);

  // Rows: this worker's model, then the accepted neighbours, ascending rank.
  at::Tensor inputs = input_rows(static_cast<int64_t>(ins.size()) + 1, d);
  std::vector<int> senders{rank};
  std::vector<double> weights{topo.self_weight(rank, step)};
  inputs[0].copy_(flat);
  int64_t rows = 1;
  for (size_t k = 0; k < ins.size(); ++k) {
    at::Tensor row = inputs[rows];
    const auto theirs = topo.out_neighbors(ins[k].rank, step);
    const bool first = !theirs.empty() && theirs.front().rank == rank;
    if (!accept(packets[k], ins[k].rank, rank, first, row)) {
      weights[0] += ins[k].weight;  // a rejected neighbour's weight stays with this worker's own model
      continue;
    }
    senders.push_back(ins[k].rank);
    weights.push_back(ins[k].weight);
    ++rows;
  }
  inputs = inputs.narrow(0, 0, rows).contiguous();
  // Sort rows by rank so that rules that break ties by row agree with the averages' order.
  if (!result_.defined() || result_.numel() != d) result_ = at::empty({d}, at::kFloat);
  robust::AggregateReport report;
  if (o_.gossip == "aggregator") {
    std::vector<int64_t> order(static_cast<size_t>(rows));
    for (int64_t k = 0; k < rows; ++k) order[static_cast<size_t>(k)] = k;
    std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return senders[a] < senders[b]; });
    at::Tensor sorted = inputs.index_select(0, at::tensor(order, at::kLong)).contiguous();
    std::vector<int> sorted_senders;
    for (int64_t k : order) sorted_senders.push_back(senders[static_cast<size_t>(k)]);
    if (rows < aggregator_->min_inputs()) {
      throw std::runtime_error(name() + " on rank " + std::to_string(rank) + ": " + std::to_string(rows) +
                               " inputs in its neighbourhood (itself included), the rule needs " +
                               std::to_string(aggregator_->min_inputs()) +
                               ": use a topology with more neighbours, a smaller robust.f, or robust.aggregator = "
                               "\"clipped-gossip\"");
    }
    aggregator_->aggregate(sorted, sorted_senders, result_, report);
    measure(report, sorted_senders, sorted, result_);
  } else {
    // x_i + sum_j w_ij c_j (x_j - x_i): c_j = 1 for the W-weighted mean, the clipping factor for ClippedGossip.
    std::vector<double> c(static_cast<size_t>(rows), 1.0);
    if (o_.gossip == "clipped" && rows > 1) {
      const at::Tensor dist = (inputs.narrow(0, 1, rows - 1) - flat.view({1, -1})).to(at::kDouble).pow(2).sum(1).sqrt();
      std::vector<double> dv(static_cast<size_t>(rows - 1));
      for (int64_t k = 0; k < rows - 1; ++k) dv[static_cast<size_t>(k)] = dist[k].item<double>();
      double tau = o_.gossip_radius;
      if (!(tau > 0)) {
        std::vector<double> sorted = dv;
        std::sort(sorted.rbegin(), sorted.rend());
        const size_t f = static_cast<size_t>(o_.aggregator.f);
        tau = f < sorted.size() ? sorted[f] : 0.0;
      }
      for (int64_t k = 1; k < rows; ++k) {
        const double len = dv[static_cast<size_t>(k - 1)];
        c[static_cast<size_t>(k)] = len > tau ? (len > 0 ? tau / len : 0.0) : 1.0;
        report.clipped.push_back(c[static_cast<size_t>(k)] < 1.0);
      }
    }
    at::Tensor acc = flat.to(at::kDouble);
    std::vector<double> share(static_cast<size_t>(rows), 0.0);
    double moved = 0;
    for (int64_t k = 1; k < rows; ++k) {
      const double a = weights[static_cast<size_t>(k)] * c[static_cast<size_t>(k)];
      acc.add_(inputs[k].to(at::kDouble) - flat.to(at::kDouble), a);
      share[static_cast<size_t>(k)] = a;
      moved += a;
    }
    share[0] = 1.0 - moved;
    report.share = share;
    result_.copy_(acc);
    measure(report, senders, inputs, result_);
  }
  flat.copy_(result_);
}

}  // namespace gossamer::optim
