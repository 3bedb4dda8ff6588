#include "gossamer/optim/distributed_optimizer.h"

#include <torch/torch.h>

#include "gossamer/comm/communicator.h"

namespace gossamer::optim {

DistributedOptimizer::DistributedOptimizer(std::vector<at::Tensor> params, comm::Communicator& comm,
                                           std::unique_ptr<torch::optim::Optimizer> local)
    : params_(std::move(params)), comm_(comm), local_(std::move(local)) {
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

std::map<std::string, at::Tensor> DistributedOptimizer::state() const {
  return {{"step", at::tensor({step_}, at::kLong)}};
}

void DistributedOptimizer::load_state(const std::map<std::string, at::Tensor>& state) {
  auto it = state.find("step");
  if (it == state.end()) throw std::runtime_error(name() + ": checkpoint state has no 'step'");
  step_ = it->second.item<int64_t>();
}

}  // namespace gossamer::optim
