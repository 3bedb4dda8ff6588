// Random-k, stratified: the d coordinates are split into k consecutive blocks (block j covers
// [floor(j d / k), floor((j + 1) d / k))) and one coordinate of each block is drawn from
// (seed, step), the same on every rank, so only the k values travel (float32) and the receiver
// redraws the coordinates. A value is scaled by its block's length: coordinate i is sent with
// probability 1/len, so the decode is unbiased. Differs from the usual uniform draw of k of the d
// coordinates (which has the same marginal probability k/d when k divides d) in that two chosen
// coordinates are never in the same block: drawing a uniform k-subset of 25M coordinates
// (randperm) cost 2 s per message here, the stratified draw O(k). Packets of one step share their
// coordinates, so they are summed undecoded (summable(): averages allreduce the k values).
#include <cstring>

#include "methods.h"

namespace gossamer::compress::detail {
namespace {

class RandK final : public Compressor {
 public:
  RandK(double density, uint64_t seed) : density_(density), seed_(seed) {}
  std::string name() const override { return "randk"; }
  uint8_t format() const override { return kRandk; }
  bool unbiased() const override { return true; }
  bool summable() const override { return true; }
  double variance_factor(int64_t numel) const override {
    const int64_t k = kept_count(density_, numel);
    return k > 0 ? static_cast<double>((numel + k - 1) / k) : 0.0;
  }
  size_t payload_bytes(int64_t numel) const override { return static_cast<size_t>(kept_count(density_, numel)) * 4; }

  void encode_into(const at::Tensor& x, const EncodeKey& key, comm::Bytes& p) const override {
    const at::Tensor flat = flat_input(x, "randk");
    const int64_t n = flat.numel(), k = kept_count(density_, n);
    start_packet(p, format(), n, payload_bytes(n));
    const float* v = flat.data_ptr<float>();
    float* out = reinterpret_cast<float*>(scratch_bytes(static_cast<size_t>(k) * 4));
    FastRng rng(stream_seed(seed_, key.step));
    for (int64_t j = 0; j < k; ++j) {
      const int64_t begin = j * n / k, len = (j + 1) * n / k - begin;
      out[j] = v[begin + static_cast<int64_t>(rng.next() % static_cast<uint64_t>(len))] * static_cast<float>(len);
    }
    if (k > 0) std::memcpy(p.data() + kPacketHeaderBytes, out, static_cast<size_t>(k) * 4);
    seal_packet(p);
  }

  void decode_into(const comm::Bytes& packet, at::Tensor& out, const EncodeKey& key) const override {
    const int64_t numel = out.numel();
    const Payload pl = open_payload(*this, packet, out, key.rank);
    const int64_t k = kept_count(density_, numel);
    out.zero_();
    float* y = out.data_ptr<float>();
    FastRng rng(stream_seed(seed_, key.step));
    for (int64_t j = 0; j < k; ++j) {
      const int64_t begin = j * numel / k, len = (j + 1) * numel / k - begin;
      float value;
      std::memcpy(&value, pl.data + j * 4, 4);
      y[begin + static_cast<int64_t>(rng.next() % static_cast<uint64_t>(len))] = value;
    }
  }

 private:
  double density_;
  uint64_t seed_;
};

}  // namespace

std::unique_ptr<Compressor> make_randk(double density, uint64_t seed) { return std::make_unique<RandK>(density, seed); }

}  // namespace gossamer::compress::detail
