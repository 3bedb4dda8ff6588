// TernGrad (Wen et al. 2017, arXiv 1705.07878): s * sign(g) * b with s = max|g| over the message
// and b ~ Bernoulli(|g| / s); unbiased; 2 bits per coordinate (0, +s, -s) plus s. Without the
// paper's optional 2.5-sigma clipping (which makes it biased).
#include <cstring>

#include "methods.h"

namespace gossamer::compress::detail {
namespace {

class TernGrad final : public Compressor {
 public:
  explicit TernGrad(uint64_t seed) : seed_(seed) {}
  std::string name() const override { return "terngrad"; }
  uint8_t format() const override { return kTerngrad; }
  bool unbiased() const override { return true; }
  size_t payload_bytes(int64_t numel) const override { return 4 + packed_bytes(numel, 2); }

  comm::Bytes encode(const at::Tensor& x, const EncodeKey& key) const override {
    const at::Tensor flat = flat_input(x, "terngrad");
    const int64_t n = flat.numel();
    comm::Bytes p = new_packet(format(), n, payload_bytes(n));
    uint8_t* out = p.data() + kPacketHeaderBytes;
    const float s = n > 0 ? flat.abs().max().item<float>() : 0.f;
    std::memcpy(out, &s, 4);
    if (n > 0) {
      at::Generator g = generator_for(seed_, key.step, key.rank);
      const at::Tensor keep = s > 0 ? at::rand({n}, g).mul_(s).lt(flat.abs()) : at::zeros({n}, at::kBool);
      // 1 = +s, 2 = -s, 0 = 0.
      const at::Tensor fields = keep.to(at::kByte).mul(1 + flat.lt(0).to(at::kByte)).contiguous();
      pack_fields(fields.data_ptr<uint8_t>(), n, 2, out + 4);
    }
    seal_packet(p);
    return p;
  }

  at::Tensor decode(const comm::Bytes& packet, int64_t numel, const EncodeKey& key) const override {
    const Payload pl = open_packet(packet, format(), numel, key.rank, name());
    if (pl.size != payload_bytes(numel)) {
      throw PacketError("terngrad packet from rank " + std::to_string(key.rank) + " has a payload of the wrong size");
    }
    float s;
    std::memcpy(&s, pl.data, 4);
    at::Tensor fields = at::empty({numel}, at::kByte);
    unpack_fields(pl.data + 4, numel, 2, fields.data_ptr<uint8_t>());
    if (numel > 0 && fields.max().item<int>() > 2) {
      throw PacketError("terngrad packet from rank " + std::to_string(key.rank) + " holds an invalid 2-bit code");
    }
    return fields.eq(1).to(at::kFloat).sub_(fields.eq(2).to(at::kFloat)).mul_(s);
  }

 private:
  uint64_t seed_;
};

}  // namespace

std::unique_ptr<Compressor> make_terngrad(uint64_t seed) { return std::make_unique<TernGrad>(seed); }

}  // namespace gossamer::compress::detail
