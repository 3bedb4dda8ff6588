// The quantizers' per-coordinate loops (quantize.h). This file is compiled once per SIMD target
// (foreach_target.h re-includes it) with that target's instruction set enabled, so the plain loops
// below are vectorised by the compiler for AVX-512, AVX2 and SSE4 alike; HWY_DYNAMIC_DISPATCH picks
// the best one at run time. The loops are written to vectorise: no early exits, 32-bit integer
// hashing, selects instead of branches.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "gossamer/kernels/parallel.h"
#include "quantize.h"

#undef HWY_TARGET_INCLUDE
// Relative to the project's include/ directory, which is on the include path.
#define HWY_TARGET_INCLUDE "../src/compress/quantize_hwy.cpp"
#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SSSE3 | HWY_AVX3_DL)
#endif
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#ifndef GOSSAMER_QUANTIZE_COMMON
#define GOSSAMER_QUANTIZE_COMMON
namespace gossamer::compress::detail {
// A 32-bit integer mixer (Wellons' "lowbias32": two multiply-xorshift rounds, a bijection).
inline uint32_t mix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}
// One mixing round of the index XOR the key: two streams draw, at the same coordinate, the mixer's
// values at two different arguments (what the unbiasedness and the workers' independence need);
// k1 only folds the key's high half into k0 (ChunkKey).
inline uint32_t counter_hash(uint32_t index, uint32_t k0, uint32_t) { return mix32(index ^ k0); }
// The two 32-bit keys of a chunk: the stream key, with the high half of the index folded in so that
// coordinates 2^32 apart draw differently (a chunk never straddles a multiple of 2^32).
inline uint32_t float_bits(float x) {
  uint32_t b;
  std::memcpy(&b, &x, 4);
  return b;
}
struct ChunkKey {
  uint32_t k0, k1;
  ChunkKey(uint64_t key, int64_t first) {
    k0 = static_cast<uint32_t>(key) ^ mix32(static_cast<uint32_t>(key >> 32));
    k1 = 0;
    const uint32_t hi = static_cast<uint32_t>(static_cast<uint64_t>(first) >> 32);
    if (hi != 0) k0 = mix32(k0 ^ hi);
  }
};
}  // namespace gossamer::compress::detail
#endif

