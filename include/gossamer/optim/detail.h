// Checks shared by the optimizers (not part of the public API).
#pragma once

#include <string>
#include <vector>

#include "gossamer/comm/communicator.h"

namespace torch::optim {
class Optimizer;
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

// 0 .. comm.size() - 1: the members of an average over all workers.
std::vector<int> every_rank(const comm::Communicator& comm);

// All-to-all among `members` (sorted, this rank included): sends `packet` to every other member and
// returns the packet of each, in member order without this rank. Mixing rules that need every
// member's individual message (compressed and robust averages) call it.
std::vector<comm::Bytes> exchange_with_members(comm::Communicator& comm, const std::vector<int>& members,
                                               const comm::Bytes& packet);

}  // namespace gossamer::optim::detail
