// PowerSGD averages (PowerSgdAveraging): one average equals the dense computation of the paper's
// step with an independent orthogonalisation (QR) — the layer's mean projected on the span of
// sum_i M_i Q — on every rank and both backends; the error kept is M_i minus this worker's own
// projection; small layers and biases travel exactly; an all-zero message stays zero (ε); the first
// start_step averages are plain; the bytes are two ring allreduces of the formula's sizes.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <mutex>

#include "gossamer/comm/communicator.h"
#include "gossamer/comm/traffic.h"
#include "gossamer/optim/powersgd_averaging.h"
#include "optim_test_util.h"

namespace gossamer::optim::testing {
namespace powersgd_averaging_test {

constexpr int kWorkers = 3;
constexpr int64_t kRank = 2;
// A [20, 16] layer (factored: (20 + 16) 2 2 = 144 < 320), its [20] bias, a [3, 3] layer (not
// worth it: 24 >= 9): 320 + 20 + 9 values.
const std::vector<MessageTensor> kTensors{{0, {20, 16}}, {320, {20}}, {340, {3, 3}}};
constexpr int64_t kNumel = 349;

at::Tensor message(int r) {
  at::Generator g = at::detail::createCPUGenerator(100 + static_cast<uint64_t>(r));
  return at::normal(0.0, 1.0, {kNumel}, g, at::TensorOptions().dtype(at::kFloat));
}

struct Result {
  at::Tensor out, error, q0;
  uint64_t bytes = 0;
};

std::vector<Result> run(Backend b, const PowerSgdOptions& o, bool zero) {
  std::vector<Result> res(kWorkers);
  std::mutex mu;
  run_backend(b, kWorkers, [&](comm::Communicator& c) {
    PowerSgdAveraging rule(o, kTensors, kNumel);
    Result r;
    r.q0 = rule.state().at("q").clone();
    at::Tensor x = zero ? at::zeros({kNumel}) : message(c.rank());
    const uint64_t before = c.stats().bytes_sent;
    rule.average(c, x);
    r.bytes = c.stats().bytes_sent - before;
    r.out = x;
    if (o.error_feedback) r.error = rule.error_memory().clone();
    std::lock_guard<std::mutex> lock(mu);
    res[static_cast<size_t>(c.rank())] = r;
  });
  return res;
}

TEST(PowerSgd, OneAverageEqualsTheDenseProjectionOnEveryRankAndBothBackends) {
  PowerSgdOptions o;
  o.rank = kRank;
  o.error_feedback = true;  // as PyTorch's hook (ours defaults to false, as compress.error_feedback)
  const auto inproc = run(Backend::InProcess, o, false);
  const auto gloo = run(Backend::Gloo, o, false);
  // Dense: P = sum_i M_i Q0; U = an orthonormal basis of its columns (QR); mean projected.
  const at::Tensor q0 = inproc[0].q0.view({16, kRank});
  at::Tensor p = at::zeros({20, kRank}), mean = at::zeros({kNumel});
  for (int r = 0; r < kWorkers; ++r) {
    p = p + message(r).narrow(0, 0, 320).view({20, 16}).mm(q0);
    mean = mean + message(r) / kWorkers;
  }
  const at::Tensor u = std::get<0>(at::linalg_qr(p));
  const at::Tensor projected = u.mm(u.t()).mm(mean.narrow(0, 0, 320).view({20, 16}));
  for (int r = 0; r < kWorkers; ++r) {
    const auto& got = inproc[static_cast<size_t>(r)];
    EXPECT_TRUE(at::allclose(got.out.narrow(0, 0, 320).view({20, 16}), projected, 1e-4, 1e-5))
        << "rank " << r << " " << (got.out.narrow(0, 0, 320).view({20, 16}) - projected).abs().max().item<double>();
    // The bias and the small layer: the exact mean.
    EXPECT_TRUE(at::allclose(got.out.narrow(0, 320, 29), mean.narrow(0, 320, 29), 1e-6, 1e-6)) << "rank " << r;
    // The error: this worker's matrix minus its own projection; nothing kept for exact values.
    const at::Tensor m = message(r).narrow(0, 0, 320).view({20, 16});
    EXPECT_TRUE(at::allclose(got.error.narrow(0, 0, 320).view({20, 16}), m - u.mm(u.t()).mm(m), 1e-4, 1e-5))
        << "rank " << r;
    EXPECT_TRUE(got.error.narrow(0, 320, 29).eq(0).all().item<bool>());
    EXPECT_TRUE(got.out.equal(inproc[0].out)) << "rank " << r << " differs from rank 0";
    EXPECT_TRUE(at::allclose(gloo[static_cast<size_t>(r)].out, got.out, 1e-5, 1e-6)) << "gloo rank " << r;
    // Two ring allreduces: P (20 x 2) with the 29 exact values, then Q (16 x 2).
    const comm::NetworkModel net;
    const uint64_t expected = comm::ring_allreduce_traffic(kWorkers, r, 40 + 29, 4, net).bytes_sent +
                              comm::ring_allreduce_traffic(kWorkers, r, 32, 4, net).bytes_sent;
    EXPECT_EQ(got.bytes, expected) << "rank " << r;
  }
}

TEST(PowerSgd, AnAllZeroMessageStaysZeroAndTheFirstStartStepAveragesArePlain) {
  PowerSgdOptions o;
  o.rank = kRank;
  o.error_feedback = true;  // as PyTorch's hook (ours defaults to false, as compress.error_feedback)
  for (const auto& r : run(Backend::InProcess, o, true)) {
    EXPECT_TRUE(r.out.eq(0).all().item<bool>()) << "zero column divided without ε";
  }
  o.start_step = 1;
  at::Tensor mean = at::zeros({kNumel});
  for (int r = 0; r < kWorkers; ++r) mean = mean + message(r) / kWorkers;
  for (const auto& r : run(Backend::InProcess, o, false)) {
    EXPECT_TRUE(at::allclose(r.out, mean, 1e-6, 1e-6));
    EXPECT_TRUE(r.error.eq(0).all().item<bool>());  // nothing dropped, nothing kept
  }
}

TEST(PowerSgd, RefusesBadOptionsOverlappingTensorsAndPackedLayouts) {
  PowerSgdOptions o;
  o.rank = 0;
  EXPECT_THROW(PowerSgdAveraging(o, kTensors, kNumel), std::invalid_argument);
  o.rank = 1;
  EXPECT_THROW(PowerSgdAveraging(o, {{0, {20, 16}}, {300, {20}}}, kNumel), std::invalid_argument);
  EXPECT_THROW(PowerSgdAveraging(o, kTensors, 100), std::invalid_argument);
  comm::run_inprocess(1, [&](comm::Communicator& c) {
    PowerSgdAveraging rule(o, kTensors, kNumel);
    rule.set_layout(at::tensor({0, 1}, at::kLong));
    at::Tensor x = at::zeros({2});
    EXPECT_THROW(rule.average(c, x), std::invalid_argument);
  });
}

}  // namespace powersgd_averaging_test
}  // namespace gossamer::optim::testing
