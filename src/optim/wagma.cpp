#include "gossamer/optim/wagma.h"

#include <torch/torch.h>

#include <algorithm>

#include "gossamer/comm/communicator.h"

namespace gossamer::optim {

namespace {

bool is_power_of_two(int64_t v) { return v >= 1 && (v & (v - 1)) == 0; }

int log2_exact(int v) {
  int l = 0;
  while ((1 << l) < v) ++l;
  return l;
}

}  // namespace

void WagmaOptions::validate() const {
  if (!is_power_of_two(group_size)) {
    throw std::invalid_argument("WagmaOptions.group_size = " + std::to_string(group_size) +
                                ": must be a power of two >= 1 (butterfly groups over rank bits)");
  }
  if (global_period < 1) {
    throw std::invalid_argument("WagmaOptions.global_period = " + std::to_string(global_period) +
                                ": must be >= 1 (steps between global averages)");
  }
}

std::vector<int> Wagma::group(int rank, int workers, int group_size, int64_t step) {
  const int L = log2_exact(workers);
  const int s = log2_exact(group_size);
  if (s == 0) return {rank};
  const int offset = static_cast<int>((step * s) % L);
  std::vector<int> bits;
  for (int t = 0; t < s; ++t) bits.push_back((offset + t) % L);
  int base = rank;
  for (int b : bits) base &= ~(1 << b);
  std::vector<int> members;
  for (int m = 0; m < group_size; ++m) {
    int r = base;
    for (int t = 0; t < s; ++t) {
      if (m & (1 << t)) r |= 1 << bits[static_cast<size_t>(t)];
    }
    members.push_back(r);
  }
  std::sort(members.begin(), members.end());
  return members;
}

Wagma::Wagma(std::vector<at::Tensor> params, comm::Communicator& comm, std::unique_ptr<torch::optim::Optimizer> local,
             WagmaOptions options)
    : DistributedOptimizer(std::move(params), comm, std::move(local)), options_(options) {
  options_.validate();
  if (!is_power_of_two(comm.size())) {
    throw std::invalid_argument("wagma: the worker count " + std::to_string(comm.size()) +
                                " must be a power of two (butterfly groups over rank bits)");
  }
  if (options_.group_size > comm.size()) {
    throw std::invalid_argument("WagmaOptions.group_size = " + std::to_string(options_.group_size) +
                                ": must be <= the worker count " + std::to_string(comm.size()));
  }
}

void Wagma::step() {
  local_->step();
  torch::NoGradGuard no_grad;
  const bool global = (step_ + 1) % options_.global_period == 0 || options_.group_size == comm_.size();
  if (global) {
    for (auto& p : params_) seam_.average(p);
  } else if (options_.group_size > 1) {
    const auto members = group(comm_.rank(), comm_.size(), options_.group_size, step_);
    for (auto& p : params_) seam_.group_average(p, members);
  }
  ++step_;
}

}  // namespace gossamer::optim
