// ALQ and AMQ (Faghri et al. 2020, arXiv 2010.12460): QSGD's buckets, norms and unbiased stochastic
// rounding, but to levels fitted to the message's distribution of normalised magnitudes
// (adaptive_levels.h) instead of the uniform l / s. With `levels` = top there are top + 1 magnitude
// levels (0 and 1 included), coded like QSGD's s = top: the same bits per coordinate, so the two
// compare at equal size.
//
// Payload: the top - 1 interior levels (float32; 0 and 1 are implicit), the bucket norms (float32),
// then the fields (index | sign bit, 2, 4 or 8 bits). The sender fits and sends its levels, so a
// receiver needs no state and ranks need not agree on anything (the paper refits levels shared by
// all workers on a schedule; ours cost 4 (top - 1) bytes per packet).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "adaptive_levels.h"
#include "methods.h"
#include "quantize.h"

namespace gossamer::compress::detail {
namespace {

int adaptive_field_width(int64_t top) { return top <= 1 ? 2 : top <= 7 ? 4 : 8; }

// At most this many coordinates feed the histogram (every stride-th one): enough for 127 levels.
constexpr int64_t kFitSamples = 65536;

class AdaptiveQuantizer final : public Compressor {
 public:
  AdaptiveQuantizer(bool multiplicative, int64_t top, int64_t bucket, uint64_t seed)
      : amq_(multiplicative), top_(static_cast<int>(top)), bucket_(bucket), seed_(seed),
        width_(adaptive_field_width(top)) {}
  std::string name() const override { return amq_ ? "amq" : "alq"; }
  uint8_t format() const override { return amq_ ? kAmq : kAlq; }
  bool unbiased() const override { return true; }
  size_t payload_bytes(int64_t numel) const override {
    return static_cast<size_t>(top_ - 1) * 4 + static_cast<size_t>(buckets(numel)) * 4 + packed_bytes(numel, width_);
  }

  void encode_into(const at::Tensor& x, const EncodeKey& key, comm::Bytes& p) const override {
    const at::Tensor flat = flat_input(x, amq_ ? "amq" : "alq");
    const int64_t n = flat.numel(), nb = buckets(n);
    start_packet(p, format(), n, payload_bytes(n));
    const float* v = flat.data_ptr<float>();
    uint8_t* out = p.data() + kPacketHeaderBytes;
    float* norms = reinterpret_cast<float*>(scratch_bytes(static_cast<size_t>(nb) * 8));
    float* scales = norms + nb;
    bucket_norms(flat, bucket_, norms);
    for (int64_t b = 0; b < nb; ++b) scales[b] = norms[b] > 0 ? 1.0f / norms[b] : 0.f;

    const std::vector<float> levels = fit(v, n, scales);
    std::memcpy(out, levels.data() + 1, static_cast<size_t>(std::max(0, top_ - 1)) * 4);
    std::memcpy(out + (top_ - 1) * 4, norms, static_cast<size_t>(nb) * 4);
    quantize_table(v, n, bucket_, scales, levels.data(), top_, width_, stream_seed(seed_, key.step, key.rank),
                   out + (top_ - 1 + nb) * 4);
    seal_packet(p);
  }

  void decode_into(const comm::Bytes& packet, at::Tensor& out, const EncodeKey& key) const override {
    const int64_t numel = out.numel(), nb = buckets(numel);
    const Payload pl = open_payload(*this, packet, out, key.rank);
    std::vector<float> levels(static_cast<size_t>(top_) + 1, 0.0f);
    const size_t interior = static_cast<size_t>(std::max(0, top_ - 1));
    std::memcpy(levels.data() + 1, pl.data, interior * 4);
    levels.back() = 1.0f;
    for (int j = 1; j <= top_; ++j) {
      if (!(levels[j] > levels[j - 1])) {  // also rejects NaN
        throw PacketError(name() + " packet from rank " + std::to_string(key.rank) + " carries levels that are not " +
                          "increasing in (0, 1) (level " + std::to_string(j) + " = " + std::to_string(levels[j]) +
                          ")");
      }
    }
    const float* norms = reinterpret_cast<const float*>(scratch_copy(pl.data + (top_ - 1) * 4, nb));
    const int seen = decode_table(pl.data + (top_ - 1 + nb) * 4, numel, bucket_, norms, levels.data(), top_, width_,
                                  out.data_ptr<float>());
    if (seen > top_) {
      throw PacketError(name() + " packet from rank " + std::to_string(key.rank) + " holds level index " +
                        std::to_string(seen) + ", above " + std::to_string(top_));
    }
  }

 private:
  int64_t buckets(int64_t n) const { return (n + bucket_ - 1) / bucket_; }

  // The bucket norms as an aligned float array (the payload offset may not be 4-byte aligned).
  static const uint8_t* scratch_copy(const uint8_t* src, int64_t floats) {
    uint8_t* dst = scratch_bytes(static_cast<size_t>(floats) * 4);
    std::memcpy(dst, src, static_cast<size_t>(floats) * 4);
    return dst;
  }

  std::vector<float> fit(const float* v, int64_t n, const float* scales) const {
    std::vector<float> r;
    const int64_t stride = std::max<int64_t>(1, (n + kFitSamples - 1) / kFitSamples);
    r.reserve(static_cast<size_t>(n / stride + 1));
    for (int64_t i = 0; i < n; i += stride) r.push_back(std::min(1.0f, std::fabs(v[i]) * scales[i / bucket_]));
    const MagnitudeHistogram h(r);
    return amq_ ? fit_amq_levels(h, top_) : fit_alq_levels(h, top_);
  }

  bool amq_;
  int top_;
  int64_t bucket_;
  uint64_t seed_;
  int width_;
};

}  // namespace

std::unique_ptr<Compressor> make_adaptive_quantizer(bool multiplicative, int64_t levels, int64_t bucket,
                                                    uint64_t seed) {
  return std::make_unique<AdaptiveQuantizer>(multiplicative, levels, bucket, seed);
}

}  // namespace gossamer::compress::detail
