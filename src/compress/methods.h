// The compressors behind make_compressor (internal): one factory per method, one file each.
#pragma once

#include <ATen/ATen.h>

#include <memory>

#include "gossamer/compress/compressor.h"
#include "gossamer/compress/packet.h"

namespace gossamer::compress::detail {

std::unique_ptr<Compressor> make_half(bool bf16);
std::unique_ptr<Compressor> make_sign();
std::unique_ptr<Compressor> make_topk(double density);
std::unique_ptr<Compressor> make_randk(double density, uint64_t seed);
std::unique_ptr<Compressor> make_qsgd(int64_t levels, int64_t bucket, uint64_t seed);
std::unique_ptr<Compressor> make_terngrad(uint64_t seed);
// ALQ (multiplicative = false) or AMQ: `levels` magnitude levels above 0.
std::unique_ptr<Compressor> make_adaptive_quantizer(bool multiplicative, int64_t levels, int64_t bucket, uint64_t seed);

// Format bytes (packet.h); never reuse a number for another method.
enum Format : uint8_t { kFp16 = 1, kBf16 = 2, kSign = 3, kTopk = 4, kRandk = 5, kQsgd = 6, kTerngrad = 7, kAlq = 8, kAmq = 9, kLayerwise = 10 };

// The start of every decode_into: `out` must be a contiguous float32 tensor (its numel is the
// element count expected), the packet must pass open_packet and carry exactly payload_bytes.
Payload open_payload(const Compressor& c, const comm::Bytes& packet, const at::Tensor& out, int sender);
// The flat float32 view of an input, checked.
at::Tensor flat_input(const at::Tensor& x, const char* method);
// k = max(1, round(density * numel)) coordinates (0 for an empty tensor).
int64_t kept_count(double density, int64_t numel);
// A generator for (seed, step) (shared) or (seed, step, rank) (private, rank >= 0).
at::Generator generator_for(uint64_t seed, int64_t step, int rank = -1);

// A seed for the stream of (seed, step) (shared by every rank) or (seed, step, rank) (private).
uint64_t stream_seed(uint64_t seed, int64_t step, int rank = -1);

// splitmix64: a small, fast sequential generator (random-k's index draws). The quantizers use the
// counter-based draws of quantize.h instead, which vectorise and split across threads.
struct FastRng {
  uint64_t state;
  explicit FastRng(uint64_t seed) : state(seed) {}
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1) with 24 random bits.
  float uniform() { return static_cast<float>(next() >> 40) * (1.0f / 16777216.0f); }
};

// The L2 norm of every bucket of `bucket` consecutive coordinates of the flat float32 `flat` into
// norms[0, ceil(n / bucket)) (QSGD, ALQ, AMQ): ATen's vectorised reduction over the full buckets as
// rows, then the rest.
void bucket_norms(const at::Tensor& flat, int64_t bucket, float* norms);

// A per-thread scratch buffer of at least `bytes` (reused: fresh memory is slow to touch here).
uint8_t* scratch_bytes(size_t bytes);

// Fixed-width fields packed into bytes, least significant first (quantize.h packs them).
inline size_t packed_bytes(int64_t count, int width) { return static_cast<size_t>((count * width + 7) / 8); }

}  // namespace gossamer::compress::detail
