// Compressed averages through the seam: parallel-sgd with fp16 packets equals a hand-computed
// recursion on the decoded gradients, every rank and both backends give the same bits, the bytes
// are the packets', the rule is refused where it cannot work (gossip), and error feedback on a
// sparse model's packed messages keeps its memory at the layout's coordinates.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <mutex>

#include "gossamer/comm/communicator.h"
#include "gossamer/compress/packet.h"
#include "gossamer/comm/traffic.h"
#include "gossamer/optim/compressed_averaging.h"
#include "optim_test_util.h"

namespace gossamer::optim::testing {
namespace compressed_averaging_test {

constexpr int kWorkers = 4;
constexpr int64_t kDim = 50;
constexpr int kSteps = 5;
constexpr double kLr = 0.1;

at::Tensor target(int r) { return at::sin(at::arange(kDim, at::kFloat) * (0.3 + 0.2 * r)) * 3.0; }

std::unique_ptr<Mixing> rule(const std::string& method, bool ef) {
  compress::CompressorOptions o;
  o.method = method;
  o.density = 0.2;
  return std::make_unique<CompressedAveraging>(compress::make_compressor(o), ef, kDim);
}

// parallel-sgd on f_r(x) = ½||x − t_r||², every worker from x0 = 0; returns every rank's iterates.
std::vector<std::vector<at::Tensor>> run(Backend b, const std::string& method, bool ef, std::vector<SeamStats>* stats) {
  std::vector<std::vector<at::Tensor>> out(kWorkers);
  std::mutex mu;
  run_backend(b, kWorkers, [&](comm::Communicator& c) {
    const int r = c.rank();
    at::Tensor x = at::zeros({kDim}).requires_grad_(true);
    auto opt = make_distributed_optimizer("parallel-sgd", {}, {x}, c, nullptr,
                                          std::make_unique<torch::optim::SGD>(std::vector<at::Tensor>{x},
                                                                              torch::optim::SGDOptions(kLr)));
    opt->set_mixing(rule(method, ef));
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
    out[static_cast<size_t>(r)] = xs;
    if (stats) (*stats)[static_cast<size_t>(r)] = opt->seam().stats();
  });
  return out;
}

TEST(CompressedAveraging, Fp16ParallelSgdFollowsTheDecodedRecursionOnEveryRankAndBackend) {
  std::vector<SeamStats> stats(kWorkers);
  const auto inproc = run(Backend::InProcess, "fp16", false, &stats);
  const auto gloo = run(Backend::Gloo, "fp16", false, nullptr);
  // By hand: every worker holds the same x; x <- x - lr * (sum_r fp16(x - t_r), in rank order) / n.
  at::Tensor x = at::zeros({kDim});
  for (int k = 0; k < kSteps; ++k) {
    at::Tensor sum = (x - target(0)).to(at::kHalf).to(at::kFloat);
    for (int r = 1; r < kWorkers; ++r) sum = sum + (x - target(r)).to(at::kHalf).to(at::kFloat);
    x = x - kLr * (sum / static_cast<double>(kWorkers));
    for (int r = 0; r < kWorkers; ++r) {
      EXPECT_TRUE(at::allclose(inproc[static_cast<size_t>(r)][static_cast<size_t>(k)], x, 1e-6, 1e-6))
          << "rank " << r << " step " << k;
      EXPECT_TRUE(inproc[static_cast<size_t>(r)][static_cast<size_t>(k)].equal(inproc[0][static_cast<size_t>(k)]));
      EXPECT_TRUE(gloo[static_cast<size_t>(r)][static_cast<size_t>(k)].equal(inproc[0][static_cast<size_t>(k)]))
          << "gloo rank " << r << " step " << k;
    }
  }
  // Each step every worker sends its packet to the 3 others: size header + packet header + 2 bytes a value.
  for (int r = 0; r < kWorkers; ++r) {
    EXPECT_EQ(stats[static_cast<size_t>(r)].bytes_sent,
              kSteps * 3 * (comm::kExchangeHeaderBytes + compress::kPacketHeaderBytes + 2 * kDim));
  }
}

TEST(CompressedAveraging, TopKWithErrorFeedbackKeepsEveryRankEqualOnBothBackends) {
  std::vector<SeamStats> stats(kWorkers);
  const auto inproc = run(Backend::InProcess, "topk", true, &stats);
  const auto gloo = run(Backend::Gloo, "topk", true, nullptr);
  for (int r = 0; r < kWorkers; ++r) {
    for (int k = 0; k < kSteps; ++k) {
      EXPECT_TRUE(inproc[static_cast<size_t>(r)][static_cast<size_t>(k)].equal(inproc[0][static_cast<size_t>(k)]));
      EXPECT_TRUE(gloo[static_cast<size_t>(r)][static_cast<size_t>(k)].equal(inproc[0][static_cast<size_t>(k)]));
    }
    // k = 10 of 50: 10 int32 indices and 10 floats.
    EXPECT_EQ(stats[static_cast<size_t>(r)].bytes_sent,
              kSteps * 3 * (comm::kExchangeHeaderBytes + compress::kPacketHeaderBytes + 80));
  }
  EXPECT_GT(inproc[0][kSteps - 1].abs().max().item<double>(), 0.1);  // it moved
}

TEST(CompressedAveraging, RandomKPacketsAreSummedUndecodedInOneAllreduce) {
  // Random-k packets of one step share their coordinates: the average allreduces the k values and
  // decodes the sum once. By hand: every worker holds the same x; the step's average is the mean
  // of the decoded packets of x - t_r, keyed by (step, r).
  std::vector<SeamStats> stats(kWorkers);
  const auto inproc = run(Backend::InProcess, "randk", false, &stats);
  const auto gloo = run(Backend::Gloo, "randk", false, nullptr);
  compress::CompressorOptions o;
  o.method = "randk";
  o.density = 0.2;
  const auto c = compress::make_compressor(o);
  ASSERT_TRUE(c->summable());
  at::Tensor x = at::zeros({kDim});
  for (int k = 0; k < kSteps; ++k) {
    at::Tensor sum = at::zeros({kDim});
    for (int r = 0; r < kWorkers; ++r) sum = sum + c->decode(c->encode(x - target(r), {k, r}), kDim, {k, r});
    x = x - kLr * (sum / static_cast<double>(kWorkers));
    for (int r = 0; r < kWorkers; ++r) {
      EXPECT_TRUE(at::allclose(inproc[static_cast<size_t>(r)][static_cast<size_t>(k)], x, 1e-6, 1e-6))
          << "rank " << r << " step " << k;
      EXPECT_TRUE(inproc[static_cast<size_t>(r)][static_cast<size_t>(k)].equal(inproc[0][static_cast<size_t>(k)]));
      EXPECT_TRUE(at::allclose(gloo[static_cast<size_t>(r)][static_cast<size_t>(k)], x, 1e-6, 1e-6))
          << "gloo rank " << r << " step " << k;
    }
  }
  // k = 10 values in a ring allreduce of 4: chunks 3, 3, 2, 2; rank i sends 2*10 - chunk[i+1] - chunk[i+2]
  // values a step (docs/comm.md), where all-to-all would send 3 packets of 40 bytes plus headers.
  const int64_t chunk[kWorkers] = {3, 3, 2, 2};
  for (int r = 0; r < kWorkers; ++r) {
    EXPECT_EQ(stats[static_cast<size_t>(r)].bytes_sent,
              static_cast<uint64_t>(kSteps * 4 * (20 - chunk[(r + 1) % kWorkers] - chunk[(r + 2) % kWorkers])))
        << "rank " << r;
  }
  EXPECT_GT(inproc[0][kSteps - 1].abs().max().item<double>(), 0.1);  // it moved
}

TEST(CompressedAveraging, IsRefusedByGossipAlgorithmsAndWithErrorFeedbackOnSparseMasks) {
  const auto ring = topo("ring", 2);
  comm::run_inprocess(2, [&](comm::Communicator& c) {
    at::Tensor x = at::zeros({kDim}).requires_grad_(true);
    auto dsgd = make_distributed_optimizer("dsgd", {}, {x}, c, &ring,
                                           std::make_unique<torch::optim::SGD>(std::vector<at::Tensor>{x},
                                                                               torch::optim::SGDOptions(0.1)));
    try {
      dsgd->set_mixing(rule("fp16", false));
      ADD_FAILURE() << "dsgd accepted an averaging-only rule";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("only averages"), std::string::npos) << e.what();
    }
    at::Tensor y = at::zeros({kDim}).requires_grad_(true);
    auto psgd = make_distributed_optimizer("parallel-sgd", {}, {y}, c, nullptr,
                                           std::make_unique<torch::optim::SGD>(std::vector<at::Tensor>{y},
                                                                               torch::optim::SGDOptions(0.1)));
    class Shared final : public MessageMasks {
     public:
      int64_t numel() const override { return kDim; }
      int64_t epoch() const override { return 0; }
      bool may_differ() const override { return false; }
      bool differ() const override { return false; }
      at::Tensor mask(int) const override { return at::ones({kDim}); }
      std::string describe() const override { return "the test's mask"; }
    } masks;
    psgd->set_mixing(rule("topk", true));
    EXPECT_NO_THROW(psgd->use_masks(&masks));  // the error memory follows the layout (next test)
  });
}

TEST(CompressedAveraging, ErrorFeedbackOnAPackedLayoutKeepsTheMemoryAtItsCoordinates) {
  // One worker: the average of one packet is its decode. top-k of 2 of the carried values.
  comm::run_inprocess(1, [&](comm::Communicator& c) {
    compress::CompressorOptions o;
    o.method = "topk";
    o.density = 0.5;
    CompressedAveraging rule(compress::make_compressor(o), /*error_feedback=*/true, 6);
    rule.set_layout(at::tensor({0, 2, 3, 5}, at::kLong));
    at::Tensor x = at::tensor({4.0f, 1.0f, -3.0f, 0.5f});
    rule.average(c, x);
    // Sent: the 2 largest (4 and -3); the memory keeps the rest at their coordinates, 0 elsewhere.
    EXPECT_TRUE(x.equal(at::tensor({4.0f, 0.0f, -3.0f, 0.0f})));
    EXPECT_TRUE(rule.error_memory().equal(at::tensor({0.0f, 0.0f, 1.0f, 0.0f, 0.0f, 0.5f})));
    // The mask moves: coordinate 2 keeps its error while not carried; 5 comes back with it.
    rule.set_layout(at::tensor({1, 4, 5}, at::kLong));
    at::Tensor y = at::tensor({0.25f, 0.0f, 0.0f});
    rule.average(c, y);
    // Compensated message (0.25, 0, 0.5): top-2 (density 0.5 of 3 values rounds to 2) sends 0.5 and 0.25.
    EXPECT_TRUE(y.equal(at::tensor({0.25f, 0.0f, 0.5f})));
    EXPECT_TRUE(rule.error_memory().equal(at::tensor({0.0f, 0.0f, 1.0f, 0.0f, 0.0f, 0.0f})));
  });
}

}  // namespace compressed_averaging_test
}  // namespace gossamer::optim::testing
