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

  void encode_into(const at::Tensor& x, const EncodeKey&, comm::Bytes& p) const override {
    const at::Tensor flat = flat_input(x, bf16_ ? "bf16" : "fp16");
    start_packet(p, format(), flat.numel(), payload_bytes(flat.numel()));
    if (flat.numel() > 0) {
      at::from_blob(p.data() + kPacketHeaderBytes, {flat.numel()}, bf16_ ? at::kBFloat16 : at::kHalf).copy_(flat);
    }
    seal_packet(p);
  }

  void decode_into(const comm::Bytes& packet, at::Tensor& out, const EncodeKey& key) const override {
    const int64_t numel = out.numel();
    const Payload pl = open_payload(*this, packet, out, key.rank);
    if (numel > 0) {
      out.copy_(at::from_blob(const_cast<uint8_t*>(pl.data), {numel}, bf16_ ? at::kBFloat16 : at::kHalf));
    }
  }

 private:
  bool bf16_;
};

}  // namespace

std::unique_ptr<Compressor> make_half(bool bf16) { return std::make_unique<Half>(bf16); }

}  // namespace gossamer::compress::detail
