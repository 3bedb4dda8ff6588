// Top-k: the k = round(density * d) coordinates of largest magnitude, as k int32 indices (ascending)
// and k float32 values. Biased (a contraction: ||C(x) - x||^2 <= (1 - k/d) ||x||^2): use it with
// error feedback.
#include <cstring>

#include "methods.h"

namespace gossamer::compress::detail {
namespace {

class TopK final : public Compressor {
 public:
  explicit TopK(double density) : density_(density) {}
  std::string name() const override { return "topk"; }
  uint8_t format() const override { return kTopk; }
  bool unbiased() const override { return false; }
  size_t payload_bytes(int64_t numel) const override { return static_cast<size_t>(kept_count(density_, numel)) * 8; }

  comm::Bytes encode(const at::Tensor& x, const EncodeKey&) const override {
    const at::Tensor flat = flat_input(x, "topk");
    const int64_t n = flat.numel();
    if (n > INT32_MAX) throw std::invalid_argument("topk: more than 2^31 - 1 coordinates in one message");
    const int64_t k = kept_count(density_, n);
    comm::Bytes p = new_packet(format(), n, payload_bytes(n));
    if (k > 0) {
      const at::Tensor idx = std::get<0>(std::get<1>(flat.abs().topk(k, 0, /*largest=*/true, /*sorted=*/false)).sort());
      const at::Tensor i32 = idx.to(at::kInt).contiguous();
      const at::Tensor vals = flat.index_select(0, idx).contiguous();
      uint8_t* out = p.data() + kPacketHeaderBytes;
      std::memcpy(out, i32.data_ptr(), static_cast<size_t>(k) * 4);
      std::memcpy(out + k * 4, vals.data_ptr(), static_cast<size_t>(k) * 4);
    }
    seal_packet(p);
    return p;
  }

  at::Tensor decode(const comm::Bytes& packet, int64_t numel, const EncodeKey& key) const override {
    const Payload pl = open_packet(packet, format(), numel, key.rank, name());
    const int64_t k = kept_count(density_, numel);
    if (pl.size != payload_bytes(numel)) {
      throw PacketError("topk packet from rank " + std::to_string(key.rank) + " has a payload of the wrong size");
    }
    at::Tensor out = at::zeros({numel}, at::kFloat);
    if (k == 0) return out;
    at::Tensor i32 = at::empty({k}, at::kInt), vals = at::empty({k}, at::kFloat);
    std::memcpy(i32.data_ptr(), pl.data, static_cast<size_t>(k) * 4);
    std::memcpy(vals.data_ptr(), pl.data + k * 4, static_cast<size_t>(k) * 4);
    if (i32.min().item<int>() < 0 || i32.max().item<int>() >= numel) {
      throw PacketError("topk packet from rank " + std::to_string(key.rank) + " holds an index outside [0, " +
                        std::to_string(numel) + ")");
    }
    out.index_copy_(0, i32.to(at::kLong), vals);
    return out;
  }

 private:
  double density_;
};

}  // namespace

std::unique_ptr<Compressor> make_topk(double density) { return std::make_unique<TopK>(density); }

}  // namespace gossamer::compress::detail
