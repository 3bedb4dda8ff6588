// QSGD (Alistarh et al. 2017, arXiv 1610.02132): per bucket of B coordinates, the L2 norm and, per
// coordinate, its sign and a level l in [0, s] from unbiased stochastic rounding of s|v|/norm
// (l/s or (l+1)/s with the probabilities that make the mean exact); decoded as norm * sign * l / s.
// Variance bound per bucket: E||Q(v) - v||^2 <= min(B/s^2, sqrt(B)/s) ||v||^2.
// Each coordinate takes w bits, the smallest of 2, 4, 8 that holds a sign bit and the level
// (s = 1: 2 bits; s <= 7: 4 bits; s <= 127: 8 bits) — a byte-aligned choice of ours: the paper's
// Elias coding is shorter for small s and much slower to decode.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "methods.h"
#include "quantize.h"

namespace gossamer::compress::detail {
namespace {

int field_width(int64_t s) { return s <= 1 ? 2 : s <= 7 ? 4 : 8; }

class Qsgd final : public Compressor {
 public:
  Qsgd(int64_t levels, int64_t bucket, uint64_t seed)
      : s_(levels), bucket_(bucket), seed_(seed), width_(field_width(levels)) {}
  std::string name() const override { return "qsgd"; }
  uint8_t format() const override { return kQsgd; }
  bool unbiased() const override { return true; }
  double variance_factor(int64_t numel) const override {
    const double b = static_cast<double>(std::min(bucket_, std::max<int64_t>(numel, 1))), s = static_cast<double>(s_);
    return 1.0 + std::min(b / (s * s), std::sqrt(b) / s);
  }
  size_t payload_bytes(int64_t numel) const override {
    return static_cast<size_t>(buckets(numel)) * 4 + packed_bytes(numel, width_);
  }

  void encode_into(const at::Tensor& x, const EncodeKey& key, comm::Bytes& p) const override {
    const at::Tensor flat = flat_input(x, "qsgd");
    const int64_t n = flat.numel(), nb = buckets(n);
    start_packet(p, format(), n, payload_bytes(n));
    const float* v = flat.data_ptr<float>();
    uint8_t* out = p.data() + kPacketHeaderBytes;
    const float s = static_cast<float>(s_);
    float* norms = reinterpret_cast<float*>(out);
    bucket_norms(flat, bucket_, norms);
    float* scales = reinterpret_cast<float*>(scratch_bytes(static_cast<size_t>(nb) * 4));
    for (int64_t b = 0; b < nb; ++b) scales[b] = norms[b] > 0 ? s / norms[b] : 0.f;
    quantize_uniform(v, n, bucket_, scales, s, width_, stream_seed(seed_, key.step, key.rank), out + nb * 4);
    seal_packet(p);
  }

  void decode_into(const comm::Bytes& packet, at::Tensor& out, const EncodeKey& key) const override {
    const int64_t numel = out.numel();
    const Payload pl = open_payload(*this, packet, out, key.rank);
    float* y = out.data_ptr<float>();
    const int64_t nb = buckets(numel);
    float* units = reinterpret_cast<float*>(scratch_bytes(static_cast<size_t>(nb) * 4));
    std::memcpy(units, pl.data, static_cast<size_t>(nb) * 4);
    for (int64_t b = 0; b < nb; ++b) units[b] /= static_cast<float>(s_);
    const int top = decode_uniform(pl.data + nb * 4, numel, bucket_, units, width_, y);
    if (top > s_) {
      throw PacketError("qsgd packet from rank " + std::to_string(key.rank) + " holds level " + std::to_string(top) +
                        ", above s = " + std::to_string(s_));
    }
  }

 private:
  int64_t buckets(int64_t n) const { return (n + bucket_ - 1) / bucket_; }

  int64_t s_, bucket_;
  uint64_t seed_;
  int width_;
};

}  // namespace

std::unique_ptr<Compressor> make_qsgd(int64_t levels, int64_t bucket, uint64_t seed) {
  return std::make_unique<Qsgd>(levels, bucket, seed);
}

}  // namespace gossamer::compress::detail
