// Scaled sign (the compressor of EF-signSGD, Karimireddy et al. 2019): (||x||_1 / d) * sign(x),
// one bit per coordinate plus the scale; sign(0) is sent as +. Biased: use it with error feedback.
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

  comm::Bytes encode(const at::Tensor& x, const EncodeKey&) const override {
    const at::Tensor flat = flat_input(x, "sign");
    const int64_t n = flat.numel();
    const float scale = n > 0 ? static_cast<float>(flat.abs().sum().item<double>() / static_cast<double>(n)) : 0.f;
    comm::Bytes p = new_packet(format(), n, payload_bytes(n));
    uint8_t* out = p.data() + kPacketHeaderBytes;
    std::memcpy(out, &scale, 4);
    const at::Tensor bits = flat.ge(0).to(at::kByte).contiguous();
    pack_fields(bits.data_ptr<uint8_t>(), n, 1, out + 4);
    seal_packet(p);
    return p;
  }

  at::Tensor decode(const comm::Bytes& packet, int64_t numel, const EncodeKey& key) const override {
    const Payload pl = open_packet(packet, format(), numel, key.rank, name());
    if (pl.size != payload_bytes(numel)) {
      throw PacketError("sign packet from rank " + std::to_string(key.rank) + " has a payload of the wrong size");
    }
    float scale;
    std::memcpy(&scale, pl.data, 4);
    at::Tensor bits = at::empty({numel}, at::kByte);
    unpack_fields(pl.data + 4, numel, 1, bits.data_ptr<uint8_t>());
    // +scale where the bit is set, -scale elsewhere.
    return bits.to(at::kFloat).mul_(2.f * scale).sub_(scale);
  }
};

}  // namespace

std::unique_ptr<Compressor> make_sign() { return std::make_unique<Sign>(); }

}  // namespace gossamer::compress::detail