HWY_BEFORE_NAMESPACE();
namespace gossamer::compress::detail {
namespace HWY_NAMESPACE {

constexpr float kUnit24 = 1.0f / 16777216.0f;

// fields[0, count) -> packed bytes, `width` bits each, least significant first. `count` is a
// multiple of the fields per byte except at the end of the message, where the caller zero-pads
// `fields` to the next multiple of 8.
void Pack(const uint8_t* HWY_RESTRICT f, int64_t count, int width, uint8_t* HWY_RESTRICT out) {
  if (width == 8) {
    std::memcpy(out, f, static_cast<size_t>(count));
  } else if (width == 4) {
    for (int64_t j = 0; j < (count + 1) / 2; ++j) out[j] = static_cast<uint8_t>(f[2 * j] | f[2 * j + 1] << 4);
  } else if (width == 2) {
    for (int64_t j = 0; j < (count + 3) / 4; ++j) {
      out[j] = static_cast<uint8_t>(f[4 * j] | f[4 * j + 1] << 2 | f[4 * j + 2] << 4 | f[4 * j + 3] << 6);
    }
  } else {
    for (int64_t j = 0; j < (count + 7) / 8; ++j) {
      const uint8_t* g = f + 8 * j;
      out[j] = static_cast<uint8_t>(g[0] | g[1] << 1 | g[2] << 2 | g[3] << 3 | g[4] << 4 | g[5] << 5 | g[6] << 6 |
                                    g[7] << 7);
    }
  }
}

// The inverse of Pack for fields [0, count); writes whole bytes' worth of fields (up to the next
// multiple of 8), so `f` must have room for that.
void Unpack(const uint8_t* HWY_RESTRICT in, int64_t count, int width, uint8_t* HWY_RESTRICT f) {
  if (width == 8) {
    std::memcpy(f, in, static_cast<size_t>(count));
  } else if (width == 4) {
    for (int64_t j = 0; j < (count + 1) / 2; ++j) {
      f[2 * j] = in[j] & 15;
      f[2 * j + 1] = in[j] >> 4;
    }
  } else if (width == 2) {
    for (int64_t j = 0; j < (count + 3) / 4; ++j) {
      f[4 * j] = in[j] & 3;
      f[4 * j + 1] = (in[j] >> 2) & 3;
      f[4 * j + 2] = (in[j] >> 4) & 3;
      f[4 * j + 3] = in[j] >> 6;
    }
  } else {
    for (int64_t j = 0; j < (count + 7) / 8; ++j) {
      for (int b = 0; b < 8; ++b) f[8 * j + b] = (in[j] >> b) & 1;
    }
  }
}

// Zero the fields after `count` up to the next multiple of 8 (the padding bits of the last byte).
inline void PadFields(uint8_t* f, int64_t count) {
  for (int64_t j = count; j < ((count + 7) & ~int64_t{7}); ++j) f[j] = 0;
}

// Calls f(first, last, b) for the pieces of [i0, i1) that lie in one bucket b of `bucket`
// coordinates each, in order.
template <typename F>
inline void ForBucketPieces(int64_t i0, int64_t i1, int64_t bucket, const F& f) {
  for (int64_t s0 = i0; s0 < i1;) {
    const int64_t b = s0 / bucket;
    const int64_t s1 = std::min(i1, (b + 1) * bucket);
    f(s0, s1, b);
    s0 = s1;
  }
}

void UniformChunk(const float* HWY_RESTRICT v, int64_t i0, int64_t i1, int64_t bucket, const float* scales,
                  float top, int width, uint64_t key, uint8_t* packed) {
  alignas(64) uint8_t fields[kQuantizeChunk + 8];
  const ChunkKey ck(key, i0);
  const uint32_t sign_shift = static_cast<uint32_t>(width - 1);
  ForBucketPieces(i0, i1, bucket, [&](int64_t s0, int64_t s1, int64_t b) {
    const float scale = scales[b];
    const uint32_t base = static_cast<uint32_t>(s0);
    const float* HWY_RESTRICT x = v + s0;
    uint8_t* HWY_RESTRICT out = fields + (s0 - i0);
    for (int64_t j = 0; j < s1 - s0; ++j) {
      float a = std::fabs(x[j]) * scale;
      a = a <= top ? a : top;  // also maps NaN to the top level
      const float low = static_cast<float>(static_cast<int32_t>(a));
      const uint32_t h = counter_hash(base + static_cast<uint32_t>(j), ck.k0, ck.k1);
      const float u = static_cast<float>(static_cast<int32_t>(h >> 8)) * kUnit24;
      // Integer forms of the round-up and of the sign (the float sign bit): selects written as
      // ternaries here keep GCC from vectorising the loop for AVX2 and SSE4.
      const int32_t level = static_cast<int32_t>(low) + (u < a - low);
      out[j] = static_cast<uint8_t>(level | static_cast<int32_t>((float_bits(x[j]) >> 31) << sign_shift));
    }
  });
  PadFields(fields, i1 - i0);
  Pack(fields, i1 - i0, width, packed + i0 * width / 8);
}

int UniformDecodeChunk(const uint8_t* packed, int64_t i0, int64_t i1, int64_t bucket, const float* units, int width,
                       float* HWY_RESTRICT y) {
  alignas(64) uint8_t fields[kQuantizeChunk + 8];
  Unpack(packed + i0 * width / 8, i1 - i0, width, fields);
  const uint8_t sign = static_cast<uint8_t>(1u << (width - 1));
  const uint8_t mask = static_cast<uint8_t>(sign - 1);
  uint8_t top = 0;
  ForBucketPieces(i0, i1, bucket, [&](int64_t s0, int64_t s1, int64_t b) {
    const float unit = units[b];
    const uint8_t* HWY_RESTRICT f = fields + (s0 - i0);
    float* HWY_RESTRICT out = y + s0;
    for (int64_t j = 0; j < s1 - s0; ++j) {
      const uint8_t level = f[j] & mask;
      top = level > top ? level : top;
      const float m = unit * static_cast<float>(level);
      out[j] = (f[j] & sign) ? -m : m;
    }
  });
  return top;
}

void TableChunk(const float* HWY_RESTRICT v, int64_t i0, int64_t i1, int64_t bucket, const float* scales,
                const float* levels, const uint8_t* lut, int grid, int top, int width, uint64_t key,
                uint8_t* packed) {
  alignas(64) uint8_t fields[kQuantizeChunk + 8];
  const ChunkKey ck(key, i0);
  const uint8_t sign = static_cast<uint8_t>(1u << (width - 1));
  ForBucketPieces(i0, i1, bucket, [&](int64_t s0, int64_t s1, int64_t b) {
    const float scale = scales[b];
    for (int64_t i = s0; i < s1; ++i) {
      float a = std::fabs(v[i]) * scale;
      a = a <= 1.0f ? a : 1.0f;
      // The grid cell gives the last level at or below the cell's start; step over the few levels
      // inside the cell.
      int j = lut[std::min(grid - 1, static_cast<int>(a * static_cast<float>(grid)))];
      while (j < top && levels[j + 1] <= a) ++j;
      const int up = j < top ? j + 1 : top;
      const float gap = levels[up] - levels[j];
      const float p = gap > 0.0f ? (a - levels[j]) / gap : 0.0f;
      const uint32_t h = counter_hash(static_cast<uint32_t>(i), ck.k0, ck.k1);
      const float u = static_cast<float>(static_cast<int32_t>(h >> 8)) * kUnit24;
      const int index = u < p ? up : j;
      fields[i - i0] = static_cast<uint8_t>(index | (v[i] < 0.0f ? sign : 0));
    }
  });
  PadFields(fields, i1 - i0);
  Pack(fields, i1 - i0, width, packed + i0 * width / 8);
}

int TableDecodeChunk(const uint8_t* packed, int64_t i0, int64_t i1, int64_t bucket, const float* norms,
                     const float* levels, int top, int width, float* HWY_RESTRICT y) {
  alignas(64) uint8_t fields[kQuantizeChunk + 8];
  Unpack(packed + i0 * width / 8, i1 - i0, width, fields);
  const uint8_t sign = static_cast<uint8_t>(1u << (width - 1));
  const uint8_t mask = static_cast<uint8_t>(sign - 1);
  int seen = 0;
  ForBucketPieces(i0, i1, bucket, [&](int64_t s0, int64_t s1, int64_t b) {
    const float norm = norms[b];
    for (int64_t i = s0; i < s1; ++i) {
      const int index = fields[i - i0] & mask;
      seen = std::max(seen, index);
      const float m = norm * levels[std::min(index, top)];
      y[i] = (fields[i - i0] & sign) ? -m : m;
    }
  });
  return seen;
}

void TernaryChunk(const float* HWY_RESTRICT v, int64_t i0, int64_t i1, float s, uint64_t key, uint8_t* packed) {
  alignas(64) uint8_t fields[kQuantizeChunk + 8];
  const ChunkKey ck(key, i0);
  const uint32_t base = static_cast<uint32_t>(i0);
  const float* HWY_RESTRICT x = v + i0;
  for (int64_t j = 0; j < i1 - i0; ++j) {
    const uint32_t h = counter_hash(base + static_cast<uint32_t>(j), ck.k0, ck.k1);
    const float u = static_cast<float>(static_cast<int32_t>(h >> 8)) * kUnit24;
    // Code 1 << (sign bit) when kept, else 0: integer forms that GCC vectorises (see UniformChunk).
    const int32_t keep = u * s < std::fabs(x[j]);
    fields[j] = static_cast<uint8_t>(keep << (float_bits(x[j]) >> 31));
  }
  PadFields(fields, i1 - i0);
  Pack(fields, i1 - i0, 2, packed + i0 / 4);
}

int TernaryDecodeChunk(const uint8_t* packed, int64_t i0, int64_t i1, float s, float* HWY_RESTRICT y) {
  alignas(64) uint8_t fields[kQuantizeChunk + 8];
  Unpack(packed + i0 / 4, i1 - i0, 2, fields);
  uint8_t top = 0;
  float* HWY_RESTRICT out = y + i0;
  for (int64_t j = 0; j < i1 - i0; ++j) {
    const uint8_t c = fields[j];
    top = c > top ? c : top;
    // 0 -> 0, 1 -> +s, 2 -> -s (3 is rejected by the caller from `top`).
    out[j] = s * static_cast<float>(static_cast<int32_t>(c & 1) - static_cast<int32_t>(c >> 1));
  }
  return top;
}

}  // namespace HWY_NAMESPACE
}  // namespace gossamer::compress::detail
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace gossamer::compress::detail {

HWY_EXPORT(UniformChunk);
HWY_EXPORT(UniformDecodeChunk);
HWY_EXPORT(TableChunk);
HWY_EXPORT(TableDecodeChunk);
HWY_EXPORT(TernaryChunk);
HWY_EXPORT(TernaryDecodeChunk);

namespace {

// Runs f(first, last) over the chunks of [0, n) on ATen's threads (inline for one chunk).
template <typename F>
void for_chunks(int64_t n, const F& f) {
  const int64_t chunks = (n + kQuantizeChunk - 1) / kQuantizeChunk;
  kernels::parallel_ranges(chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) f(c * kQuantizeChunk, std::min(n, (c + 1) * kQuantizeChunk));
  });
}

