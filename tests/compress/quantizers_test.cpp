// The quantizers (qsgd, terngrad, alq, amq) on messages that span several of the encoder's chunks
// (16 384 coordinates each) with buckets that straddle them: packets that do not depend on the
// thread count, every coordinate rounded to one of its two neighbouring levels (checked against
// levels recomputed here from the input), the rounding frequencies of a single packet, the
// adaptive levels' lower variance than QSGD's at the same bits, and packets whose levels are
// forged.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <cstring>

#include "gossamer/compress/compressor.h"
#include "gossamer/compress/packet.h"

namespace gossamer::compress {
namespace quantizers_test {

CompressorOptions options(const std::string& method, int64_t levels = 7, int64_t bucket = 500) {
  CompressorOptions o;
  o.method = method;
  o.levels = levels;
  o.bucket = bucket;
  o.seed = 11;
  return o;
}

at::Tensor input(int64_t n, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randn({n}, gen);
}

// Three full chunks and a tail that is not a multiple of 8 (the last byte of fields is partial).
constexpr int64_t kN = 3 * 16384 + 1237;

struct Threads {
  int saved = at::get_num_threads();
  explicit Threads(int t) { at::set_num_threads(t); }
  ~Threads() { at::set_num_threads(saved); }
};

TEST(Quantizers, PacketsAreTheSameOnOneAndTwoThreads) {
  const at::Tensor x = input(kN, 1);
  for (const std::string m : {"qsgd", "terngrad", "alq", "amq"}) {
    auto c = make_compressor(options(m));
    comm::Bytes one, two;
    at::Tensor y1 = at::empty({kN}), y2 = at::empty({kN});
    {
      const Threads t(1);
      c->encode_into(x, {3, 1}, one);
      c->decode_into(one, y1, {3, 1});
    }
    {
      const Threads t(2);
      c->encode_into(x, {3, 1}, two);
      c->decode_into(two, y2, {3, 1});
    }
    EXPECT_EQ(one, two) << m;
    EXPECT_TRUE(at::equal(y1, y2)) << m;
  }
}

TEST(Quantizers, QsgdRoundsEveryCoordinateToANeighbouringLevelWithItsSign) {
  const int64_t s = 7, bucket = 500;
  const at::Tensor x = input(kN, 2);
  auto c = make_compressor(options("qsgd", s, bucket));
  const at::Tensor y = c->decode(c->encode(x, {1, 0}), kN, {1, 0});
  // Independent reference: per bucket, a = s |x| / ||bucket||; y must be ±(floor(a) or ceil(a)) * norm / s.
  const int64_t nb = (kN + bucket - 1) / bucket;
  const at::Tensor padded = at::cat({x, at::zeros({nb * bucket - kN})}).view({nb, bucket});
  const at::Tensor norms = padded.norm(2, {1}, true).expand({nb, bucket}).reshape({-1}).narrow(0, 0, kN);
  const at::Tensor a = (x.abs() * s / norms).to(at::kDouble);
  const at::Tensor level = (y.abs() * s / norms).to(at::kDouble);
  EXPECT_TRUE(((level - a.floor()).abs().lt(1e-3) | (level - a.ceil()).abs().lt(1e-3)).all().item<bool>());
  EXPECT_TRUE((y.mul(x).ge(0)).all().item<bool>()) << "a decoded value has the other sign";
}

TEST(Quantizers, TernGradSendsZeroOrTheSignedMaximum) {
  const at::Tensor x = input(kN, 3);
  auto c = make_compressor(options("terngrad"));
  const at::Tensor y = c->decode(c->encode(x, {1, 0}), kN, {1, 0});
  const float smax = x.abs().max().item<float>();
  EXPECT_TRUE((y.eq(0) | (y.abs().eq(smax) & y.mul(x).gt(0))).all().item<bool>());
}

TEST(Quantizers, RoundingFrequenciesInOnePacketMatchTheirProbabilities) {
  // Constant buckets of 64: a = s / sqrt(64) = 7 / 8 for every coordinate, so each rounds up with
  // probability 7/8; over 200 000 coordinates (13 chunks) the share that rounds up is within
  // 4 standard errors (0.003) of 0.875, and so is each chunk-sized third of the message.
  const int64_t n = 200000;
  auto c = make_compressor(options("qsgd", 7, 64));
  const at::Tensor x = at::full({n}, 0.25f);
  const at::Tensor y = c->decode(c->encode(x, {4, 2}), n, {4, 2});
  const at::Tensor up = y.gt(0).to(at::kDouble);
  const double se = std::sqrt(0.875 * 0.125 / n);
  EXPECT_NEAR(up.mean().item<double>(), 0.875, 4 * se);
  for (int part = 0; part < 3; ++part) {
    const int64_t len = n / 3;
    EXPECT_NEAR(up.narrow(0, part * len, len).mean().item<double>(), 0.875, 4 * se * std::sqrt(3.0)) << part;
  }
  // Another step, another rank: other draws.
  EXPECT_FALSE(at::equal(y, c->decode(c->encode(x, {5, 2}), n, {5, 2})));
  EXPECT_FALSE(at::equal(y, c->decode(c->encode(x, {4, 3}), n, {4, 3})));
}

double mean_squared_error(const Compressor& c, const at::Tensor& x, int draws) {
  double err = 0;
  for (int k = 0; k < draws; ++k) err += (c.decode(c.encode(x, {k, 0}), x.numel(), {k, 0}) - x).pow(2).sum().item<double>();
  return err / draws;
}

TEST(Quantizers, AdaptiveLevelsHaveLowerVarianceThanQsgdAtTheSameBits) {
  // Gaussian coordinates in buckets of 2048: normalised magnitudes crowd near 0, where uniform levels
  // are coarse. ALQ minimises the variance over all level tables, so it must beat the uniform table
  // (QSGD) it starts from; AMQ (one parameter) must at least not lose by more than the noise.
  const at::Tensor x = input(4 * 2048, 4);
  for (int64_t s : {3, 7}) {
    auto q = make_compressor(options("qsgd", s, 2048));
    auto alq = make_compressor(options("alq", s, 2048));
    auto amq = make_compressor(options("amq", s, 2048));
    EXPECT_EQ(alq->payload_bytes(8192), q->payload_bytes(8192) + (s - 1) * 4) << "same bits per coordinate";
    const double vq = mean_squared_error(*q, x, 40), va = mean_squared_error(*alq, x, 40),
                 vm = mean_squared_error(*amq, x, 40);
    EXPECT_LT(va, 0.8 * vq) << "s = " << s << ": alq " << va << " vs qsgd " << vq;
    EXPECT_LT(vm, vq) << "s = " << s << ": amq " << vm << " vs qsgd " << vq;
  }
}

TEST(Quantizers, AdaptiveQuantizersAreUnbiasedAcrossChunks) {
  constexpr int kDraws = 600;
  const at::Tensor x = input(kN, 5);
  const at::Tensor probe = at::arange(0, kN, 997, at::kLong);  // coordinates in every chunk and the tail
  for (const std::string m : {"alq", "amq"}) {
    auto c = make_compressor(options(m, 3, 500));
    ASSERT_TRUE(c->unbiased());
    at::Tensor sum = at::zeros({probe.numel()}, at::kDouble), sq = at::zeros({probe.numel()}, at::kDouble);
    for (int k = 0; k < kDraws; ++k) {
      const at::Tensor y = c->decode(c->encode(x, {k, 0}), kN, {k, 0}).index_select(0, probe).to(at::kDouble);
      sum += y;
      sq += y * y;
    }
    const at::Tensor mean = sum / kDraws, var = (sq / kDraws - mean * mean).clamp_min(0);
    const at::Tensor gap = (mean - x.index_select(0, probe).to(at::kDouble)).abs();
    EXPECT_TRUE(gap.le(4.0 * (var / kDraws).sqrt() + 1e-6).all().item<bool>()) << m;
  }
}

TEST(Quantizers, APacketWithForgedLevelsIsRejectedNamingTheSender) {
  auto c = make_compressor(options("alq", 7, 500));
  const at::Tensor x = input(1000, 6);
  comm::Bytes p = c->encode(x, {1, 4});
  // Swap the first two interior levels (no longer increasing) and re-seal, so the checksum passes.
  float l1, l2;
  std::memcpy(&l1, p.data() + kPacketHeaderBytes, 4);
  std::memcpy(&l2, p.data() + kPacketHeaderBytes + 4, 4);
  std::memcpy(p.data() + kPacketHeaderBytes, &l2, 4);
  std::memcpy(p.data() + kPacketHeaderBytes + 4, &l1, 4);
  seal_packet(p);
  at::Tensor y = at::empty({1000});
  try {
    c->decode_into(p, y, {1, 4});
    FAIL() << "forged levels were decoded";
  } catch (const PacketError& e) {
    EXPECT_NE(std::string(e.what()).find("rank 4"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("not increasing"), std::string::npos) << e.what();
  }
  // A level index above the table: with levels = 5 the 4-bit fields hold indices 0..7 but the table
  // has 6 entries, so index 7 in the first field can only be forged.
  auto c5 = make_compressor(options("alq", 5, 500));
  comm::Bytes q = c5->encode(x, {1, 4});
  const size_t fields = kPacketHeaderBytes + 4 * 4 + 2 * 4;  // 4 interior levels, 2 bucket norms
  q[fields] = static_cast<uint8_t>((q[fields] & 0xF0) | 7);
  seal_packet(q);
  EXPECT_THROW(c5->decode_into(q, y, {1, 4}), PacketError);
}

}  // namespace quantizers_test
}  // namespace gossamer::compress
