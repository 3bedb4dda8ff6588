// Checks shared by the optimizers (not part of the public API).
#pragma once

#include <string>

namespace torch::optim {
class Optimizer;
}
namespace gossamer::comm {
class Communicator;
}
namespace gossamer::topology {
class Topology;
}

namespace gossamer::optim::detail {

// What an algorithm with its own update rule takes from a torch::optim::SGD local optimizer.
struct PlainSgd {
  double momentum = 0.0;
  double weight_decay = 0.0;  // added to the gradient as L2: g <- grad + weight_decay * x
};

// Throws std::invalid_argument naming `algorithm` unless `local` is torch::optim::SGD with one
// parameter group, no Nesterov, no dampening and (unless allow_momentum) momentum 0.
PlainSgd require_plain_sgd(const torch::optim::Optimizer& local, const std::string& algorithm, bool allow_momentum);

// Throws std::invalid_argument unless topology.size() == comm.size().
void require_matching_size(const topology::Topology& topology, const comm::Communicator& comm,
                           const std::string& algorithm);

}  // namespace gossamer::optim::detail
