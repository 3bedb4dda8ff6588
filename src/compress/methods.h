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

// Format bytes (packet.h); never reuse a number for another method.
enum Format : uint8_t { kFp16 = 1, kBf16 = 2, kSign = 3, kTopk = 4, kRandk = 5, kQsgd = 6, kTerngrad = 7 };

// The flat float32 view of an input, checked.
at::Tensor flat_input(const at::Tensor& x, const char* method);
// k = max(1, round(density * numel)) coordinates (0 for an empty tensor).
int64_t kept_count(double density, int64_t numel);
// A generator for (seed, step) (shared) or (seed, step, rank) (private, rank >= 0).
at::Generator generator_for(uint64_t seed, int64_t step, int rank = -1);

// Fixed-width fields (width 1, 2, 4 or 8 bits) packed into bytes: field i occupies bits
// [i*w, (i+1)*w), least significant first.
void pack_fields(const uint8_t* values, int64_t count, int width, uint8_t* out);
void unpack_fields(const uint8_t* in, int64_t count, int width, uint8_t* values);
inline size_t packed_bytes(int64_t count, int width) { return static_cast<size_t>((count * width + 7) / 8); }

}  // namespace gossamer::compress::detail
