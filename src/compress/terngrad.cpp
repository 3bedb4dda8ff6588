// TernGrad (Wen et al. 2017, arXiv 1705.07878): s * sign(g) * b with s = max|g| over the message
// and b ~ Bernoulli(|g| / s); unbiased; 2 bits per coordinate (0, +s, -s) plus s. Without the
// paper's optional 2.5-sigma clipping (which makes it biased).
#include <cmath>
#include <cstring>

#include "methods.h"
#include "quantize.h"

namespace gossamer::compress::detail {
namespace {

class TernGrad final : public Compressor {
 public:
  explicit TernGrad(uint64_t seed) : seed_(seed) {}
  std::string name() const override { return "terngrad"; }
  uint8_t format() const override { return kTerngrad; }
  bool unbiased() const override { return true; }
  size_t payload_bytes(int64_t numel) const override { return 4 + packed_bytes(numel, 2); }

  void encode_into(const at::Tensor& x, const EncodeKey& key, comm::Bytes& p) const override {
    const at::Tensor flat = flat_input(x, "terngrad");
    const int64_t n = flat.numel();
    start_packet(p, format(), n, payload_bytes(n));
    uint8_t* out = p.data() + kPacketHeaderBytes;
    const float* v = flat.data_ptr<float>();
    float s = 0.f;
    if (n > 0) {
      const auto [lo, hi] = at::aminmax(flat);  // one pass for both ends
      s = std::max(std::fabs(lo.item<float>()), std::fabs(hi.item<float>()));
    }
    std::memcpy(out, &s, 4);
    // 1 = +s, 2 = -s, 0 = 0; b ~ Bernoulli(|v| / s).
    quantize_ternary(v, n, s, stream_seed(seed_, key.step, key.rank), out + 4);
    seal_packet(p);
  }

  void decode_into(const comm::Bytes& packet, at::Tensor& out, const EncodeKey& key) const override {
    const int64_t numel = out.numel();
    const Payload pl = open_payload(*this, packet, out, key.rank);
    float s;
    std::memcpy(&s, pl.data, 4);
    if (decode_ternary(pl.data + 4, numel, s, out.data_ptr<float>()) > 2) {
      throw PacketError("terngrad packet from rank " + std::to_string(key.rank) + " holds an invalid 2-bit code");
    }
  }

 private:
  uint64_t seed_;
};

}  // namespace

std::unique_ptr<Compressor> make_terngrad(uint64_t seed) { return std::make_unique<TernGrad>(seed); }

}  // namespace gossamer::compress::detail
