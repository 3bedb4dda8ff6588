// state() / load_state(): 20 steps, checkpoint, a FRESH optimizer (and local optimizer) restored
// from the state, 30 more steps == 50 uninterrupted steps, bit for bit (InProcess is deterministic).
#include <gtest/gtest.h>

#include "optim_test_util.h"

namespace gossamer::optim::testing {
namespace {


struct Case {
  std::string algorithm;
  bool momentum = false;
  bool tracking = false;
  int64_t accumulation = 1;  // dadam
};

class Checkpoint : public ::testing::TestWithParam<Case> {};

TEST_P(Checkpoint, RestoreContinuesExactly) {
  const Case& c = GetParam();
  Problem pb = make_problem(kN, kDim, 1.0);
  at::Tensor X0 = initial_points(kN, kDim);
  auto t = topo("ring", kN);
  RunSpec s;
  s.algorithm = c.algorithm;
  s.topology = algorithm_needs_topology(c.algorithm) ? &t : nullptr;
  s.lr = c.algorithm == "dadam" ? 0.02 : 0.3 / pb.smoothness();
  s.steps = 50;
  if (c.momentum) s.local = momentum_sgd(0.9);
  s.options.gossip_pga.period = 4;
  s.options.local_sgd.period = 4;
  s.options.diloco.period = 6;  // the restart at 20 falls inside an outer period
  s.options.dadam.tracking = c.tracking;
  s.options.dadam.accumulation = c.accumulation;  // 3: the restart at 20 falls inside an accumulation window
  at::Tensor straight = run_optimizer(Backend::InProcess, pb, X0, s);
  s.restart_at = 20;
  at::Tensor resumed = run_optimizer(Backend::InProcess, pb, X0, s);
  EXPECT_EQ((straight - resumed).abs().max().item<double>(), 0.0) << c.algorithm;
}

TEST(CheckpointErrors, MissingStateIsNamed) {
  comm::run_inprocess(kN, [&](comm::Communicator& comm) {
    auto t = topo("ring", kN);
    at::Tensor x = at::zeros({kDim}, at::kDouble).requires_grad_(true);
    auto opt = make_distributed_optimizer("d2", {}, {x}, comm, &t, plain_sgd()(x, 0.1));
    std::map<std::string, at::Tensor> state{{"step", at::tensor({int64_t{3}}, at::kLong)}};
    try {
      opt->load_state(state);
      ADD_FAILURE() << "no throw";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("d2.psi.0"), std::string::npos) << e.what();
    }
  });
}

INSTANTIATE_TEST_SUITE_P(Algorithms, Checkpoint,
                         ::testing::Values(Case{"d2"}, Case{"gradient-tracking"}, Case{"decentlam", true},
                                           Case{"gossip-pga"}, Case{"local-sgd"}, Case{"wagma"}, Case{"diloco"},
                                           Case{"dadam"}, Case{"dadam", false, true}, Case{"dadam", false, false, 3},
                                           Case{"dsgd"}),
                         [](const auto& info) {
                           std::string n = info.param.algorithm + (info.param.tracking ? "_tracking" : "") +
                                           (info.param.accumulation > 1 ? "_accumulation" : "");
                           for (auto& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace gossamer::optim::testing
