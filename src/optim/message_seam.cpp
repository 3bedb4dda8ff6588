#include "gossamer/optim/message_seam.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include "gossamer/comm/communicator.h"
#include "gossamer/comm/kernels.h"
#include "gossamer/comm/traffic.h"
#include "gossamer/topology/topology.h"

namespace gossamer::optim {

MessageMasks::~MessageMasks() = default;
Mixing::~Mixing() = default;

void ExactMixing::mix(comm::Communicator& comm, at::Tensor& x, const topology::Topology& topo, int64_t step) {
  comm.neighbor_allreduce(x, topo, step);
}

void ExactMixing::average(comm::Communicator& comm, at::Tensor& x) { comm.allreduce(x, comm::ReduceOp::Mean); }

void ExactMixing::group_average(comm::Communicator& comm, at::Tensor& x, const std::vector<int>& group) {
  comm.group_allreduce(x, group, comm::ReduceOp::Mean);
}

MessageSeam::MessageSeam(comm::Communicator& comm) : comm_(comm), mixing_(std::make_unique<ExactMixing>()) {}

MessageSeam::~MessageSeam() = default;

namespace {

void check_combination(const MessageMasks* masks, const Mixing& mixing) {
  if (masks && masks->may_differ() && !mixing.exact_linear()) {
    throw std::invalid_argument("message seam: the mixing rule '" + mixing.name() + "' cannot be combined with " +
                                masks->describe() +
                                ", which differ between workers: a worker could not tell which coordinates a "
                                "neighbour's combined message holds; use exact mixing or masks shared by all workers");
  }
}

}  // namespace

void MessageSeam::use_masks(const MessageMasks* masks) {
  if (masks) check_combination(masks, *mixing_);
  masks_ = masks;
  epoch_ = -1;
  layouts_.clear();
  unions_.clear();
  scales_.clear();
}

void MessageSeam::set_mixing(std::unique_ptr<Mixing> mixing) {
  if (!mixing) throw std::invalid_argument("MessageSeam::set_mixing: the mixing rule must not be null");
  check_combination(masks_, *mixing);
  mixing_ = std::move(mixing);
}

bool MessageSeam::exact_linear() const { return mixing_->exact_linear() && !(masks_ && masks_->may_differ()); }

std::string MessageSeam::describe() const {
  std::string s = mixing_->name() + " mixing, ";
  if (!masks_) return s + "dense messages";
  return s + "messages packed by " + masks_->describe() +
         (masks_->may_differ() ? " (per-worker masks: each coordinate averaged over the workers holding it)" : "");
}

void MessageSeam::mix(at::Tensor& x, const topology::Topology& topo, int64_t step) {
  call(Kind::Mix, x, &topo, step, nullptr);
}

void MessageSeam::average(at::Tensor& x) { call(Kind::Average, x, nullptr, 0, nullptr); }

void MessageSeam::group_average(at::Tensor& x, const std::vector<int>& group) {
  call(Kind::Group, x, nullptr, 0, &group);
}

int64_t MessageSeam::rows_of(const at::Tensor& x, const char* verb) const {
  const int64_t n = masks_->numel();
  if (x.numel() == n) return 1;
  if (x.dim() == 2 && x.size(1) == n) return x.size(0);
  throw std::invalid_argument(std::string("message seam ") + verb + ": a message of shape " + c10::str(x.sizes()) +
                              " is neither the flat parameter vector [" + std::to_string(n) +
                              "] nor a stack [k, " + std::to_string(n) +
                              "] of them; with sparse-aware messages every message must be one of the two "
                              "(stack several vectors along dimension 0)");
}

void MessageSeam::call(Kind kind, at::Tensor& x, const topology::Topology* topo, int64_t step,
                       const std::vector<int>* group) {
  const char* verb = kind == Kind::Mix ? "mix" : kind == Kind::Average ? "average" : "group_average";
  if (!x.defined() || !x.is_contiguous()) {
    throw std::invalid_argument(std::string("message seam ") + verb + ": the message must be a defined, contiguous tensor");
  }
  const comm::NetworkModel& net = comm_.network();
  const int rank = comm_.rank();
  uint64_t dense = 0;
  if (kind == Kind::Mix) {
    dense = comm::neighbor_traffic(*topo, rank, step, x.nbytes(), net).bytes_sent;
  } else if (kind == Kind::Average) {
    dense = comm::ring_allreduce_traffic(comm_.size(), rank, x.numel(), x.element_size(), net).bytes_sent;
  } else {
    const int idx = static_cast<int>(std::lower_bound(group->begin(), group->end(), rank) - group->begin());
    dense = comm::ring_allreduce_traffic(static_cast<int>(group->size()), idx, x.numel(), x.element_size(), net)
                .bytes_sent;
  }
  const uint64_t before = comm_.stats().bytes_sent;
  const uint64_t sim_before = mixing_->simulation_bytes();
  const double sim_s_before = mixing_->simulation_seconds();
  uint64_t values = static_cast<uint64_t>(x.numel());
  if (!masks_) {
    mixing_->set_layout(at::Tensor());
    run_mixing(kind, x, topo, step, group);
  } else {
    rows_of(x, verb);  // checks the shape before anything travels
    if (masks_->epoch() != epoch_) {
      epoch_ = masks_->epoch();
      layouts_.clear();
      unions_.clear();
      scales_.clear();
    }
    values = masks_->differ() ? call_differing(kind, x, topo, step, group) : call_shared(kind, x, topo, step, group);
  }
  stats_.values_sent += values;
  stats_.calls += 1;
  const uint64_t simulated = mixing_->simulation_bytes() - sim_before;
  stats_.simulation_bytes += simulated;
  stats_.simulation_seconds += mixing_->simulation_seconds() - sim_s_before;
  stats_.bytes_sent += comm_.stats().bytes_sent - before - simulated;
  stats_.dense_bytes_sent += dense;
  stats_.dense_values += static_cast<uint64_t>(x.numel());
}

void MessageSeam::run_mixing(Kind kind, at::Tensor& x, const topology::Topology* topo, int64_t step,
                             const std::vector<int>* group) {
  switch (kind) {
    case Kind::Mix: mixing_->mix(comm_, x, *topo, step); break;
    case Kind::Average: mixing_->average(comm_, x); break;
    case Kind::Group: mixing_->group_average(comm_, x, *group); break;
  }
}

MessageSeam::Layout MessageSeam::make_layout(const at::Tensor& mask) const {
  if (mask.numel() != masks_->numel()) {
    throw std::logic_error("message seam: a mask of " + std::to_string(mask.numel()) + " entries for " +
                           std::to_string(masks_->numel()) + " coordinates");
  }
  Layout l;
  l.index = mask.reshape({-1}).nonzero().reshape({-1});
  l.kept = l.index.numel();
  l.dense = l.kept == masks_->numel();
  return l;
}

const MessageSeam::Layout& MessageSeam::layout_of(int rank) {
  auto it = layouts_.find(rank);
  if (it == layouts_.end()) {
    const auto t0 = std::chrono::steady_clock::now();  // building a layout is part of packing's cost
    it = layouts_.emplace(rank, make_layout(masks_->mask(rank))).first;
    stats_.pack_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  return it->second;
}

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// [rows, n] view of a message; rows_of has checked the shape.
at::Tensor as_rows(at::Tensor& x, int64_t n) { return x.view({x.numel() / std::max<int64_t>(n, 1), n}); }

}  // namespace

uint64_t MessageSeam::call_shared(Kind kind, at::Tensor& x, const topology::Topology* topo, int64_t step,
                              const std::vector<int>* group) {
  const Layout& l = layout_of(comm_.rank());
  if (l.dense) {
    mixing_->set_layout(at::Tensor());
    run_mixing(kind, x, topo, step, group);
    return static_cast<uint64_t>(x.numel());
  }
  mixing_->set_layout(l.index);
  at::Tensor rows = as_rows(x, masks_->numel());
  const int64_t r = rows.size(0);
  if (!packed_.defined() || packed_.size(0) != r || packed_.size(1) != l.kept ||
      packed_.scalar_type() != x.scalar_type()) {
    packed_ = at::empty({r, l.kept}, x.options());
  }
  auto t0 = Clock::now();
  at::index_select_out(packed_, rows, 1, l.index);
  stats_.pack_seconds += seconds_since(t0);
  run_mixing(kind, packed_, topo, step, group);
  t0 = Clock::now();
  rows.index_copy_(1, l.index, packed_);
  stats_.pack_seconds += seconds_since(t0);
  return static_cast<uint64_t>(r * l.kept);
}

const at::Tensor& MessageSeam::coordinate_scale(const std::vector<std::pair<int, double>>& weights) {
  auto it = scales_.find(weights);
  if (it != scales_.end()) return it->second;
  const at::Tensor own = masks_->mask(comm_.rank());
  at::Tensor held = at::zeros_like(own);  // sum_j w_j m_j[c]
  double total = 0;
  for (const auto& [j, w] : weights) {
    held.add_(masks_->mask(j), w);
    total += w;
  }
  // Where this worker holds the coordinate, held >= its own weight; where nobody does, the
  // combined value is 0 anyway.
  at::Tensor safe = at::where(held.gt(0), held, at::ones_like(held));
  return scales_.emplace(weights, own * total / safe).first->second;
}

uint64_t MessageSeam::call_differing(Kind kind, at::Tensor& x, const topology::Topology* topo, int64_t step,
                                 const std::vector<int>* group) {
  const int rank = comm_.rank();
  const int64_t n = masks_->numel();
  at::Tensor rows = as_rows(x, n);
  const int64_t r = rows.size(0);
  std::vector<std::pair<int, double>> weights;
  uint64_t values = static_cast<uint64_t>(x.numel());
  if (kind == Kind::Mix) {
    // Individual packets: worker j sends the values of its own mask; the receiver knows m_j.
    const auto& row = topo->matrix(step).row(rank);
    const auto ins = topo->in_neighbors(rank, step);
    const auto outs = topo->out_neighbors(rank, step);
    const Layout& mine = layout_of(rank);
    auto t0 = Clock::now();
    at::Tensor own = rows.index_select(1, mine.index).contiguous();
    comm::Bytes payload(static_cast<size_t>(own.nbytes()));
    if (!payload.empty()) std::memcpy(payload.data(), own.data_ptr(), payload.size());
    stats_.pack_seconds += seconds_since(t0);
    std::vector<std::pair<int, comm::Bytes>> out;
    for (const auto& nb : outs) out.emplace_back(nb.rank, payload);
    std::vector<int> from;
    for (const auto& nb : ins) from.push_back(nb.rank);
    std::vector<comm::Bytes> packets = comm_.exchange(out, from);
    values = static_cast<uint64_t>(r * mine.kept);
    // Unpack every neighbour's packet to a dense message (zeros outside its mask) and mix in
    // ascending j with the row's weights: the arithmetic of neighbor_allreduce on dense messages.
    t0 = Clock::now();
    if (unpacked_.size() < ins.size()) unpacked_.resize(ins.size());
    for (size_t k = 0; k < ins.size(); ++k) {
      const Layout& theirs = layout_of(ins[k].rank);
      const size_t expected = static_cast<size_t>(r * theirs.kept) * x.element_size();
      if (packets[k].size() != expected) {
        throw comm::CommError("message seam mix on rank " + std::to_string(rank) + ": rank " +
                              std::to_string(ins[k].rank) + " sent " + std::to_string(packets[k].size()) +
                              " bytes, its mask holds " + std::to_string(expected) +
                              " (do the workers run the same sparse schedule?)");
      }
      at::Tensor& d = unpacked_[k];
      if (!d.defined() || d.size(0) != r || d.size(1) != n || d.scalar_type() != x.scalar_type()) {
        d = at::empty({r, n}, x.options());
      }
      d.zero_();
      if (theirs.kept > 0) {
        at::Tensor kept_values = at::from_blob(packets[k].data(), {r, theirs.kept}, x.options());
        d.index_copy_(1, theirs.index, kept_values);
      }
    }
    stats_.pack_seconds += seconds_since(t0);
    std::vector<const void*> received;
    for (size_t k = 0; k < ins.size(); ++k) received.push_back(unpacked_[k].data_ptr());
    for (const auto& nb : row) weights.emplace_back(nb.rank, nb.weight);
    if (!mixed_.defined() || !mixed_.sizes().equals(x.sizes()) || mixed_.scalar_type() != x.scalar_type()) {
      mixed_ = at::empty_like(x);
    }
    comm::mix_row(mixed_.data_ptr(), row, rank, x.data_ptr(), ins, received, x.numel(), x.scalar_type());
    x.copy_(mixed_);
  } else {
    // Averages go over the union of the participants' masks (every coordinate some of them hold).
    std::vector<int> members;
    if (kind == Kind::Average) {
      for (int j = 0; j < comm_.size(); ++j) members.push_back(j);
    } else {
      members = *group;
    }
    auto it = unions_.find(members);
    if (it == unions_.end()) {
      at::Tensor any = masks_->mask(members.front()).clone();
      for (int j : members) any = at::maximum(any, masks_->mask(j));
      it = unions_.emplace(members, make_layout(any)).first;
    }
    const Layout& u = it->second;
    if (u.dense) {
      mixing_->set_layout(at::Tensor());
      run_mixing(kind, x, nullptr, 0, group);
    } else {
      mixing_->set_layout(u.index);
      auto t0 = Clock::now();
      at::Tensor packed = rows.index_select(1, u.index).contiguous();
      stats_.pack_seconds += seconds_since(t0);
      run_mixing(kind, packed, nullptr, 0, group);
      t0 = Clock::now();
      rows.index_copy_(1, u.index, packed);
      stats_.pack_seconds += seconds_since(t0);
      values = static_cast<uint64_t>(r * u.kept);
    }
    for (int j : members) weights.emplace_back(j, 1.0);
  }
  rows.mul_(coordinate_scale(weights).view({1, n}).to(x.scalar_type()));
  return values;
}

}  // namespace gossamer::optim
