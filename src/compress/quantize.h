// The per-coordinate loops of the quantizing compressors (QSGD, TernGrad, ALQ/AMQ) and the
// fixed-width field packing they share (internal). quantize_hwy.cpp compiles the loops once per SIMD
// target and dispatches at run time; the drivers here split a message into chunks for ATen's
// threads.
//
// Random draws are counter-based: the uniform of coordinate i is a hash of (stream key, i), so a
// packet does not depend on how many threads encoded it or in which order, and any chunk can be
// encoded on its own.
#pragma once

#include <cstdint>

namespace gossamer::compress::detail {

// Coordinates per chunk of the threaded drivers: a multiple of 8 (every chunk starts on a byte of
// packed fields) and small enough that a chunk's fields stay in L1.
constexpr int64_t kQuantizeChunk = 16384;

// Unbiased stochastic rounding to uniform levels (QSGD): coordinate i of bucket b gets level
// l = floor(a) or floor(a) + 1 with P(l = floor(a) + 1) = a - floor(a), a = |v_i| * scale_b, clamped
// to `top`; field = l | (sign_bit if v_i < 0). Writes `width`-bit fields packed LSB first.
void quantize_uniform(const float* v, int64_t n, int64_t bucket, const float* scales, float top, int width,
                      uint64_t key, uint8_t* packed);
// The inverse: y_i = ±unit_b * l. Returns the largest level seen (the caller rejects l > top).
int decode_uniform(const uint8_t* packed, int64_t n, int64_t bucket, const float* units, int width, float* y);

// Stochastic rounding of a = |v_i| * scale_b in [0, 1] to the neighbouring entries of an increasing
// table levels[0] = 0 < ... < levels[top] = 1 (ALQ, AMQ), unbiased between the two neighbours;
// field = index | sign bit. `levels` has top + 1 entries.
void quantize_table(const float* v, int64_t n, int64_t bucket, const float* scales, const float* levels, int top,
                    int width, uint64_t key, uint8_t* packed);
// y_i = ±norm_b * levels[index]. Returns the largest index seen.
int decode_table(const uint8_t* packed, int64_t n, int64_t bucket, const float* norms, const float* levels, int top,
                 int width, float* y);

// TernGrad: code 1 (+s) or 2 (-s) with probability |v_i| / s, else 0; 2-bit fields.
void quantize_ternary(const float* v, int64_t n, float s, uint64_t key, uint8_t* packed);
// y_i = 0, +s or -s. Returns the largest code seen (3 is invalid).
int decode_ternary(const uint8_t* packed, int64_t n, float s, float* y);

}  // namespace gossamer::compress::detail
