// optim::algorithm_needs says before anything is built what each algorithm's constructor will
// refuse; train/preflight turns it into config keys. Each need declared here is checked against
// the constructor: building against the need throws, so the table cannot drift from the code.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gossamer/topology/spec.h"
#include "optim_test_util.h"

namespace gossamer::optim::testing {
namespace algorithm_needs_test {

// A star with uniform weights: connected, row- but not column-stochastic, not symmetric.
topology::Topology star_uniform(int n) {
  topology::TopologySpec s;
  s.name = "star";
  s.workers = n;
  s.weights = topology::parse_weights("uniform");
  s.require_doubly_stochastic = false;
  return topology::make_topology(s);
}

bool builds(comm::Communicator& comm, const std::string& algorithm, const AlgorithmOptions& o,
            const topology::Topology* t, LocalFactory local) {
  at::Tensor x = at::zeros({3}, at::kDouble).requires_grad_(true);
  try {
    make_distributed_optimizer(algorithm, o, {x}, comm, t, local(x, 0.1));
    return true;
  } catch (const std::invalid_argument&) {
    return false;
  }
}

LocalFactory adamw() {
  return [](const at::Tensor& p, double lr) {
    return std::make_unique<torch::optim::AdamW>(std::vector<at::Tensor>{p}, torch::optim::AdamWOptions(lr));
  };
}

TEST(AlgorithmNeeds, EveryDeclaredNeedIsWhatTheConstructorRefuses) {
  comm::run_inprocess(kN, [&](comm::Communicator& comm) {
    if (comm.rank() != 0) return;
    const auto ring = topo("ring", kN);
    const auto star = star_uniform(kN);
    const auto one_peer = topo("one-peer-exponential", kN);
    for (const auto& name : algorithm_names()) {
      AlgorithmOptions o;
      o.dadam.tracking = true;  // dadam's strictest form
      if (name == "choco") o.choco.compressor.method = "sign";
      const AlgorithmNeeds needs = algorithm_needs(name, o);
      const topology::Topology* t = needs.topology ? &ring : nullptr;
      SCOPED_TRACE(name);
      ASSERT_TRUE(builds(comm, name, o, t, plain_sgd())) << "plain SGD on a ring must build";
      EXPECT_EQ(builds(comm, name, o, t, adamw()), !needs.own_update);
      EXPECT_EQ(builds(comm, name, o, t, momentum_sgd(0.9)), needs.momentum_allowed);
      if (needs.topology) {
        EXPECT_EQ(builds(comm, name, o, &star, plain_sgd()), !needs.doubly_stochastic);
        EXPECT_EQ(builds(comm, name, o, &one_peer, plain_sgd()), !needs.static_topology && !needs.symmetric);
        if (needs.symmetric_with_momentum) EXPECT_FALSE(builds(comm, name, o, &one_peer, momentum_sgd(0.9)));
      }
    }
  });
}

TEST(AlgorithmNeeds, DadamNeedsExactnessOnlyWithTracking) {
  AlgorithmOptions o;
  o.dadam.tracking = false;
  EXPECT_FALSE(algorithm_needs("dadam", o).doubly_stochastic);
  EXPECT_FALSE(algorithm_needs("dadam", o).exact_mixing);
  o.dadam.tracking = true;
  EXPECT_TRUE(algorithm_needs("dadam", o).doubly_stochastic);
  EXPECT_TRUE(algorithm_needs("dadam", o).exact_mixing);
  EXPECT_THROW(algorithm_needs("sgd-with-a-typo"), std::invalid_argument);
}

}  // namespace algorithm_needs_test
}  // namespace gossamer::optim::testing
