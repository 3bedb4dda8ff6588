#include "gossamer/optim/distributed_optimizer.h"

#include <torch/torch.h>

#include "gossamer/comm/communicator.h"
#include "gossamer/optim/detail.h"
#include "gossamer/topology/topology.h"

namespace gossamer::optim {

DistributedOptimizer::DistributedOptimizer(std::vector<at::Tensor> params, comm::Communicator& comm,
                                           std::unique_ptr<torch::optim::Optimizer> local)
    : params_(std::move(params)), comm_(comm), seam_(comm), local_(std::move(local)) {
  if (params_.empty()) throw std::invalid_argument("DistributedOptimizer: no parameters");
  if (!local_) throw std::invalid_argument("DistributedOptimizer: a local optimizer is required");
  for (const auto& p : params_) {
    if (!p.is_contiguous()) throw std::invalid_argument("DistributedOptimizer: parameters must be contiguous");
  }
}

DistributedOptimizer::~DistributedOptimizer() = default;

void DistributedOptimizer::set_lr(double lr) {
  for (auto& group : local_->param_groups()) group.options().set_lr(lr);
}

namespace {

// Throws when `need` (an algorithm's exact_mixing_need) is not met: `breaker` says what would
// make the mixing inexact, `fix` what to do instead.
void require_exact(const std::string& algorithm, const std::string& need, const std::string& breaker,
                   const std::string& fix) {
  if (need.empty()) return;
  throw std::invalid_argument(algorithm + " needs exact linear mixing (" + need + "), which " + breaker +
                              " does not give; " + fix +
                              ", or use an algorithm without that need (dsgd, dsgd-cta, gossip-pga, local-sgd, "
                              "parallel-sgd, wagma, diloco)");
}

}  // namespace

void DistributedOptimizer::use_masks(const MessageMasks* masks) {
  if (masks) {
    if (params_.size() != 1 || params_[0].numel() != masks->numel()) {
      throw std::invalid_argument(name() + ": sparse-aware messages need one flat parameter tensor of " +
                                  std::to_string(masks->numel()) + " values (the masks' length); the optimizer has " +
                                  std::to_string(params_.size()) + " parameter tensor(s)" +
                                  (params_.size() == 1 ? " of " + std::to_string(params_[0].numel()) + " values" : ""));
    }
    if (masks->may_differ()) {
      require_exact(name(), exact_mixing_need(),
                    "mixing with per-worker masks (" + masks->describe() +
                        ": each coordinate is averaged over the workers that hold it)",
                    "use masks that every worker shares (e.g. cyclic instead of parallel GaP)");
    }
    if (!seam_.mixing().exact_linear()) {
      require_exact(name(), exact_mixing_need(), "the '" + seam_.mixing().name() + "' mixing rule",
                    "use exact mixing");
    }
  }
  seam_.use_masks(masks);
}

void DistributedOptimizer::set_mixing(std::unique_ptr<Mixing> mixing) {
  if (!mixing) throw std::invalid_argument(name() + ": the mixing rule must not be null");
  if (gossips() && !mixing->supports_mix()) {
    throw std::invalid_argument(name() + " mixes with graph neighbours, and the '" + mixing->name() +
                                "' mixing rule only averages over all workers or a group: use it with parallel-sgd, "
                                "local-sgd, wagma or diloco");
  }
  if (!mixing->exact_linear()) {
    require_exact(name(), exact_mixing_need(), "the '" + mixing->name() + "' mixing rule", "use exact mixing");
  }
  seam_.set_mixing(std::move(mixing));
}

std::vector<at::Tensor> DistributedOptimizer::state_tensors() {
  std::vector<at::Tensor> out = local_state_tensors(*local_);
  for (auto& t : algorithm_state_tensors()) out.push_back(t);
  for (auto& t : seam_.mixing().state_tensors()) out.push_back(t);
  return out;
}

std::vector<at::Tensor> local_state_tensors(torch::optim::Optimizer& local) {
  std::vector<at::Tensor> out;
  for (auto& [key, state] : local.state()) {
    if (auto* sgd = dynamic_cast<torch::optim::SGDParamState*>(state.get())) {
      out.push_back(sgd->momentum_buffer());
    } else if (auto* adamw = dynamic_cast<torch::optim::AdamWParamState*>(state.get())) {
      out.push_back(adamw->exp_avg());
      out.push_back(adamw->exp_avg_sq());
      out.push_back(adamw->max_exp_avg_sq());
    } else if (auto* adam = dynamic_cast<torch::optim::AdamParamState*>(state.get())) {
      out.push_back(adam->exp_avg());
      out.push_back(adam->exp_avg_sq());
      out.push_back(adam->max_exp_avg_sq());
    }
  }
  return out;
}

double DistributedOptimizer::lr() const { return local_->param_groups().at(0).options().get_lr(); }

at::Tensor DistributedOptimizer::grad(size_t i) const {
  at::Tensor g = params_.at(i).grad();
  if (!g.defined()) {
    throw std::runtime_error(name() + ": parameter " + std::to_string(i) + " has no gradient (call backward() first)");
  }
  return g;
}

std::map<std::string, at::Tensor> DistributedOptimizer::state() const {
  std::map<std::string, at::Tensor> s{{"step", at::tensor({step_}, at::kLong)}};
  for (const auto& [k, v] : seam_.mixing().state()) s["mixing." + k] = v.detach().clone();
  return s;
}

void DistributedOptimizer::load_state(const std::map<std::string, at::Tensor>& state) {
  auto it = state.find("step");
  if (it == state.end()) throw std::runtime_error(name() + ": checkpoint state has no 'step'");
  step_ = it->second.item<int64_t>();
  std::map<std::string, at::Tensor> mixing;
  for (const auto& [k, v] : state) {
    if (k.rfind("mixing.", 0) == 0) mixing[k.substr(7)] = v;
  }
  seam_.mixing().load_state(mixing);
}

void DistributedOptimizer::put_tensors(std::map<std::string, at::Tensor>& out, const std::string& prefix,
                                       const std::vector<at::Tensor>& tensors) {
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (tensors[i].defined()) out[prefix + "." + std::to_string(i)] = tensors[i].detach().clone();
  }
}

