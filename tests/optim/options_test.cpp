// Bad options and unsupported combinations fail at construction with a message that names the
// field, the value and what is allowed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gossamer/optim/wagma.h"
#include "optim_test_util.h"

namespace gossamer::optim::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;


// Runs `check` on rank 0 of an 8-worker InProcess group (constructors do not communicate).
void on_rank0(const std::function<void(comm::Communicator&)>& check) {
  comm::run_inprocess(kN, [&](comm::Communicator& comm) {
    if (comm.rank() == 0) check(comm);
  });
}

// The message of the std::invalid_argument that building `algorithm` throws ("" if none).
std::string build_error(comm::Communicator& comm, const std::string& algorithm, const AlgorithmOptions& options,
                        const topology::Topology* t, LocalFactory local = plain_sgd()) {
  at::Tensor x = at::zeros({3}, at::kDouble).requires_grad_(true);
  try {
    make_distributed_optimizer(algorithm, options, {x}, comm, t, local(x, 0.1));
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(Options, NegativeOrZeroPeriods) {
  on_rank0([](comm::Communicator& comm) {
    auto ring = topo("ring", kN);
    AlgorithmOptions o;
    o.gossip_pga.period = -3;
    EXPECT_THAT(build_error(comm, "gossip-pga", o, &ring),
                AllOf(HasSubstr("GossipPgaOptions.period"), HasSubstr("-3"), HasSubstr(">= 1")));
    o = {};
    o.local_sgd.period = 0;
    EXPECT_THAT(build_error(comm, "local-sgd", o, nullptr), AllOf(HasSubstr("LocalSgdOptions.period"), HasSubstr("0")));
    o = {};
    o.diloco.period = -1;
    EXPECT_THAT(build_error(comm, "diloco", o, nullptr), HasSubstr("DilocoOptions.period = -1"));
    o = {};
    o.wagma.global_period = 0;
    EXPECT_THAT(build_error(comm, "wagma", o, nullptr), HasSubstr("WagmaOptions.global_period = 0"));
  });
}

TEST(Options, OuterAndAdamHyperparameters) {
  on_rank0([](comm::Communicator& comm) {
    auto ring = topo("ring", kN);
    AlgorithmOptions o;
    o.diloco.outer_momentum = 1.0;
    EXPECT_THAT(build_error(comm, "diloco", o, nullptr),
                AllOf(HasSubstr("DilocoOptions.outer_momentum"), HasSubstr("[0, 1)")));
    o = {};
    o.diloco.outer_lr = 0.0;
    EXPECT_THAT(build_error(comm, "diloco", o, nullptr), AllOf(HasSubstr("DilocoOptions.outer_lr"), HasSubstr("> 0")));
    o = {};
    o.dadam.beta1 = 1.0;
    EXPECT_THAT(build_error(comm, "dadam", o, &ring), AllOf(HasSubstr("DAdamOptions.beta1"), HasSubstr("[0, 1)")));
    o = {};
    o.dadam.eps = -1e-8;
    EXPECT_THAT(build_error(comm, "dadam", o, &ring), HasSubstr("DAdamOptions.eps"));
    o = {};
    o.dadam.accumulation = 0;
    EXPECT_THAT(build_error(comm, "dadam", o, &ring), AllOf(HasSubstr("DAdamOptions.accumulation"), HasSubstr(">= 1")));
  });
}

TEST(Options, WagmaGroups) {
  on_rank0([](comm::Communicator& comm) {
    AlgorithmOptions o;
    o.wagma.group_size = 3;
    EXPECT_THAT(build_error(comm, "wagma", o, nullptr),
                AllOf(HasSubstr("WagmaOptions.group_size = 3"), HasSubstr("power of two")));
    o.wagma.group_size = 16;
    EXPECT_THAT(build_error(comm, "wagma", o, nullptr), AllOf(HasSubstr("group_size = 16"), HasSubstr("8")));
  });
  comm::run_inprocess(6, [](comm::Communicator& comm) {
    if (comm.rank() != 0) return;
    AlgorithmOptions o;
    o.wagma.group_size = 2;
    EXPECT_THAT(build_error(comm, "wagma", o, nullptr), AllOf(HasSubstr("worker count 6"), HasSubstr("power of two")));
  });
}

TEST(Options, WagmaGroupsAreAButterfly) {
  EXPECT_EQ(Wagma::group(5, 8, 2, 0), (std::vector<int>{4, 5}));   // bit 0
  EXPECT_EQ(Wagma::group(5, 8, 2, 1), (std::vector<int>{5, 7}));   // bit 1
  EXPECT_EQ(Wagma::group(5, 8, 2, 2), (std::vector<int>{1, 5}));   // bit 2
  EXPECT_EQ(Wagma::group(5, 8, 4, 1), (std::vector<int>{0, 1, 4, 5}));  // bits 2 and 0 (wrapping)
  EXPECT_EQ(Wagma::group(3, 8, 1, 4), (std::vector<int>{3}));
}

TEST(Options, D2NeedsASymmetricW) {
  on_rank0([](comm::Communicator& comm) {
    auto expo = topo("exponential", kN);  // i receives from i-1, i-2, i-4: directed
    EXPECT_THAT(build_error(comm, "d2", {}, &expo),
                AllOf(HasSubstr("d2"), HasSubstr("symmetric"), HasSubstr("exponential"), HasSubstr("gradient-tracking")));
    auto ring = topo("ring", kN);
    EXPECT_EQ(build_error(comm, "d2", {}, &ring), "");
  });
}

TEST(Options, DecentLamWithMomentumNeedsASymmetricW) {
  on_rank0([](comm::Communicator& comm) {
    for (const std::string name : {"exponential", "one-peer-exponential"}) {
      auto directed = topo(name, kN);
      EXPECT_THAT(build_error(comm, "decentlam", {}, &directed, momentum_sgd(0.9)),
                  AllOf(HasSubstr("decentlam"), HasSubstr("symmetric"), HasSubstr(name), HasSubstr("dsgd")));
      EXPECT_EQ(build_error(comm, "decentlam", {}, &directed), "") << "without momentum it is D-SGD: allowed";
    }
  });
}

TEST(Options, ExactMethodsNeedPlainSgd) {
  on_rank0([](comm::Communicator& comm) {
    auto ring = topo("ring", kN);
    for (const std::string a : {"d2", "gradient-tracking", "dadam"}) {
      EXPECT_THAT(build_error(comm, a, {}, &ring, momentum_sgd(0.9)),
                  AllOf(HasSubstr(a), HasSubstr("momentum = 0.9"), HasSubstr("set momentum = 0")));
    }
    LocalFactory adam = [](const at::Tensor& p, double lr) {
      return std::make_unique<torch::optim::AdamW>(std::vector<at::Tensor>{p}, torch::optim::AdamWOptions(lr));
    };
    EXPECT_THAT(build_error(comm, "d2", {}, &ring, adam), AllOf(HasSubstr("d2"), HasSubstr("SGD")));
    LocalFactory nesterov = [](const at::Tensor& p, double lr) {
      return std::make_unique<torch::optim::SGD>(std::vector<at::Tensor>{p},
                                                 torch::optim::SGDOptions(lr).momentum(0.9).nesterov(true));
    };
    EXPECT_THAT(build_error(comm, "decentlam", {}, &ring, nesterov), AllOf(HasSubstr("decentlam"), HasSubstr("nesterov")));
    EXPECT_EQ(build_error(comm, "decentlam", {}, &ring, momentum_sgd(0.9)), "");
  });
}

TEST(Options, TopologyRequiredAndSized) {
  on_rank0([](comm::Communicator& comm) {
    for (const std::string a : {"dsgd", "dsgd-cta", "gossip-pga", "d2", "gradient-tracking", "decentlam", "dadam"}) {
      EXPECT_THAT(build_error(comm, a, {}, nullptr), AllOf(HasSubstr(a), HasSubstr("needs a topology")));
    }
    auto small = topo("ring", 4);
    EXPECT_THAT(build_error(comm, "gradient-tracking", {}, &small), AllOf(HasSubstr("4 workers"), HasSubstr("8")));
    for (const std::string a : {"parallel-sgd", "local-sgd", "wagma", "diloco"}) {
      EXPECT_EQ(build_error(comm, a, {}, nullptr), "") << a;
    }
  });
}

TEST(Options, UnknownAlgorithmListsTheKnownOnes) {
  on_rank0([](comm::Communicator& comm) {
    const std::string msg = build_error(comm, "adam-sgd", {}, nullptr);
    EXPECT_THAT(msg, HasSubstr("'adam-sgd'"));
    for (const auto& n : algorithm_names()) EXPECT_THAT(msg, HasSubstr(n));
  });
  EXPECT_EQ(algorithm_names().size(), 12u);
}

TEST(Options, EveryNameBuildsAndReportsItsName) {
  on_rank0([](comm::Communicator& comm) {
    auto ring = topo("ring", kN);
    for (const auto& a : algorithm_names()) {
      at::Tensor x = at::zeros({3}, at::kDouble).requires_grad_(true);
      auto opt = make_distributed_optimizer(a, {}, {x}, comm, &ring, plain_sgd()(x, 0.1));
      EXPECT_EQ(opt->name(), a == "dsgd" ? "dsgd-atc" : a);
    }
  });
}

TEST(Options, StepWithoutBackwardIsNamed) {
  comm::run_inprocess(2, [](comm::Communicator& comm) {
    auto ring = topo("ring", 2);
    at::Tensor x = at::zeros({3}, at::kDouble).requires_grad_(true);
    auto opt = make_distributed_optimizer("gradient-tracking", {}, {x}, comm, &ring, plain_sgd()(x, 0.1));
    try {
      opt->step();
      ADD_FAILURE() << "no throw";
    } catch (const std::runtime_error& e) {
      EXPECT_THAT(std::string(e.what()), AllOf(HasSubstr("gradient-tracking"), HasSubstr("backward")));
    }
  });
}

}  // namespace
}  // namespace gossamer::optim::testing
