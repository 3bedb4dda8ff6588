// Random-k: k = round(density * d) coordinates drawn from (seed, step), the same on every rank, so
// only the k values travel (float32) and the receiver redraws the indices; scaled by d/k, which
// makes it unbiased. Packets of one step share their coordinates and could be summed undecoded.
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
  size_t payload_bytes(int64_t numel) const override { return static_cast<size_t>(kept_count(density_, numel)) * 4; }

  comm::Bytes encode(const at::Tensor& x, const EncodeKey& key) const override {
    const at::Tensor flat = flat_input(x, "randk");
    const int64_t n = flat.numel(), k = kept_count(density_, n);
    comm::Bytes p = new_packet(format(), n, payload_bytes(n));
    if (k > 0) {
      const at::Tensor vals = flat.index_select(0, indices(n, k, key.step)).mul_(static_cast<double>(n) / k).contiguous();
      std::memcpy(p.data() + kPacketHeaderBytes, vals.data_ptr(), static_cast<size_t>(k) * 4);
    }
    seal_packet(p);
    return p;
  }

  at::Tensor decode(const comm::Bytes& packet, int64_t numel, const EncodeKey& key) const override {
    const Payload pl = open_packet(packet, format(), numel, key.rank, name());
    const int64_t k = kept_count(density_, numel);
    if (pl.size != payload_bytes(numel)) {
      throw PacketError("randk packet from rank " + std::to_string(key.rank) + " has a payload of the wrong size");
    }
    at::Tensor out = at::zeros({numel}, at::kFloat);
    if (k == 0) return out;
    at::Tensor vals = at::empty({k}, at::kFloat);
    std::memcpy(vals.data_ptr(), pl.data, static_cast<size_t>(k) * 4);
    out.index_copy_(0, indices(numel, k, key.step), vals);
    return out;
  }

 private:
  // The step's coordinates, ascending; every rank draws the same ones.
  at::Tensor indices(int64_t n, int64_t k, int64_t step) const {
    at::Generator g = generator_for(seed_, step);
    return std::get<0>(at::randperm(n, g, at::kLong).narrow(0, 0, k).sort());
  }

  double density_;
  uint64_t seed_;
};

}  // namespace

std::unique_ptr<Compressor> make_randk(double density, uint64_t seed) { return std::make_unique<RandK>(density, seed); }

}  // namespace gossamer::compress::detail
