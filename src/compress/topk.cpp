// Top-k: the k = round(density * d) coordinates of largest magnitude, as k int32 indices (ascending)
// and k float32 values. Biased (a contraction: ||C(x) - x||^2 <= (1 - k/d) ||x||^2): use it with
// error feedback.
#include <algorithm>
#include <cmath>
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

  void encode_into(const at::Tensor& x, const EncodeKey&, comm::Bytes& p) const override {
    const at::Tensor flat = flat_input(x, "topk");
    const int64_t n = flat.numel();
    if (n > INT32_MAX) throw std::invalid_argument("topk: more than 2^31 - 1 coordinates in one message");
    const int64_t k = kept_count(density_, n);
    start_packet(p, format(), n, payload_bytes(n));
    if (k > 0) {
      // The k-th largest magnitude by selection (O(d)), then one ascending scan: every coordinate
      // above it, and those equal to it, lowest index first, until k are taken.
      const float* v = flat.data_ptr<float>();
      float* mags = reinterpret_cast<float*>(scratch_bytes(static_cast<size_t>(n) * 4));
      for (int64_t i = 0; i < n; ++i) mags[i] = std::fabs(v[i]);
      std::nth_element(mags, mags + (n - k), mags + n);
      const float threshold = mags[n - k];
      int64_t above = 0;
      for (int64_t i = 0; i < n; ++i) above += std::fabs(v[i]) > threshold;
      int64_t ties = k - above;
      uint8_t* out = p.data() + kPacketHeaderBytes;
      int64_t taken = 0;
      for (int64_t i = 0; i < n && taken < k; ++i) {
        const float m = std::fabs(v[i]);
        if (m > threshold || (m == threshold && ties-- > 0)) {
          const int32_t index = static_cast<int32_t>(i);
          std::memcpy(out + taken * 4, &index, 4);
          std::memcpy(out + (k + taken) * 4, v + i, 4);
          ++taken;
        }
      }
    }
    seal_packet(p);
  }

  void decode_into(const comm::Bytes& packet, at::Tensor& out, const EncodeKey& key) const override {
    const int64_t numel = out.numel();
    const Payload pl = open_payload(*this, packet, out, key.rank);
    const int64_t k = kept_count(density_, numel);
    out.zero_();
    if (k == 0) return;
    at::Tensor i32 = at::empty({k}, at::kInt), vals = at::empty({k}, at::kFloat);
    std::memcpy(i32.data_ptr(), pl.data, static_cast<size_t>(k) * 4);
    std::memcpy(vals.data_ptr(), pl.data + k * 4, static_cast<size_t>(k) * 4);
    if (i32.min().item<int>() < 0 || i32.max().item<int>() >= numel) {
      throw PacketError("topk packet from rank " + std::to_string(key.rank) + " holds an index outside [0, " +
                        std::to_string(numel) + ")");
    }
    out.index_copy_(0, i32.to(at::kLong), vals);
  }

 private:
  double density_;
};

}  // namespace

std::unique_ptr<Compressor> make_topk(double density) { return std::make_unique<TopK>(density); }

}  // namespace gossamer::compress::detail
