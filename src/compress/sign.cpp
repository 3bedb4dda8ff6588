// Scaled sign (the compressor of EF-signSGD, Karimireddy et al. 2019): (||x||_1 / d) * sign(x),
// one bit per coordinate plus the scale; sign(0) is sent as +. Biased: use it with error feedback.
#include <cmath>
#include <cstring>

#include "methods.h"

namespace gossamer::compress::detail {
namespace {

class Sign final : public Compressor {
 public:
  std::string name() const override { return "sign"; }
  uint8_t format() const override { return kSign; }
  bool unbiased() const override { return false; }
  size_t payload_bytes(int64_t numel) const override { return 4 + packed_bytes(numel, 1); }

  void encode_into(const at::Tensor& x, const EncodeKey&, comm::Bytes& p) const override {
    const at::Tensor flat = flat_input(x, "sign");
    const int64_t n = flat.numel();
    const float* v = flat.data_ptr<float>();
    const float scale = n > 0 ? static_cast<float>(flat.norm(1).item<double>() / static_cast<double>(n)) : 0.f;
    start_packet(p, format(), n, payload_bytes(n));
    uint8_t* out = p.data() + kPacketHeaderBytes;
    std::memcpy(out, &scale, 4);
    uint8_t* bits = out + 4;
    const int64_t full = n / 8;
    for (int64_t o = 0; o < full; ++o) {
      const float* w = v + o * 8;
      bits[o] = static_cast<uint8_t>((w[0] >= 0) | (w[1] >= 0) << 1 | (w[2] >= 0) << 2 | (w[3] >= 0) << 3 |
                                     (w[4] >= 0) << 4 | (w[5] >= 0) << 5 | (w[6] >= 0) << 6 | (w[7] >= 0) << 7);
    }
    if (full * 8 < n) {
      uint32_t byte = 0;
      for (int64_t j = full * 8; j < n; ++j) byte |= static_cast<uint32_t>(v[j] >= 0) << (j - full * 8);
      bits[full] = static_cast<uint8_t>(byte);
    }
    seal_packet(p);
  }

  void decode_into(const comm::Bytes& packet, at::Tensor& out, const EncodeKey& key) const override {
    const int64_t numel = out.numel();
    const Payload pl = open_payload(*this, packet, out, key.rank);
    float scale;
    std::memcpy(&scale, pl.data, 4);
    float* y = out.data_ptr<float>();
    const uint8_t* bits = pl.data + 4;
    // The 8 floats of every possible byte, then one 32-byte copy per byte of bits.
    float table[256][8];
    for (int b = 0; b < 256; ++b) {
      for (int j = 0; j < 8; ++j) table[b][j] = (b >> j) & 1 ? scale : -scale;
    }
    const int64_t full = numel / 8;
    for (int64_t o = 0; o < full; ++o) std::memcpy(y + o * 8, table[bits[o]], sizeof table[0]);
    for (int64_t i = full * 8; i < numel; ++i) y[i] = (bits[i >> 3] >> (i & 7)) & 1 ? scale : -scale;
  }
};

}  // namespace

std::unique_ptr<Compressor> make_sign() { return std::make_unique<Sign>(); }

}  // namespace gossamer::compress::detail
