#include "gossamer/optim/powersgd_averaging.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <stdexcept>
#include <string>

#include "gossamer/comm/communicator.h"

namespace gossamer::optim {

PowerSgdAveraging::PowerSgdAveraging(const PowerSgdOptions& options, const std::vector<MessageTensor>& tensors,
                                     int64_t numel)
    : options_(options), numel_(numel) {
  if (options.rank < 1) {
    throw std::invalid_argument("powersgd: rank = " + std::to_string(options.rank) + " must be >= 1");
  }
  if (options.start_step < 0) {
    throw std::invalid_argument("powersgd: start_step = " + std::to_string(options.start_step) + " must be >= 0");
  }
  if (!(options.eps >= 0)) throw std::invalid_argument("powersgd: eps must be >= 0");
  if (numel < 0) throw std::invalid_argument("powersgd: numel must be >= 0");
  const int64_t r = options.rank;
  int64_t covered = 0;  // coordinates before `covered` are assigned
  for (const auto& t : tensors) {
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    if (t.offset < covered || t.offset + n > numel) {
      throw std::invalid_argument("powersgd: a tensor at offset " + std::to_string(t.offset) + " of " +
                                  std::to_string(n) + " values overlaps the previous one or ends past the message's " +
                                  std::to_string(numel) + " (tensors must be in ascending, non-overlapping order)");
    }
    if (t.offset > covered) plain_.emplace_back(covered, t.offset - covered);
    compress::MatrixShape m;
    m.rows = t.shape.empty() ? 1 : t.shape[0];
    m.cols = m.rows > 0 ? n / m.rows : 0;
    if (compress::low_rank_pays(m, r)) {
      layers_.push_back({t.offset, m.rows, m.cols, p_values_, q_values_});
      p_values_ += m.rows * r;
      q_values_ += m.cols * r;
    } else if (n > 0) {
      plain_.emplace_back(t.offset, n);
    }
    covered = t.offset + n;
  }
  if (covered < numel) plain_.emplace_back(covered, numel - covered);
  for (const auto& [o, n] : plain_) plain_values_ += n;
  // Q's first draw from the shared seed: the same on every worker.
  at::Generator g = at::detail::createCPUGenerator(options.seed);
  q_ = at::normal(0.0, 1.0, {q_values_}, g, at::TensorOptions().dtype(at::kFloat));
  if (options.error_feedback) memory_ = at::zeros({numel}, at::kFloat);
  p_msg_ = at::empty({p_values_ + plain_values_}, at::kFloat);
  m_ = at::empty({numel}, at::kFloat);
}

std::string PowerSgdAveraging::name() const {
  return "powersgd (rank " + std::to_string(options_.rank) + (options_.error_feedback ? ", error feedback" : "") +
         (options_.start_step > 0 ? ", from average " + std::to_string(options_.start_step) : std::string()) + ")";
}

void PowerSgdAveraging::set_layout(const at::Tensor& index) { packed_ = index.defined(); }

void PowerSgdAveraging::mix(comm::Communicator&, at::Tensor&, const topology::Topology&, int64_t) {
  throw std::logic_error("powersgd: this rule only averages (supports_mix() is false)");
}

void PowerSgdAveraging::average(comm::Communicator& comm, at::Tensor& x) { over(comm, x, nullptr); }

void PowerSgdAveraging::group_average(comm::Communicator& comm, at::Tensor& x, const std::vector<int>& group) {
  over(comm, x, &group);
}

void PowerSgdAveraging::over(comm::Communicator& comm, at::Tensor& x, const std::vector<int>* group) {
  if (packed_) {
    throw std::invalid_argument("powersgd: factors each layer's matrix, which a sparse model's packed messages (only "
                                "the kept values) do not have; use dense messages (sparse.packed_messages = false)");
  }
  if (x.scalar_type() != at::kFloat || x.numel() != numel_) {
    throw std::invalid_argument("powersgd: messages must be the " + std::to_string(numel_) +
                                " float32 flat parameters, got " + std::to_string(x.numel()) + " " +
                                std::string(c10::toString(x.scalar_type())));
  }
  const double n = group ? static_cast<double>(group->size()) : static_cast<double>(comm.size());
  auto sum = [&](at::Tensor& t) {
    if (group) {
      comm.group_allreduce(t, *group, comm::ReduceOp::Sum);
    } else {
      comm.allreduce(t, comm::ReduceOp::Sum);
    }
  };
  at::Tensor flat = x.reshape({-1});
  if (calls_++ < options_.start_step || layers_.empty()) {
    sum(flat);
    flat.div_(n);
    return;
  }
  const int64_t r = options_.rank;
  const at::Tensor m = options_.error_feedback ? at::add_out(m_, flat, memory_) : flat;
  auto matrix = [&](const at::Tensor& t, const Layer& l) { return t.narrow(0, l.offset, l.rows * l.cols).view({l.rows, l.cols}); };
  auto p_of = [&](const Layer& l) { return p_msg_.narrow(0, l.p_offset, l.rows * r).view({l.rows, r}); };
  auto q_of = [&](const Layer& l) { return q_.narrow(0, l.q_offset, l.cols * r).view({l.cols, r}); };
  for (const auto& l : layers_) {
    at::Tensor p = p_of(l);
    at::mm_out(p, matrix(m, l), q_of(l));
  }
  int64_t at_value = p_values_;
  for (const auto& [o, len] : plain_) {
    p_msg_.narrow(0, at_value, len).copy_(m.narrow(0, o, len));
    at_value += len;
  }
  sum(p_msg_);
  at_value = p_values_;
  for (const auto& [o, len] : plain_) {
    flat.narrow(0, o, len).copy_(p_msg_.narrow(0, at_value, len)).div_(n);
    at_value += len;
  }
  for (const auto& l : layers_) {
    at::Tensor p = p_of(l);
    compress::orthogonalize_columns(p, options_.eps);
    at::Tensor q = q_of(l);
    const at::Tensor mat = matrix(m, l);
    at::mm_out(q, mat.t(), p);
    if (options_.error_feedback) {
      at::Tensor e = matrix(memory_, l);
      at::sub_out(e, mat, at::mm(p, q.t()));
    }
  }
  sum(q_);
  q_.div_(n);
  for (const auto& l : layers_) {
    at::Tensor out = matrix(flat, l);
    at::mm_out(out, p_of(l), q_of(l).t());
  }
}

std::map<std::string, at::Tensor> PowerSgdAveraging::state() const {
  std::map<std::string, at::Tensor> s{{"calls", at::tensor({calls_}, at::kLong)}, {"q", q_}};
  if (options_.error_feedback) s["error"] = memory_;
  return s;
}

void PowerSgdAveraging::load_state(const std::map<std::string, at::Tensor>& state) {
  auto need = [&](const std::string& key, int64_t numel) -> const at::Tensor& {
    auto it = state.find(key);
    if (it == state.end() || it->second.numel() != numel) {
      throw std::runtime_error(name() + ": the checkpoint has no 'mixing." + key + "' of " + std::to_string(numel) +
                               " values (was it written with other [compress] settings?)");
    }
    return it->second;
  };
  calls_ = need("calls", 1).item<int64_t>();
  q_.copy_(need("q", q_.numel()).reshape({-1}));
  if (options_.error_feedback) memory_.copy_(need("error", numel_).reshape({-1}));
}

std::vector<at::Tensor> PowerSgdAveraging::state_tensors() {
  if (!options_.error_feedback) return {};
  return {memory_};
}

}  // namespace gossamer::optim
