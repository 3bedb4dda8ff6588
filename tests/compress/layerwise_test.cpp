// L-GreCo's pieces: the dynamic programme against brute force over every choice on small random
// tables (fewest bytes under the uniform choice's error, to its stated discretisation slack), the
// strength ladders, and the layerwise compressor: a packet is the layers' packets in order, the
// uniform choice at first, a choice made from the summed errors that keeps the total error at or
// under the uniform one, saved and restored.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>
#include <limits>
#include <random>

#include "gossamer/compress/compressor.h"
#include "gossamer/compress/layerwise.h"
#include "gossamer/compress/packet.h"

namespace gossamer::compress {
namespace layerwise_test {

TEST(Lgreco, TheDynamicProgrammeFindsTheFewestBytesUnderTheUniformError) {
  std::mt19937 gen(5);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  constexpr int kResolution = 1000;
  for (int trial = 0; trial < 40; ++trial) {
    const int layers = 1 + trial % 4, cands = 2 + trial % 3;
    // Candidates from weak to strong: bytes fall, errors rise (with noise, as measured ones do).
    std::vector<std::vector<double>> err(layers, std::vector<double>(cands)), bytes(layers, std::vector<double>(cands));
    for (int l = 0; l < layers; ++l) {
      const double scale = 1 + 20 * u(gen);
      for (int c = 0; c < cands; ++c) {
        bytes[l][c] = std::round(scale * 100 / (1 << c));
        err[l][c] = scale * (c + u(gen)) * u(gen);
      }
    }
    const int uniform = trial % cands;
    double budget = 0;
    for (int l = 0; l < layers; ++l) budget += err[l][uniform];
    // Brute force over every combination, with the constraint as documented: errors in units of
    // budget / resolution rounded up, at most the uniform choice's units.
    const double unit = budget / kResolution;
    auto units = [&](int l, int c) { return static_cast<int64_t>(std::ceil(err[l][c] / unit - 1e-9)); };
    int64_t allowed = 0;
    for (int l = 0; l < layers; ++l) allowed += units(l, uniform);
    double best = std::numeric_limits<double>::infinity();
    int total = 1;
    for (int l = 0; l < layers; ++l) total *= cands;
    for (int code = 0; code < total; ++code) {
      int64_t e = 0;
      double b = 0;
      for (int l = 0, k = code; l < layers; ++l, k /= cands) e += units(l, k % cands), b += bytes[l][k % cands];
      if (e <= allowed) best = std::min(best, b);
    }
    const std::vector<int> choice = choose_per_layer(err, bytes, uniform, kResolution);
    double e = 0, b = 0, b_uniform = 0;
    for (int l = 0; l < layers; ++l) e += err[l][choice[l]], b += bytes[l][choice[l]], b_uniform += bytes[l][uniform];
    EXPECT_EQ(b, best) << "trial " << trial;
    EXPECT_LE(b, b_uniform) << "trial " << trial;
    EXPECT_LE(e, budget * (1.0 + static_cast<double>(layers) / kResolution)) << "trial " << trial;
  }
}

TEST(Lgreco, LaddersAndRefusals) {
  CompressorOptions o;
  o.method = "topk";
  o.density = 0.01;
  size_t i = 99;
  auto ladder = strength_ladder(o, &i);
  ASSERT_EQ(ladder.size(), 7u);
  EXPECT_DOUBLE_EQ(ladder[0].density, 0.08);
  EXPECT_DOUBLE_EQ(ladder[i].density, 0.01);
  EXPECT_DOUBLE_EQ(ladder[6].density, 0.00125);
  o.density = 0.5;  // capped at 1, no repeats
  ladder = strength_ladder(o, &i);
  EXPECT_DOUBLE_EQ(ladder[0].density, 1.0);
  EXPECT_DOUBLE_EQ(ladder[i].density, 0.5);
  EXPECT_EQ(ladder.size(), 5u);
  o.method = "qsgd";
  o.levels = 3;
  ladder = strength_ladder(o, &i);
  ASSERT_EQ(ladder.size(), 4u);
  EXPECT_EQ(ladder[i].levels, 3);
  o.method = "sign";
  EXPECT_THROW(strength_ladder(o, &i), std::invalid_argument);
  o.method = "topk";
  EXPECT_THROW(make_layerwise(o, {10, 20}, LayerwiseOptions{0, 1000}), std::invalid_argument);
}

TEST(Lgreco, APacketIsTheLayersPacketsAndTheChoiceKeepsTheErrorUnderTheUniformOne) {
  CompressorOptions o;
  o.method = "topk";
  o.density = 0.05;
  // Two layers: a large one with a few big coordinates, a small dense one with equal magnitudes.
  const std::vector<int64_t> layers{2000, 200};
  at::Tensor x = at::cat({at::zeros({2000}), at::ones({200}) * 0.5});
  x.narrow(0, 0, 20).fill_(3.0);
  auto lw = make_layerwise(o, layers, LayerwiseOptions{10, 1000});
  auto uniform = make_compressor(o);
  // Before adapt(): every layer at the uniform density, each a whole packet of its own.
  EXPECT_EQ(lw->payload_bytes(2200), 2 * kPacketHeaderBytes + uniform->payload_bytes(2000) + uniform->payload_bytes(200));
  const comm::Bytes before = lw->encode(x, {0, 0});
  at::Tensor y = lw->decode(before, 2200, {0, 0});
  EXPECT_TRUE(y.narrow(0, 0, 2000).equal(uniform->decode(uniform->encode(x.narrow(0, 0, 2000).contiguous(), {0, 0}),
                                                        2000, {0, 0})));
  const double uniform_error = (y - x).pow(2).sum().item<double>();
  // adapt() with "two workers" holding the same message: the sum doubles every error, the choice is
  // the one for the single message.
  int sums = 0;
  lw->adapt(x, {0, 0}, [&](at::Tensor& t) {
    ++sums;
    t.mul_(2);
  });
  EXPECT_EQ(sums, 1);
  const at::Tensor chosen = lw->adapted_state();
  ASSERT_EQ(chosen.numel(), 3);
  const comm::Bytes after = lw->encode(x, {1, 0});
  const double error = (lw->decode(after, 2200, {1, 0}) - x).pow(2).sum().item<double>();
  EXPECT_LE(error, uniform_error * (1 + 2.0 / 1000) + 1e-9);
  // The big layer's 20 large values need only 1% of 2000; the small layer's equal magnitudes need
  // more than 5% of 200 to make up for it: the choice moves bytes and sends fewer in total.
  EXPECT_LT(after.size(), before.size());
  EXPECT_NE(chosen[1].item<int64_t>(), chosen[2].item<int64_t>());
  // The next 9 calls keep the choice without summing; the 11th chooses again.
  for (int k = 1; k < 10; ++k) lw->adapt(x, {k, 0}, [&](at::Tensor&) { ++sums; });
  EXPECT_EQ(sums, 1);
  lw->adapt(x, {10, 0}, [&](at::Tensor&) { ++sums; });
  EXPECT_EQ(sums, 2);
  // Restored into a fresh one, the choice and the call count come back.
  auto restored = make_layerwise(o, layers, LayerwiseOptions{10, 1000});
  restored->load_adapted_state(lw->adapted_state());
  EXPECT_TRUE(restored->adapted_state().equal(lw->adapted_state()));
  EXPECT_EQ(restored->encode(x, {1, 0}), lw->encode(x, {1, 0}));
  EXPECT_THROW(restored->load_adapted_state(at::zeros({2}, at::kLong)), std::runtime_error);
  // A message that is not the layers' size is refused.
  EXPECT_THROW(lw->encode(at::zeros({100}), {0, 0}), std::invalid_argument);
}

}  // namespace layerwise_test
}  // namespace gossamer::compress
