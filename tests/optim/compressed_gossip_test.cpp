// CHOCO-SGD (optimizer "choco", mixing rule CompressedGossip): its iterates equal a dense
// simulation of the paper's update written out here (its own top-k), on every rank and both
// backends; with no gradient it keeps the workers' mean and drives them to consensus; only the
// packets travel; resume from state() continues the same iterates; a topology that changes with
// the step is refused; packed sparse layouts read and write the copies at their coordinates.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>
#include <mutex>

#include "gossamer/comm/communicator.h"
#include "gossamer/comm/traffic.h"
#include "gossamer/compress/packet.h"
#include "gossamer/optim/compressed_gossip.h"
#include "optim_test_util.h"

namespace gossamer::optim::testing {
namespace compressed_gossip_test {

constexpr int kWorkers = 4;
constexpr int64_t kSize = 40;
constexpr int kSteps = 12;
constexpr double kLr = 0.1;
constexpr double kGamma = 0.4;
constexpr double kDensity = 0.25;  // k = 10 of 40

at::Tensor target(int r) { return at::cos(at::arange(kSize, at::kFloat) * (0.2 + 0.15 * r)) * 2.0; }
at::Tensor start(int r) { return at::sin(at::arange(kSize, at::kFloat) * (0.7 + 0.1 * r)); }

ChocoOptions options(const std::string& method, double density, double gamma) {
  ChocoOptions o;
  o.consensus_step = gamma;
  o.compressor.method = method;
  o.compressor.density = density;
  return o;
}

// Every rank's iterates of choco on f_r(x) = ½||x − t_r||² from x_r = start(r).
std::vector<std::vector<at::Tensor>> run(Backend b, const topology::Topology& t, const ChocoOptions& o, double lr,
                                         int steps, std::vector<SeamStats>* stats) {
  std::vector<std::vector<at::Tensor>> out(kWorkers);
  std::mutex mu;
  run_backend(b, kWorkers, [&](comm::Communicator& c) {
    const int r = c.rank();
    at::Tensor x = start(r).requires_grad_(true);
    AlgorithmOptions ao;
    ao.choco = o;
    auto opt = make_distributed_optimizer("choco", ao, {x}, c, &t,
                                          std::make_unique<torch::optim::SGD>(std::vector<at::Tensor>{x},
                                                                              torch::optim::SGDOptions(lr)));
    std::vector<at::Tensor> xs;
    for (int k = 0; k < steps; ++k) {
      {
        torch::NoGradGuard ng;
        x.mutable_grad() = x.detach() - target(r);
      }
      opt->step();
      xs.push_back(x.detach().clone());
    }
    std::lock_guard<std::mutex> lock(mu);
    out[static_cast<size_t>(r)] = xs;
    if (stats) (*stats)[static_cast<size_t>(r)] = opt->seam().stats();
  });
  return out;
}

// The k largest |d| kept, the rest 0 (the test's own top-k: sort, not nth_element).
at::Tensor top_k(const at::Tensor& d, int64_t k) {
  const at::Tensor order = std::get<1>(d.abs().sort(0, /*descending=*/true));
  at::Tensor q = at::zeros_like(d);
  const at::Tensor keep = order.slice(0, 0, k);
  q.index_put_({keep}, d.index({keep}));
  return q;
}

// The paper's Algorithm 1 written out densely (all workers' x and x̂ in one place, s_i recomputed
// from the copies every step), with `compress(d, step, rank)` the decoded compressed difference that
// enters x̂; checks every rank's iterates of both backends against it.
template <typename Compress>
void expect_dense_simulation(const topology::Topology& ring, const std::vector<std::vector<at::Tensor>>& inproc,
                             const std::vector<std::vector<at::Tensor>>& gloo, const Compress& compress) {
  const at::Tensor W = ring.matrix(0).dense().to(at::kFloat);
  std::vector<at::Tensor> x(kWorkers), hat(kWorkers);
  for (int r = 0; r < kWorkers; ++r) {
    x[r] = start(r);
    hat[r] = at::zeros({kSize});
  }
  for (int k = 0; k < kSteps; ++k) {
    for (int r = 0; r < kWorkers; ++r) {
      x[r] = x[r] - kLr * (x[r] - target(r));                    // x½
      hat[r] = hat[r] + compress((x[r] - hat[r]).contiguous(), k, r);  // x̂ += Q(x½ − x̂)
    }
    std::vector<at::Tensor> next(kWorkers);
    for (int i = 0; i < kWorkers; ++i) {
      at::Tensor pull = at::zeros({kSize});
      for (int j = 0; j < kWorkers; ++j) pull = pull + W[i][j].item<float>() * (hat[j] - hat[i]);
      next[i] = x[i] + kGamma * pull;
    }
    x = next;
    for (int r = 0; r < kWorkers; ++r) {
      const auto& got = inproc[static_cast<size_t>(r)][static_cast<size_t>(k)];
      EXPECT_TRUE(at::allclose(got, x[r], 1e-5, 1e-5))
          << "rank " << r << " step " << k << " max diff " << (got - x[r]).abs().max().item<double>();
      EXPECT_TRUE(gloo[static_cast<size_t>(r)][static_cast<size_t>(k)].equal(got)) << "gloo rank " << r << " step " << k;
    }
  }
}

TEST(Choco, FollowsTheDenseSimulationOfThePaperOnEveryRankAndBothBackends) {
  const auto ring = topo("ring", kWorkers);
  std::vector<SeamStats> stats(kWorkers);
  const auto o = options("topk", kDensity, kGamma);
  const auto inproc = run(Backend::InProcess, ring, o, kLr, kSteps, &stats);
  const auto gloo = run(Backend::Gloo, ring, o, kLr, kSteps, nullptr);
  expect_dense_simulation(ring, inproc, gloo, [](const at::Tensor& d, int, int) { return top_k(d, 10); });
  // Each step one packet (10 floats + 10 int32 indices) to each of the 2 ring neighbours.
  for (int r = 0; r < kWorkers; ++r) {
    EXPECT_EQ(stats[static_cast<size_t>(r)].bytes_sent,
              static_cast<uint64_t>(kSteps) * 2 * (comm::kExchangeHeaderBytes + compress::kPacketHeaderBytes + 80));
  }
}

TEST(Choco, ScalesAnUnbiasedCompressorByOneOverItsVarianceFactor) {
  // Random-k with k = 10 of 40 (blocks of 4) is unbiased with E||C(x)||^2 <= 4 ||x||^2: CHOCO
  // uses C / 4, a contraction (the paper's treatment of unbiased compressors). The simulation
  // decodes the same packets (same seed, keyed by the rule's call count and the rank) and scales.
  const auto ring = topo("ring", kWorkers);
  const auto o = options("randk", kDensity, kGamma);
  const auto inproc = run(Backend::InProcess, ring, o, kLr, kSteps, nullptr);
  const auto gloo = run(Backend::Gloo, ring, o, kLr, kSteps, nullptr);
  const auto c = compress::make_compressor(o.compressor);
  ASSERT_TRUE(c->unbiased());
  ASSERT_DOUBLE_EQ(c->variance_factor(kSize), 4.0);
  expect_dense_simulation(ring, inproc, gloo, [&](const at::Tensor& d, int k, int r) {
    return c->decode(c->encode(d, {k, r}), kSize, {k, r}) / 4.0;
  });
  // QSGD's factor: 1 + min(B / s^2, sqrt(B) / s) with B the bucket (or the message, if smaller).
  compress::CompressorOptions q;
  q.method = "qsgd";
  q.levels = 7;
  q.bucket = 512;
  EXPECT_DOUBLE_EQ(compress::make_compressor(q)->variance_factor(100000), 1.0 + std::sqrt(512.0) / 7.0);
  EXPECT_DOUBLE_EQ(compress::make_compressor(q)->variance_factor(40), 1.0 + 40.0 / 49.0);
  q.method = "topk";
  EXPECT_EQ(compress::make_compressor(q)->variance_factor(40), 0.0);  // biased: used as it is
}

TEST(Choco, WithoutGradientsKeepsTheMeanAndReachesConsensusUnderSignCompression) {
  const auto ring = topo("ring", kWorkers);
  const int steps = 300;
  const auto xs = run(Backend::InProcess, ring, options("sign", 1.0, 0.2), /*lr=*/0.0, steps, nullptr);
  at::Tensor mean0 = at::zeros({kSize});
  for (int r = 0; r < kWorkers; ++r) mean0 = mean0 + start(r) / kWorkers;
  auto spread = [&](int k) {
    double s = 0;
    for (int r = 0; r < kWorkers; ++r) s += (xs[r][k] - mean0).pow(2).sum().item<double>();
    return s;
  };
  double spread0 = 0;
  for (int r = 0; r < kWorkers; ++r) spread0 += (start(r) - mean0).pow(2).sum().item<double>();
  at::Tensor mean = at::zeros({kSize});
  for (int r = 0; r < kWorkers; ++r) mean = mean + xs[r][steps - 1] / kWorkers;
  // W is doubly stochastic: the mean moves only by float rounding.
  EXPECT_TRUE(at::allclose(mean, mean0, 1e-4, 1e-4)) << (mean - mean0).abs().max().item<double>();
  EXPECT_LT(spread(steps - 1), 1e-3 * spread0) << "spread " << spread(steps - 1) << " of " << spread0;
}

TEST(Choco, ResumesFromItsStateToTheSameIterates) {
  const auto ring = topo("ring", kWorkers);
  const auto o = options("topk", kDensity, kGamma);
  const auto whole = run(Backend::InProcess, ring, o, kLr, kSteps, nullptr);
  std::vector<at::Tensor> second(kWorkers);
  comm::run_inprocess(kWorkers, [&](comm::Communicator& c) {
    const int r = c.rank();
    AlgorithmOptions ao;
    ao.choco = o;
    auto make = [&](at::Tensor& x) {
      return make_distributed_optimizer("choco", ao, {x}, c, &ring,
                                        std::make_unique<torch::optim::SGD>(std::vector<at::Tensor>{x},
                                                                            torch::optim::SGDOptions(kLr)));
    };
    auto steps = [&](at::Tensor& x, DistributedOptimizer& opt, int n) {
      for (int k = 0; k < n; ++k) {
        {
          torch::NoGradGuard ng;
          x.mutable_grad() = x.detach() - target(r);
        }
        opt.step();
      }
    };
    at::Tensor a = start(r).requires_grad_(true);
    auto first = make(a);
    steps(a, *first, kSteps / 2);
    const auto saved = first->state();
    at::Tensor b = a.detach().clone().requires_grad_(true);
    auto resumed = make(b);
    resumed->load_state(saved);
    steps(b, *resumed, kSteps - kSteps / 2);
    second[static_cast<size_t>(r)] = b.detach().clone();
  });
  for (int r = 0; r < kWorkers; ++r) {
    EXPECT_TRUE(second[static_cast<size_t>(r)].equal(whole[static_cast<size_t>(r)][kSteps - 1])) << "rank " << r;
  }
}

TEST(Choco, RefusesATopologyThatChangesWithTheStepAndABadConsensusStep) {
  const auto one_peer = topo("one-peer-exponential", kWorkers);
  const auto ring = topo("ring", kWorkers);
  comm::run_inprocess(kWorkers, [&](comm::Communicator& c) {
    at::Tensor x = at::zeros({kSize}).requires_grad_(true);
    auto local = [&] {
      return std::make_unique<torch::optim::SGD>(std::vector<at::Tensor>{x}, torch::optim::SGDOptions(0.1));
    };
    AlgorithmOptions ao;
    ao.choco = options("topk", kDensity, kGamma);
    try {
      make_distributed_optimizer("choco", ao, {x}, c, &one_peer, local());
      ADD_FAILURE() << "choco accepted a time-varying topology";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("one-peer-exponential"), std::string::npos) << e.what();
    }
    ao.choco.consensus_step = 0.0;
    EXPECT_THROW(make_distributed_optimizer("choco", ao, {x}, c, &ring, local()), std::invalid_argument);
  });
}

TEST(CompressedGossip, APackedLayoutReadsAndWritesTheCopiesAtItsCoordinates) {
  // One worker alone (no neighbours, W = [1]): x̂ += C(x − x̂) at the layout's coordinates only.
  const auto alone = topo("ring", 1);
  comm::run_inprocess(1, [&](comm::Communicator& c) {
    compress::CompressorOptions o;
    o.method = "fp16";
    CompressedGossip rule(compress::make_compressor(o), 0.5, {6});
    const at::Tensor index = at::tensor({1, 4}, at::kLong);
    rule.set_layout(index);
    at::Tensor x = at::tensor({2.0f, -4.0f});
    rule.mix(c, x, alone, 0);
    // x̂ at {1, 4} becomes x exactly (fp16 holds 2 and -4); s = x̂; x + γ (s − x̂) = x.
    EXPECT_TRUE(rule.copy(0).equal(at::tensor({0.0f, 2.0f, 0.0f, 0.0f, -4.0f, 0.0f})));
    EXPECT_TRUE(x.equal(at::tensor({2.0f, -4.0f})));
    rule.set_layout(at::tensor({0, 1}, at::kLong));
    at::Tensor y = at::tensor({1.0f, 3.0f});
    rule.mix(c, y, alone, 1);
    EXPECT_TRUE(rule.copy(0).equal(at::tensor({1.0f, 3.0f, 0.0f, 0.0f, -4.0f, 0.0f})));
  });
}

}  // namespace compressed_gossip_test
}  // namespace gossamer::optim::testing
