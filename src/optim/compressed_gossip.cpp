#include "gossamer/optim/compressed_gossip.h"

#include <ATen/ATen.h>

#include <cstdio>
#include <stdexcept>
#include <string>

#include "gossamer/topology/topology.h"

namespace gossamer::optim {

void require_static_topology(const topology::Topology& topo) {
  if (topo.is_static()) return;
  throw std::invalid_argument("choco: topology '" + topo.name() + "' changes with the step (period " +
                              std::to_string(topo.period()) +
                              "); CHOCO's running sum of the neighbours' copies needs one fixed mixing matrix: "
                              "use a static topology (ring, torus, complete, ...)");
}

CompressedGossip::CompressedGossip(std::unique_ptr<compress::Compressor> compressor, double consensus_step,
                                   std::vector<int64_t> numels)
    : compressor_(std::move(compressor)), gamma_(consensus_step) {
  if (!compressor_) throw std::invalid_argument("choco: the compressor must not be null");
  if (!(gamma_ > 0.0 && gamma_ <= 1.0)) {
    throw std::invalid_argument("choco: consensus_step = " + std::to_string(gamma_) +
                                " must be in (0, 1] (CHOCO's γ; 0.5 is a common start, smaller for stronger "
                                "compression)");
  }
  if (numels.empty()) throw std::invalid_argument("choco: no messages (numels is empty)");
  for (int64_t n : numels) {
    if (n < 0) throw std::invalid_argument("choco: a message size of " + std::to_string(n));
    // The paper starts every copy at 0.
    copies_.push_back(at::zeros({n}, at::kFloat));
    sums_.push_back(at::zeros({n}, at::kFloat));
  }
}

std::string CompressedGossip::name() const {
  char g[32];
  std::snprintf(g, sizeof g, "%g", gamma_);
  return "choco (" + compressor_->name() + ", consensus step " + g + ")";
}

void CompressedGossip::average(comm::Communicator&, at::Tensor&) {
  throw std::logic_error("choco: CHOCO gossips with neighbours; it has no compressed average (average() called)");
}

void CompressedGossip::group_average(comm::Communicator&, at::Tensor&, const std::vector<int>&) {
  throw std::logic_error("choco: CHOCO gossips with neighbours; it has no compressed average (group_average() called)");
}

namespace {

at::Tensor& sized(at::Tensor& buffer, int64_t n) {
  if (!buffer.defined() || buffer.numel() != n) buffer = at::empty({n}, at::kFloat);
  return buffer;
}

}  // namespace

void CompressedGossip::mix(comm::Communicator& comm, at::Tensor& x, const topology::Topology& topo, int64_t step) {
  if (x.scalar_type() != at::kFloat) {
    throw std::invalid_argument("choco: messages must be float32, got " + std::string(c10::toString(x.scalar_type())));
  }
  require_static_topology(topo);
  if (topology_ == nullptr) topology_ = &topo;
  if (topology_ != &topo) {
    throw std::invalid_argument("choco: mixed over topology '" + topo.name() + "' after '" + topology_->name() +
                                "'; the neighbours' copies belong to one graph");
  }
  const int rank = comm.rank();
  const size_t k = static_cast<size_t>(calls_ % static_cast<int64_t>(copies_.size()));
  const int64_t call = calls_;
  const int64_t n = x.numel();
  const int64_t expected = layout_.defined() ? layout_.numel() : copies_[k].numel();
  if (n != expected) {
    throw std::invalid_argument("choco: message " + std::to_string(k) + " of the step has " + std::to_string(n) +
                                " values, expected " + std::to_string(expected) +
                                " (the rule was built for messages of sizes given in order; mix them in that order)");
  }
  ++calls_;
  at::Tensor flat = x.reshape({-1});
  at::Tensor copy = copies_[k], sum = sums_[k];
  if (layout_.defined()) {
    copy = at::index_select_out(sized(copy_, n), copies_[k], 0, layout_);
    sum = at::index_select_out(sized(sum_, n), sums_[k], 0, layout_);
  }
  at::Tensor& diff = sized(diff_, n);
  at::Tensor& decoded = sized(decoded_, n);
  at::sub_out(diff, flat, copy);
  compressor_->encode_into(diff, {call, rank}, packet_);
  compressor_->decode_into(packet_, decoded, {call, rank});
  // An unbiased compressor with a variance bound τ enters scaled by 1/τ (a contraction, as the
  // paper does for QSGD and random-k); the others enter as they decode.
  const double tau = compressor_->unbiased() ? compressor_->variance_factor(n) : 0.0;
  const double scale = tau > 1.0 ? 1.0 / tau : 1.0;
  copy.add_(decoded, scale);
  sum.add_(decoded, scale * topo.self_weight(rank, step));
  const auto outs = topo.out_neighbors(rank, step);
  const auto ins = topo.in_neighbors(rank, step);
  std::vector<std::pair<int, comm::Bytes>> out;
  out.reserve(outs.size());
  for (const auto& nb : outs) out.emplace_back(nb.rank, packet_);
  std::vector<int> from;
  for (const auto& nb : ins) from.push_back(nb.rank);
  const std::vector<comm::Bytes> packets = comm.exchange(out, from);
  for (size_t j = 0; j < ins.size(); ++j) {
    compressor_->decode_into(packets[j], decoded, {call, ins[j].rank});
    sum.add_(decoded, scale * ins[j].weight);
  }
  at::sub_out(diff, sum, copy);
  flat.add_(diff, gamma_);
  if (layout_.defined()) {
    copies_[k].index_copy_(0, layout_, copy);
    sums_[k].index_copy_(0, layout_, sum);
  }
}

std::map<std::string, at::Tensor> CompressedGossip::state() const {
  std::map<std::string, at::Tensor> s{{"calls", at::tensor({calls_}, at::kLong)}};
  for (size_t k = 0; k < copies_.size(); ++k) {
    s["copy." + std::to_string(k)] = copies_[k];
    s["neighbours." + std::to_string(k)] = sums_[k];
  }
  return s;
}

void CompressedGossip::load_state(const std::map<std::string, at::Tensor>& state) {
  auto need = [&](const std::string& key, int64_t numel) -> const at::Tensor& {
    auto it = state.find(key);
    if (it == state.end() || (numel >= 0 && it->second.numel() != numel)) {
      throw std::runtime_error(name() + ": the checkpoint has no 'mixing." + key + "'" +
                               (numel >= 0 ? " of " + std::to_string(numel) + " values" : std::string()) +
                               " (was it written by another algorithm or compressor?)");
    }
    return it->second;
  };
  calls_ = need("calls", 1).item<int64_t>();
  for (size_t k = 0; k < copies_.size(); ++k) {
    copies_[k].copy_(need("copy." + std::to_string(k), copies_[k].numel()).reshape({-1}));
    sums_[k].copy_(need("neighbours." + std::to_string(k), sums_[k].numel()).reshape({-1}));
  }
}

std::vector<at::Tensor> CompressedGossip::state_tensors() {
  std::vector<at::Tensor> t = copies_;
  t.insert(t.end(), sums_.begin(), sums_.end());
  return t;
}

}  // namespace gossamer::optim
