// Every compressor against an independent reference: packet size equal to its formula, the
// round trip each promises (fp16/bf16 rounding, top-k's kept set, sign's scale), unbiasedness of
// randk/qsgd/terngrad (mean of N decodes within 4 sqrt(Var/N)), QSGD's variance bound and top-k's
// contraction, random-k's shared coordinates, rejected corrupted/truncated/mismatched packets,
// and the error-feedback invariant.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>

#include "gossamer/compress/compressor.h"
#include "gossamer/compress/error_feedback.h"
#include "gossamer/compress/packet.h"

namespace gossamer::compress {
namespace compressors_test {

CompressorOptions options(const std::string& method) {
  CompressorOptions o;
  o.method = method;
  o.density = 0.1;
  o.levels = 7;
  o.bucket = 64;
  return o;
}

at::Tensor input(int64_t n, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randn({n}, gen);
}

TEST(Compressors, PacketSizeIsTheHeaderPlusTheFormulaAndTheRoundTripHasTheRightShape) {
  for (const auto& m : compressor_names()) {
    auto c = make_compressor(options(m));
    for (int64_t n : {0, 1, 7, 1000, 4097}) {
      const at::Tensor x = input(n, 3);
      const comm::Bytes p = c->encode(x, {5, 2});
      EXPECT_EQ(p.size(), kPacketHeaderBytes + c->payload_bytes(n)) << m << " n " << n;
      const at::Tensor y = c->decode(p, n, {5, 2});
      EXPECT_EQ(y.numel(), n) << m;
      EXPECT_EQ(y.scalar_type(), at::kFloat) << m;
    }
  }
  // The formulas, by hand, for 1000 coordinates (density 0.1 -> k = 100; qsgd s = 7 -> 4 bits, 16 buckets of 64).
  EXPECT_EQ(make_compressor(options("fp16"))->payload_bytes(1000), 2000u);
  EXPECT_EQ(make_compressor(options("bf16"))->payload_bytes(1000), 2000u);
  EXPECT_EQ(make_compressor(options("sign"))->payload_bytes(1000), 4u + 125u);
  EXPECT_EQ(make_compressor(options("topk"))->payload_bytes(1000), 800u);
  EXPECT_EQ(make_compressor(options("randk"))->payload_bytes(1000), 400u);
  EXPECT_EQ(make_compressor(options("qsgd"))->payload_bytes(1000), 16u * 4u + 500u);
  EXPECT_EQ(make_compressor(options("terngrad"))->payload_bytes(1000), 4u + 250u);
}

TEST(Compressors, HalfPrecisionRoundsEachCoordinateToNearest) {
  const at::Tensor x = input(1000, 4);
  for (const auto& [m, dtype] : {std::pair<std::string, at::ScalarType>{"fp16", at::kHalf}, {"bf16", at::kBFloat16}}) {
    auto c = make_compressor(options(m));
    const at::Tensor y = c->decode(c->encode(x, {}), 1000, {});
    EXPECT_TRUE(y.equal(x.to(dtype).to(at::kFloat))) << m;
  }
}

TEST(Compressors, SignSendsTheMeanMagnitudeWithEachSign) {
  const at::Tensor x = at::tensor({1.f, -3.f, 0.f, 2.f});
  auto c = make_compressor(options("sign"));
  const at::Tensor y = c->decode(c->encode(x, {}), 4, {});
  EXPECT_TRUE(y.equal(at::tensor({1.5f, -1.5f, 1.5f, 1.5f}))) << y;  // (1 + 3 + 0 + 2) / 4; sign(0) = +
}

TEST(Compressors, TopKKeepsExactlyTheLargestMagnitudesAndContracts) {
  const at::Tensor x = input(1000, 5);
  auto c = make_compressor(options("topk"));
  const at::Tensor y = c->decode(c->encode(x, {}), 1000, {});
  EXPECT_EQ(y.ne(0).sum().item<int64_t>(), 100);
  const double threshold = std::get<0>(x.abs().topk(100)).min().item<double>();
  EXPECT_TRUE(y.masked_select(y.ne(0)).equal(x.masked_select(y.ne(0))));
  EXPECT_TRUE(x.abs().masked_select(y.eq(0)).lt(threshold).all().item<bool>());
  EXPECT_LE((y - x).pow(2).sum().item<double>(), (1.0 - 100.0 / 1000.0) * x.pow(2).sum().item<double>());
}

TEST(Compressors, RandomKChoosesTheSameCoordinatesOnEveryRankAndOthersNextStep) {
  const at::Tensor a = input(500, 6), b = input(500, 7);
  auto c = make_compressor(options("randk"));
  const at::Tensor ya = c->decode(c->encode(a, {3, 0}), 500, {3, 0});
  const at::Tensor yb = c->decode(c->encode(b, {3, 1}), 500, {3, 1});
  EXPECT_TRUE(ya.ne(0).equal(yb.ne(0)));
  EXPECT_TRUE(ya.masked_select(ya.ne(0)).allclose(a.masked_select(ya.ne(0)) * 10.0));  // scaled by d/k
  const at::Tensor next = c->decode(c->encode(a, {4, 0}), 500, {4, 0});
  EXPECT_FALSE(next.ne(0).equal(ya.ne(0)));
}

TEST(Compressors, TheUnbiasedOnesAverageToTheInputWithinFourStandardErrors) {
  constexpr int kDraws = 4000;
  const at::Tensor x = input(40, 8);
  for (const std::string m : {"randk", "qsgd", "terngrad"}) {
    auto c = make_compressor(options(m));
    ASSERT_TRUE(c->unbiased()) << m;
    at::Tensor sum = at::zeros({40}, at::kDouble), sq = at::zeros({40}, at::kDouble);
    for (int k = 0; k < kDraws; ++k) {
      const EncodeKey key{k, 1};
      const at::Tensor y = c->decode(c->encode(x, key), 40, key).to(at::kDouble);
      sum += y;
      sq += y * y;
    }
    const at::Tensor mean = sum / kDraws;
    const at::Tensor var = (sq / kDraws - mean * mean).clamp_min(0);
    const at::Tensor bound = 4.0 * (var / kDraws).sqrt() + 1e-6;
    EXPECT_TRUE((mean - x.to(at::kDouble)).abs().le(bound).all().item<bool>())
        << m << ": worst |mean - x| / bound = " << ((mean - x.to(at::kDouble)).abs() / bound).max().item<double>();
  }
}

TEST(Compressors, QsgdVarianceStaysUnderItsBound) {
  // E||Q(v) - v||^2 <= min(B / s^2, sqrt(B) / s) ||v||^2 per bucket; one bucket of 64, s = 7.
  constexpr int kDraws = 2000;
  const at::Tensor v = input(64, 9);
  auto c = make_compressor(options("qsgd"));
  double err = 0;
  for (int k = 0; k < kDraws; ++k) err += (c->decode(c->encode(v, {k, 0}), 64, {k, 0}) - v).pow(2).sum().item<double>();
  err /= kDraws;
  const double bound = std::min(64.0 / 49.0, 8.0 / 7.0) * v.pow(2).sum().item<double>();
  EXPECT_LE(err, bound);
  EXPECT_GT(err, 0.0);
}

TEST(Packets, CorruptedTruncatedAndMismatchedPacketsAreRejectedNamingTheSender) {
  const at::Tensor x = input(100, 10);
  for (const auto& m : compressor_names()) {
    auto c = make_compressor(options(m));
    const comm::Bytes good = c->encode(x, {1, 3});
    comm::Bytes flipped = good;
    flipped.back() ^= 0x40;
    comm::Bytes truncated(good.begin(), good.end() - 1);
    comm::Bytes header_only(good.begin(), good.begin() + 10);
    for (const auto& [bad, what] : {std::pair<const comm::Bytes*, std::string>{&flipped, "checksum"},
                                    {&truncated, "truncated"},
                                    {&header_only, "truncated"}}) {
      try {
        c->decode(*bad, 100, {1, 3});
        ADD_FAILURE() << m << ": a packet with a bad " << what << " was decoded";
      } catch (const PacketError& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("rank 3"), std::string::npos) << msg;
        EXPECT_NE(msg.find(what), std::string::npos) << msg;
      }
    }
    EXPECT_THROW(c->decode(good, 101, {1, 3}), PacketError) << m;  // another element count
  }
  // Another compressor's packet.
  auto sign = make_compressor(options("sign")), topk = make_compressor(options("topk"));
  EXPECT_THROW(topk->decode(sign->encode(x, {}), 100, {}), PacketError);
}

TEST(ErrorFeedbackMemory, SentPlusNewErrorIsInputPlusOldError) {
  auto topk = make_compressor(options("topk"));
  auto sign = make_compressor(options("sign"));
  for (auto* c : {topk.get(), sign.get()}) {
    ErrorFeedback ef;
    at::Tensor sent_total = at::zeros({300}, at::kDouble), input_total = at::zeros({300}, at::kDouble);
    for (int k = 0; k < 20; ++k) {
      const at::Tensor x = input(300, 100 + k);
      const at::Tensor old_error = ef.memory().defined() ? ef.memory().clone() : at::zeros({300});
      const at::Tensor p = ef.compensate(x).clone();
      const at::Tensor sent = c->decode(c->encode(p, {k, 0}), 300, {k, 0});
      ef.remember(sent);
      if (c == topk.get()) {
        // Top-k sends each kept coordinate exactly and keeps the rest: exact in floating point.
        EXPECT_TRUE((sent + ef.memory()).equal(x + old_error)) << "step " << k;
      } else {
        EXPECT_TRUE((sent + ef.memory()).allclose(x + old_error, 1e-6, 1e-6)) << "step " << k;
      }
      sent_total += sent.to(at::kDouble);
      input_total += x.to(at::kDouble);
    }
    // Nothing is lost: what was sent over the run is what came in, minus what is still remembered.
    EXPECT_TRUE(sent_total.allclose(input_total - ef.memory().to(at::kDouble), 1e-4, 1e-4)) << c->name();
  }
}

TEST(CompressorOptionsCheck, BadValuesAndUnknownNamesAreRefusedNamingThem) {
  CompressorOptions o = options("topk");
  o.density = 0;
  EXPECT_THROW(make_compressor(o), std::invalid_argument);
  o = options("qsgd");
  o.levels = 128;
  EXPECT_THROW(make_compressor(o), std::invalid_argument);
  try {
    make_compressor(options("zip"));
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("known are fp16, bf16, sign"), std::string::npos) << e.what();
  }
}

}  // namespace compressors_test
}  // namespace gossamer::compress
