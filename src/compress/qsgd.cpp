// QSGD (Alistarh et al. 2017, arXiv 1610.02132): per bucket of B coordinates, the L2 norm and, per
// coordinate, its sign and a level l in [0, s] from unbiased stochastic rounding of s|v|/norm
// (l/s or (l+1)/s with the probabilities that make the mean exact); decoded as norm * sign * l / s.
// Variance bound per bucket: E||Q(v) - v||^2 <= min(B/s^2, sqrt(B)/s) ||v||^2.
// Each coordinate takes w bits, the smallest of 2, 4, 8 that holds a sign bit and the level
// (s = 1: 2 bits; s <= 7: 4 bits; s <= 127: 8 bits) — a byte-aligned choice of ours: the paper's
// Elias coding is shorter for small s and much slower to decode.
#include <cmath>
#include <cstring>

#include "methods.h"

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
  size_t payload_bytes(int64_t numel) const override {
    return static_cast<size_t>(buckets(numel)) * 4 + packed_bytes(numel, width_);
  }

  comm::Bytes encode(const at::Tensor& x, const EncodeKey& key) const override {
    const at::Tensor flat = flat_input(x, "qsgd");
    const int64_t n = flat.numel(), nb = buckets(n);
    comm::Bytes p = new_packet(format(), n, payload_bytes(n));
    if (n > 0) {
      // [nb, B] with the last bucket zero-padded; norms per bucket.
      at::Tensor padded = at::zeros({nb * bucket_}, at::kFloat);
      padded.narrow(0, 0, n).copy_(flat);
      at::Tensor rows = padded.view({nb, bucket_});
      const at::Tensor norms = rows.norm(2, 1).contiguous();  // [nb]
      const at::Tensor safe = at::where(norms.gt(0), norms, at::ones_like(norms)).unsqueeze(1);
      const at::Tensor scaled = rows.abs().div(safe).mul_(static_cast<double>(s_));  // in [0, s]
      const at::Tensor low = scaled.floor();
      at::Generator g = generator_for(seed_, key.step, key.rank);
      const at::Tensor up = at::rand(scaled.sizes(), g).lt(scaled - low);
      const at::Tensor level = (low + up.to(at::kFloat)).clamp_(0, static_cast<double>(s_)).to(at::kByte);
      const at::Tensor negative = rows.lt(0).to(at::kByte);
      const at::Tensor fields =
          level.bitwise_or(negative.bitwise_left_shift(width_ - 1)).reshape({-1}).narrow(0, 0, n).contiguous();
      uint8_t* out = p.data() + kPacketHeaderBytes;
      std::memcpy(out, norms.data_ptr(), static_cast<size_t>(nb) * 4);
      pack_fields(fields.data_ptr<uint8_t>(), n, width_, out + nb * 4);
    }
    seal_packet(p);
    return p;
  }

  at::Tensor decode(const comm::Bytes& packet, int64_t numel, const EncodeKey& key) const override {
    const Payload pl = open_packet(packet, format(), numel, key.rank, name());
    if (pl.size != payload_bytes(numel)) {
      throw PacketError("qsgd packet from rank " + std::to_string(key.rank) + " has a payload of the wrong size");
    }
    if (numel == 0) return at::zeros({0}, at::kFloat);
    const int64_t nb = buckets(numel);
    at::Tensor norms = at::empty({nb}, at::kFloat);
    std::memcpy(norms.data_ptr(), pl.data, static_cast<size_t>(nb) * 4);
    at::Tensor fields = at::zeros({nb * bucket_}, at::kByte);
    unpack_fields(pl.data + nb * 4, numel, width_, fields.data_ptr<uint8_t>());
    const int sign_bit = 1 << (width_ - 1);
    const at::Tensor level = fields.bitwise_and(sign_bit - 1).to(at::kFloat);
    if (level.max().item<float>() > static_cast<float>(s_)) {
      throw PacketError("qsgd packet from rank " + std::to_string(key.rank) + " holds a level above s = " +
                        std::to_string(s_));
    }
    const at::Tensor sign = 1.0 - 2.0 * fields.bitwise_and(sign_bit).ne(0).to(at::kFloat);
    at::Tensor v = (level * sign).view({nb, bucket_}).mul_(norms.unsqueeze(1)).div_(static_cast<double>(s_));
    return v.reshape({-1}).narrow(0, 0, numel).contiguous();
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
