#include "gossamer/optim/compressed_averaging.h"

#include <ATen/ATen.h>

#include "gossamer/optim/detail.h"

#include "gossamer/compress/packet.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace gossamer::optim {

CompressedAveraging::CompressedAveraging(std::unique_ptr<compress::Compressor> compressor, bool error_feedback,
                                         int64_t numel)
    : compressor_(std::move(compressor)), error_feedback_(error_feedback), numel_(numel) {
  if (!compressor_) throw std::invalid_argument("CompressedAveraging: the compressor must not be null");
  if (numel < 0) throw std::invalid_argument("CompressedAveraging: numel must be >= 0");
  if (error_feedback_) memory_ = compress::ErrorFeedback(numel);
}

std::map<std::string, at::Tensor> CompressedAveraging::state() const {
  std::map<std::string, at::Tensor> s{{"calls", at::tensor({calls_}, at::kLong)}};
  if (error_feedback_) s["error"] = memory_.memory();
  const at::Tensor adapted = compressor_->adapted_state();
  if (adapted.defined()) s["compressor"] = adapted;
  return s;
}

void CompressedAveraging::load_state(const std::map<std::string, at::Tensor>& state) {
  auto it = state.find("calls");
  if (it == state.end()) {
    throw std::runtime_error(name() + ": the checkpoint has no 'mixing.calls' (was it written without [compress]?)");
  }
  calls_ = it->second.item<int64_t>();
  if (compressor_->adapted_state().defined()) {
    auto a = state.find("compressor");
    if (a == state.end()) {
      throw std::runtime_error(name() + ": the checkpoint has no 'mixing.compressor' (the choices of " +
                               compressor_->name() + "; was it written without compress.layerwise?)");
    }
    compressor_->load_adapted_state(a->second);
  }
  if (!error_feedback_) return;
  auto e = state.find("error");
  if (e == state.end() || e->second.numel() != numel_) {
    throw std::runtime_error(name() + ": the checkpoint has no error memory of " + std::to_string(numel_) +
                             " values ('mixing.error'; was it written with compress.error_feedback = false?)");
  }
  memory_.memory().copy_(e->second.reshape({-1}));
}

std::vector<at::Tensor> CompressedAveraging::state_tensors() {
  if (!error_feedback_) return {};
  return {memory_.memory()};
}

std::string CompressedAveraging::name() const {
  return "compressed (" + compressor_->name() + (error_feedback_ ? ", error feedback)" : ")");
}

void CompressedAveraging::mix(comm::Communicator&, at::Tensor&, const topology::Topology&, int64_t) {
  // DistributedOptimizer::set_mixing refuses this rule for gossip algorithms; reaching here is a bug.
  throw std::logic_error("CompressedAveraging::mix: this rule only averages (supports_mix() is false)");
}

void CompressedAveraging::average(comm::Communicator& comm, at::Tensor& x) {
  over(comm, x, detail::every_rank(comm));
}

void CompressedAveraging::group_average(comm::Communicator& comm, at::Tensor& x, const std::vector<int>& group) {
  over(comm, x, group);
}

void CompressedAveraging::over(comm::Communicator& comm, at::Tensor& x, const std::vector<int>& members) {
  if (x.scalar_type() != at::kFloat) {
    throw std::invalid_argument("compressed averaging (" + compressor_->name() + "): messages must be float32, got " +
                                std::string(c10::toString(x.scalar_type())));
  }
  const int rank = comm.rank();
  const int64_t step = calls_++;
  const int64_t n = x.numel();
  const int64_t carried = layout_.defined() ? layout_.numel() : numel_;
  if (error_feedback_ && n != carried) {
    throw std::invalid_argument(name() + ": a message of " + std::to_string(n) + " values, expected " +
                                std::to_string(carried) + (layout_.defined() ? " (the layout's coordinates)" :
                                                           " (the flat parameters)"));
  }
  const at::Tensor flat = x.reshape({-1});
  const at::Tensor& message = error_feedback_ ? memory_.compensate(flat, layout_) : flat;
  compressor_->adapt(message, {step, rank}, [&](at::Tensor& t) {
    if (static_cast<int>(members.size()) == comm.size()) {
      comm.allreduce(t, comm::ReduceOp::Sum);
    } else {
      comm.group_allreduce(t, members, comm::ReduceOp::Sum);
    }
  });
  compressor_->encode_into(message.contiguous(), {step, rank}, packet_);
  if (compressor_->summable()) return sum_undecoded(comm, flat, members, step);
  if (decoded_.size() < members.size()) decoded_.resize(members.size());
  for (auto& d : decoded_) {
    if (!d.defined() || d.numel() != n) d = at::empty({n}, at::kFloat);
  }
  const size_t me = static_cast<size_t>(std::lower_bound(members.begin(), members.end(), rank) - members.begin());
  compressor_->decode_into(packet_, decoded_[me], {step, rank});
  if (error_feedback_) memory_.remember(decoded_[me]);
  const std::vector<comm::Bytes> packets = detail::exchange_with_members(comm, members, packet_);
  for (size_t i = 0, k = 0; i < members.size(); ++i) {
    if (members[i] == rank) continue;
    compressor_->decode_into(packets[k++], decoded_[i], {step, members[i]});
  }
  // The sum in member order (the same bits on every member), then the mean.
  // (Into the message itself: every decoded packet, its own included, is already in decoded_.)
  flat.copy_(decoded_[0]);
  for (size_t i = 1; i < members.size(); ++i) flat.add_(decoded_[i]);
  flat.div_(static_cast<double>(members.size()));
}

void CompressedAveraging::sum_undecoded(comm::Communicator& comm, const at::Tensor& flat,
                                        const std::vector<int>& members, int64_t step) {
  const int rank = comm.rank();
  const int64_t n = flat.numel();
  if (error_feedback_) {
    if (decoded_.empty()) decoded_.resize(1);
    if (!decoded_[0].defined() || decoded_[0].numel() != n) decoded_[0] = at::empty({n}, at::kFloat);
    compressor_->decode_into(packet_, decoded_[0], {step, rank});
    memory_.remember(decoded_[0]);
  }
  // The payload's float32 values, summed over the members by the communicator (counted as its
  // allreduce), written back into the packet and decoded once.
  const int64_t values = static_cast<int64_t>(packet_.size() - compress::kPacketHeaderBytes) / 4;
  if (!payload_sum_.defined() || payload_sum_.numel() != values) payload_sum_ = at::empty({values}, at::kFloat);
  uint8_t* payload = packet_.data() + compress::kPacketHeaderBytes;
  std::memcpy(payload_sum_.data_ptr<float>(), payload, static_cast<size_t>(values) * 4);
  if (static_cast<int>(members.size()) == comm.size()) {
    comm.allreduce(payload_sum_, comm::ReduceOp::Sum);
  } else {
    comm.group_allreduce(payload_sum_, members, comm::ReduceOp::Sum);
  }
  std::memcpy(payload, payload_sum_.data_ptr<float>(), static_cast<size_t>(values) * 4);
  compress::seal_packet(packet_);
  at::Tensor out = flat;
  compressor_->decode_into(packet_, out, {step, rank});
  flat.div_(static_cast<double>(members.size()));
}

}  // namespace gossamer::optim
