// Robust aggregation through the message seam (optim::RobustMixing): with the mean and no attack
// it computes what exact mixing computes (parallel-sgd and dsgd); both backends give the same bits
// under attack; malformed messages (empty, wrong size, NaN, Inf, garbage) are rejected, counted
// and the rest aggregated exactly as without the sender; the attack's oracle round is not counted
// as the algorithm's bytes; ClippedGossip's step is x_i + sum_j w_ij clip(x_j - x_i, tau).
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <chrono>
#include <mutex>

#include "gossamer/comm/communicator.h"
#include "gossamer/optim/robust_mixing.h"
#include "optim_test_util.h"

namespace gossamer::optim::testing {
namespace robust_mixing_test {

constexpr int kWorkers = 5;
constexpr int64_t kDim = 40;
constexpr int kSteps = 6;
constexpr double kLr = 0.1;

at::Tensor target(int r) { return at::sin(at::arange(kDim, at::kFloat) * (0.3 + 0.2 * r)) * 3.0; }

struct Case {
  std::string algorithm = "parallel-sgd";
  const topology::Topology* topology = nullptr;
  bool robust = true;               // false: exact mixing
  RobustMixingOptions options;      // numel filled in
};

struct Result {
  std::vector<std::vector<at::Tensor>> x;  // [rank][step]
  std::vector<SeamStats> stats;
  std::vector<uint64_t> rejected;
};

// f_r(x) = 1/2 ||x - t_r||^2 from x0 = 0 on every worker.
Result run(Backend b, const Case& s) {
  Result res;
  res.x.resize(kWorkers);
  res.stats.resize(kWorkers);
  res.rejected.resize(kWorkers);
  std::mutex mu;
  run_backend(b, kWorkers, [&](comm::Communicator& c) {
    const int r = c.rank();
    at::Tensor x = at::zeros({kDim}).requires_grad_(true);
    auto opt = make_distributed_optimizer(
        s.algorithm, {}, {x}, c, s.topology,
        std::make_unique<torch::optim::SGD>(std::vector<at::Tensor>{x}, torch::optim::SGDOptions(kLr)));
    const RobustMixing* rule = nullptr;
    if (s.robust) {
      RobustMixingOptions o = s.options;
      o.numel = kDim;
      auto m = std::make_unique<RobustMixing>(o);
      rule = m.get();
      opt->set_mixing(std::move(m));
    }
    std::vector<at::Tensor> xs;
    for (int k = 0; k < kSteps; ++k) {
      {
        torch::NoGradGuard ng;
        x.mutable_grad() = x.detach() - target(r);
      }
      opt->step();
      xs.push_back(x.detach().clone());
    }
    std::lock_guard<std::mutex> lock(mu);
    res.x[static_cast<size_t>(r)] = xs;
    res.stats[static_cast<size_t>(r)] = opt->seam().stats();
    res.rejected[static_cast<size_t>(r)] = rule ? rule->rejected_total() : 0;
  });
  return res;
}

Case attacked(const std::string& kind, const std::string& rule) {
  Case s;
  s.options.aggregator.rule = rule;
  s.options.aggregator.f = 1;
  s.options.attackers = {3};
  s.options.attack.kind = robust::parse_attack(kind);
  s.options.attack.world = kWorkers;
  s.options.attack.byzantine = 1;
  return s;
}

TEST(RobustMixing, MeanWithoutAttackIsExactAveraging) {
  Case exact;
  exact.robust = false;
  const Result want = run(Backend::InProcess, exact);
  const Result got = run(Backend::InProcess, Case{});
  for (int r = 0; r < kWorkers; ++r) {
    for (int k = 0; k < kSteps; ++k) {
      EXPECT_TRUE(at::allclose(got.x[r][k], want.x[r][k], 1e-6, 1e-6)) << "rank " << r << " step " << k;
    }
  }
  EXPECT_GT(want.x[0][kSteps - 1].abs().max().item<double>(), 0.1);  // it moved
}

TEST(RobustMixing, GossipMeanIsExactDsgd) {
  const auto ring = topo("ring", kWorkers);
  Case exact;
  exact.algorithm = "dsgd";
  exact.topology = &ring;
  exact.robust = false;
  Case robust = exact;
  robust.robust = true;
  robust.options.gossip = "mean";
  const Result want = run(Backend::InProcess, exact);
  const Result got = run(Backend::InProcess, robust);
  for (int r = 0; r < kWorkers; ++r) {
    for (int k = 0; k < kSteps; ++k) EXPECT_TRUE(at::allclose(got.x[r][k], want.x[r][k], 1e-5, 1e-6)) << r << " " << k;
  }
  // ClippedGossip with a radius no neighbour reaches is the same step.
  robust.options.gossip = "clipped";
  robust.options.gossip_radius = 1e30;
  const Result clipped = run(Backend::InProcess, robust);
  for (int r = 0; r < kWorkers; ++r) EXPECT_TRUE(at::allclose(clipped.x[r][kSteps - 1], want.x[r][kSteps - 1], 1e-5, 1e-6));
}

TEST(RobustMixing, BothBackendsGiveTheSameBitsUnderAttack) {
  for (const auto& [kind, rule] : std::vector<std::pair<std::string, std::string>>{
           {"alie", "cc"}, {"sign-flip", "krum"}, {"gaussian", "median"}, {"ipm", "trimmed-mean"}}) {
    const Case s = attacked(kind, rule);
    const Result a = run(Backend::InProcess, s);
    const Result g = run(Backend::Gloo, s);
    for (int r = 0; r < kWorkers; ++r) {
      for (int k = 0; k < kSteps; ++k) EXPECT_TRUE(g.x[r][k].equal(a.x[r][k])) << kind << " rank " << r << " step " << k;
      // Every honest worker aggregates the same inputs: the same model.
      if (r != 3) EXPECT_TRUE(a.x[r][kSteps - 1].equal(a.x[0][kSteps - 1])) << kind << " rank " << r;
    }
  }
}

// parallel-sgd over the honest workers only: x_{k+1} = x_k - lr (x_k - mean of their targets).
at::Tensor honest_recursion(int steps) {
  at::Tensor mean = at::zeros({kDim});
  for (int r : {0, 1, 2, 4}) mean += target(r) / 4.0;
  at::Tensor x = at::zeros({kDim});
  for (int k = 0; k < steps; ++k) x = x - kLr * (x - mean);
  return x;
}

TEST(RobustMixing, MalformedMessagesAreRejectedCountedAndLeftOut) {
  for (const std::string kind : {"silent", "wrong-size", "nan", "inf", "garbage"}) {
    for (Backend b : {Backend::InProcess, Backend::Gloo}) {
      const Result res = run(b, attacked(kind, "mean"));
      const at::Tensor want = honest_recursion(kSteps);
      for (int r : {0, 1, 2, 4}) {
        EXPECT_EQ(res.rejected[r], static_cast<uint64_t>(kSteps)) << kind << " rank " << r;
        EXPECT_TRUE(at::allclose(res.x[r][kSteps - 1], want, 1e-5, 1e-6)) << kind << " rank " << r;
      }
      EXPECT_EQ(res.rejected[3], 0u) << kind;  // the attacker receives honest packets
    }
  }
}

TEST(RobustMixing, TheOracleRoundIsNotTheAlgorithmsTraffic) {
  // ALIE needs the honest messages (oracle round); scaled does not. Honest workers send the same.
  const Result alie = run(Backend::InProcess, attacked("alie", "median"));
  const Result scaled = run(Backend::InProcess, attacked("scaled", "median"));
  for (int r : {0, 1, 2, 4}) {
    EXPECT_EQ(alie.stats[r].bytes_sent, scaled.stats[r].bytes_sent) << r;
    EXPECT_GT(alie.stats[r].simulation_bytes, 0u);
    EXPECT_EQ(scaled.stats[r].simulation_bytes, 0u);
    // Each call: one 24-byte-header packet of kDim floats to each of the 4 others (plus the
    // exchange's size headers, counted by the communicator).
    EXPECT_GE(alie.stats[r].bytes_sent, static_cast<uint64_t>(kSteps) * 4 * (24 + 4 * kDim)) << r;
  }
}

TEST(RobustMixing, ClippedGossipStepByHand) {
  // Complete graph of 3 with weights 1/3: rank 2 sends a model far away; rank 0's step with
  // tau = 1: x_0 + (1/3) clip(x_1 - x_0) + (1/3) clip(x_2 - x_0).
  const auto full = topo("complete", 3);
  std::vector<at::Tensor> got(3);
  std::mutex mu;
  const std::vector<at::Tensor> start = {at::tensor({0.f, 0.f}), at::tensor({0.6f, 0.8f}), at::tensor({30.f, 40.f})};
  run_backend(Backend::InProcess, 3, [&](comm::Communicator& c) {
    RobustMixingOptions o;
    o.gossip = "clipped";
    o.gossip_radius = 1.0;
    o.numel = 2;
    RobustMixing m(o);
    at::Tensor x = start[static_cast<size_t>(c.rank())].clone();
    m.mix(c, x, full, 0);
    std::lock_guard<std::mutex> lock(mu);
    got[static_cast<size_t>(c.rank())] = x;
  });
  // ||x_1 - x_0|| = 1 (not clipped); x_2 - x_0 = (30, 40) of length 50 -> (0.6, 0.8).
  EXPECT_TRUE(at::allclose(got[0], at::tensor({0.4f, 0.8f * 2 / 3}), 1e-6, 1e-6)) << got[0];
  // Adaptive radius with f = 1: the second-largest distance; for rank 0 that is 1, the same result.
  run_backend(Backend::InProcess, 3, [&](comm::Communicator& c) {
    RobustMixingOptions o;
    o.gossip = "clipped";
    o.numel = 2;
    o.aggregator.f = 1;
    RobustMixing m(o);
    at::Tensor x = start[static_cast<size_t>(c.rank())].clone();
    m.mix(c, x, full, 0);
    if (c.rank() == 0) EXPECT_TRUE(at::allclose(x, at::tensor({0.4f, 0.8f * 2 / 3}), 1e-6, 1e-6)) << x;
  });
}

TEST(RobustMixing, AWorkerThatDiesMidRunStopsTheOthersWithItsName) {
  // Rank 3 dies before its third exchange; the others are blocked in theirs and must end with an
  // error naming it. InProcess aborts the group at once; Gloo's threads wait for the call timeout
  // (3 s here; across processes the launcher stops the others when one exits).
  const auto timeout = std::chrono::milliseconds(3000);
  for (Backend b : {Backend::InProcess, Backend::Gloo}) {
    const auto t0 = std::chrono::steady_clock::now();
    try {
      auto runner = b == Backend::InProcess ? &comm::run_inprocess : &comm::run_gloo_threads;
      runner(kWorkers, [&](comm::Communicator& c) {
        at::Tensor x = at::zeros({kDim}).requires_grad_(true);
        auto opt = make_distributed_optimizer(
            "parallel-sgd", {}, {x}, c, nullptr,
            std::make_unique<torch::optim::SGD>(std::vector<at::Tensor>{x}, torch::optim::SGDOptions(kLr)));
        RobustMixingOptions o;
        o.aggregator.rule = "median";
        o.numel = kDim;
        opt->set_mixing(std::make_unique<RobustMixing>(o));
        for (int k = 0; k < kSteps; ++k) {
          if (k == 2 && c.rank() == 3) throw std::runtime_error("worker 3 died");
          {
            torch::NoGradGuard ng;
            x.mutable_grad() = x.detach() - target(c.rank());
          }
          opt->step();
        }
      }, timeout);
      ADD_FAILURE() << backend_name(b) << ": the run finished although rank 3 died";
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find("3"), std::string::npos) << backend_name(b) << ": " << e.what();
    }
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 10.0) << backend_name(b);
  }
}

TEST(RobustMixing, RefusedWhereExactMixingIsNeeded) {
  const auto ring = topo("ring", kWorkers);
  run_backend(Backend::InProcess, 1, [&](comm::Communicator& c) {
    at::Tensor x = at::zeros({kDim}).requires_grad_(true);
    const auto one = topo("ring", 1);
    auto opt = make_distributed_optimizer(
        "gradient-tracking", {}, {x}, c, &one,
        std::make_unique<torch::optim::SGD>(std::vector<at::Tensor>{x}, torch::optim::SGDOptions(kLr)));
    RobustMixingOptions o;
    o.numel = kDim;
    EXPECT_THROW(opt->set_mixing(std::make_unique<RobustMixing>(o)), std::invalid_argument);
  });
}

}  // namespace robust_mixing_test
}  // namespace gossamer::optim::testing