std::vector<at::Tensor> DistributedOptimizer::defined_tensors(
    std::initializer_list<const std::vector<at::Tensor>*> lists) {
  std::vector<at::Tensor> out;
  for (const auto* list : lists) {
    for (const auto& t : *list) {
      if (t.defined()) out.push_back(t);
    }
  }
  return out;
}

bool DistributedOptimizer::has_tensors(const std::map<std::string, at::Tensor>& in, const std::string& prefix) {
  return in.count(prefix + ".0") > 0;
}

std::vector<at::Tensor> DistributedOptimizer::take_tensors(const std::map<std::string, at::Tensor>& in,
                                                           const std::string& prefix) const {
  std::vector<at::Tensor> out;
  for (size_t i = 0; i < params_.size(); ++i) {
    const std::string key = prefix + "." + std::to_string(i);
    auto it = in.find(key);
    if (it == in.end()) {
      throw std::runtime_error(name() + ": checkpoint state has no '" + key +
                               "' (was it written by a different algorithm or model?)");
    }
    if (it->second.sizes() != params_[i].sizes()) {
      throw std::runtime_error(name() + ": checkpoint tensor '" + key + "' has shape " +
                               c10::str(it->second.sizes()) + " but parameter " + std::to_string(i) + " has shape " +
                               c10::str(params_[i].sizes()));
    }
    out.push_back(it->second.detach().to(params_[i].options()).clone());
  }
  return out;
}

namespace detail {

PlainSgd require_plain_sgd(const torch::optim::Optimizer& local, const std::string& algorithm, bool allow_momentum) {
  const auto* sgd = dynamic_cast<const torch::optim::SGD*>(&local);
  const std::string what = allow_momentum ? "torch::optim::SGD (momentum allowed, no Nesterov, no dampening)"
                                          : "plain torch::optim::SGD (momentum 0, no Nesterov)";
  if (!sgd) {
    throw std::invalid_argument(algorithm + ": the local optimizer must be " + what +
                                ": the algorithm defines its own update and takes only the learning rate" +
                                (allow_momentum ? ", momentum" : "") + " and weight decay from it; got another kind");
  }
  if (sgd->param_groups().size() != 1) {
    throw std::invalid_argument(algorithm + ": the local SGD must have exactly one parameter group, got " +
                                std::to_string(sgd->param_groups().size()));
  }
  const auto& o = static_cast<const torch::optim::SGDOptions&>(sgd->param_groups()[0].options());
  if (o.nesterov()) {
    throw std::invalid_argument(algorithm + ": the local SGD has nesterov = true; the algorithm's update has no " +
                                "Nesterov form: set nesterov = false");
  }
  if (o.dampening() != 0.0) {
    throw std::invalid_argument(algorithm + ": the local SGD has dampening = " + std::to_string(o.dampening()) +
                                "; only 0 is supported");
  }
  if (!allow_momentum && o.momentum() != 0.0) {
    throw std::invalid_argument(algorithm + ": the local SGD has momentum = " + std::to_string(o.momentum()) +
                                "; the algorithm is defined for plain gradient steps only: set momentum = 0");
  }
  if (o.momentum() < 0.0 || o.momentum() >= 1.0) {
    throw std::invalid_argument(algorithm + ": momentum = " + std::to_string(o.momentum()) + " must be in [0, 1)");
  }
  return PlainSgd{o.momentum(), o.weight_decay()};
}

std::vector<int> every_rank(const comm::Communicator& comm) {
  std::vector<int> all(static_cast<size_t>(comm.size()));
  for (int r = 0; r < comm.size(); ++r) all[static_cast<size_t>(r)] = r;
  return all;
}

std::vector<comm::Bytes> exchange_with_members(comm::Communicator& comm, const std::vector<int>& members,
                                               const comm::Bytes& packet) {
  std::vector<std::pair<int, comm::Bytes>> out;
  std::vector<int> from;
  for (int j : members) {
    if (j == comm.rank()) continue;
    out.emplace_back(j, packet);
    from.push_back(j);
  }
  return comm.exchange(out, from);
}

void require_matching_size(const topology::Topology& topology, const comm::Communicator& comm,
                           const std::string& algorithm) {
  if (topology.size() != comm.size()) {
    throw std::invalid_argument(algorithm + ": topology '" + topology.name() + "' has " +
                                std::to_string(topology.size()) + " workers but the communicator has " +
                                std::to_string(comm.size()));
  }
}

}  // namespace detail
}  // namespace gossamer::optim
