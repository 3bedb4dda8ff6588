// fp16 / bf16: every coordinate rounded to 16 bits (round to nearest even). Biased (rounding),
// 2 bytes per coordinate.
#include <cstring>

#include "methods.h"

namespace gossamer::compress::detail {
namespace {

class Half final : public Compressor {
 public:
  explicit Half(bool bf16) : bf16_(bf16) {}
  std::string name() const override { return bf16_ ? "bf16" : "fp16"; }
  uint8_t format() const override { return bf16_ ? kBf16 : kFp16; }
  bool unbiased() const override { return false; }
  size_t payload_bytes(int64_t numel) const override { return static_cast<size_t>(numel) * 2; }

  comm::Bytes encode(const at::Tensor& x, const EncodeKey&) const override {
    const at::Tensor flat = flat_input(x, bf16_ ? "bf16" : "fp16");
    const at::Tensor h = flat.to(bf16_ ? at::kBFloat16 : at::kHalf).contiguous();
    comm::Bytes p = new_packet(format(), flat.numel(), payload_bytes(flat.numel()));
    if (h.numel() > 0) std::memcpy(p.data() + kPacketHeaderBytes, h.data_ptr(), payload_bytes(flat.numel()));
    seal_packet(p);
    return p;
  }

  at::Tensor decode(const comm::Bytes& packet, int64_t numel, const EncodeKey& key) const override {
    const Payload pl = open_packet(packet, format(), numel, key.rank, name());
    if (pl.size != payload_bytes(numel)) throw PacketError(name() + " packet from rank " + std::to_string(key.rank) + " has a payload of the wrong size");
    at::Tensor h = at::empty({numel}, bf16_ ? at::kBFloat16 : at::kHalf);
    if (numel > 0) std::memcpy(h.data_ptr(), pl.data, pl.size);
    return h.to(at::kFloat);
  }

 private:
  bool bf16_;
};

}  // namespace

std::unique_ptr<Compressor> make_half(bool bf16) { return std::make_unique<Half>(bf16); }

}  // namespace gossamer::compress::detail