// The largest of f(first, last) over the chunks.
template <typename F>
int max_over_chunks(int64_t n, const F& f) {
  const int64_t chunks = (n + kQuantizeChunk - 1) / kQuantizeChunk;
  std::vector<int> seen(static_cast<size_t>(std::max<int64_t>(chunks, 1)), 0);
  for_chunks(n, [&](int64_t i0, int64_t i1) { seen[static_cast<size_t>(i0 / kQuantizeChunk)] = f(i0, i1); });
  return *std::max_element(seen.begin(), seen.end());
}

}  // namespace

void quantize_uniform(const float* v, int64_t n, int64_t bucket, const float* scales, float top, int width,
                      uint64_t key, uint8_t* packed) {
  for_chunks(n, [&](int64_t i0, int64_t i1) {
    HWY_DYNAMIC_DISPATCH(UniformChunk)(v, i0, i1, bucket, scales, top, width, key, packed);
  });
}

int decode_uniform(const uint8_t* packed, int64_t n, int64_t bucket, const float* units, int width, float* y) {
  return max_over_chunks(n, [&](int64_t i0, int64_t i1) {
    return HWY_DYNAMIC_DISPATCH(UniformDecodeChunk)(packed, i0, i1, bucket, units, width, y);
  });
}

void quantize_table(const float* v, int64_t n, int64_t bucket, const float* scales, const float* levels, int top,
                    int width, uint64_t key, uint8_t* packed) {
  // lut[c] = the last level index at or below c / grid.
  constexpr int kGrid = 1024;
  uint8_t lut[kGrid];
  int j = 0;
  for (int c = 0; c < kGrid; ++c) {
    const float start = static_cast<float>(c) / kGrid;
    while (j < top && levels[j + 1] <= start) ++j;
    lut[c] = static_cast<uint8_t>(j);
  }
  for_chunks(n, [&](int64_t i0, int64_t i1) {
    HWY_DYNAMIC_DISPATCH(TableChunk)(v, i0, i1, bucket, scales, levels, lut, kGrid, top, width, key, packed);
  });
}

int decode_table(const uint8_t* packed, int64_t n, int64_t bucket, const float* norms, const float* levels, int top,
                 int width, float* y) {
  return max_over_chunks(n, [&](int64_t i0, int64_t i1) {
    return HWY_DYNAMIC_DISPATCH(TableDecodeChunk)(packed, i0, i1, bucket, norms, levels, top, width, y);
  });
}

void quantize_ternary(const float* v, int64_t n, float s, uint64_t key, uint8_t* packed) {
  for_chunks(n, [&](int64_t i0, int64_t i1) { HWY_DYNAMIC_DISPATCH(TernaryChunk)(v, i0, i1, s, key, packed); });
}

int decode_ternary(const uint8_t* packed, int64_t n, float s, float* y) {
  return max_over_chunks(n, [&](int64_t i0, int64_t i1) {
    return HWY_DYNAMIC_DISPATCH(TernaryDecodeChunk)(packed, i0, i1, s, y);
  });
}

}  // namespace gossamer::compress::detail
#endif  // HWY_ONCE
