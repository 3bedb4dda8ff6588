// Highway implementation of the raw sparse kernels (raw.h). This file is compiled once per SIMD
// target (foreach_target.h re-includes it); HWY_DYNAMIC_DISPATCH picks the best one at run time.
//
// Design (see docs/kernels.md): the activations are packed into panels [k][width] so that every
// sparse entry becomes `width / lanes` contiguous vector FMAs over the batch. Rows are processed
// with U independent accumulator sets so that the FMA latency chain does not limit throughput.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "gossamer/kernels/raw.h"

#undef HWY_TARGET_INCLUDE
// Relative to the project's include/ directory, which is on the include path.
#define HWY_TARGET_INCLUDE "../src/kernels/raw_hwy.cpp"
// Fewer targets, shorter builds: AVX-512, AVX2, SSE4 and the portable fallback are enough.
#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SSSE3 | HWY_AVX3_DL)
#endif
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/aligned_allocator.h>
#include <hwy/cache_control.h>
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace gossamer::kernels::raw {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using D = hn::ScalableTag<float>;
using V = hn::Vec<D>;

int64_t LanesImpl() { return static_cast<int64_t>(hn::Lanes(D())); }

void PackPanelsImpl(const float* HWY_RESTRICT a, int64_t batch, int64_t k, int64_t lda,
                    int64_t width, float* HWY_RESTRICT panels, int64_t p0, int64_t p1) {
  // Tiles of kTile columns: the reads are contiguous, the writes fill whole panel rows while the
  // tile ([kTile][width] floats, <= 16 KiB) is in L1.
  constexpr int64_t kTile = 64;
  for (int64_t p = p0; p < p1; ++p) {
    float* HWY_RESTRICT out = panels + p * k * width;
    const int64_t b0 = p * width;
    const int64_t nb = std::min(width, batch - b0);
    for (int64_t i0 = 0; i0 < k; i0 += kTile) {
      const int64_t i1 = std::min(k, i0 + kTile);
      for (int64_t t = 0; t < nb; ++t) {
        const float* HWY_RESTRICT src = a + (b0 + t) * lda;
        for (int64_t i = i0; i < i1; ++i) out[i * width + t] = src[i];
      }
      for (int64_t t = nb; t < width; ++t) {
        for (int64_t i = i0; i < i1; ++i) out[i * width + t] = 0.0f;
      }
    }
  }
}

// Stores the accumulators of one sparse row (width = NV vectors) at y[(b0 + t) * ldb + r * ldr]
// for t < nb: column r of a row-major [batch, rows] y (ldr = 1), or row r of a [rows, batch] y
// (ldb = 1, whole vectors when the panel is full).
template <size_t NV>
HWY_INLINE void StoreColumn(const V* acc, float bias, int64_t nb, float* HWY_RESTRICT y,
                            int64_t ldb, int64_t ldr, int64_t b0, int64_t r) {
  const D d;
  const size_t L = hn::Lanes(d);
  if (ldb == 1 && nb == static_cast<int64_t>(NV * L)) {
    const V vb = hn::Set(d, bias);
    for (size_t j = 0; j < NV; ++j) hn::StoreU(hn::Add(acc[j], vb), d, y + r * ldr + b0 + j * L);
    return;
  }
  HWY_ALIGN float buf[NV * hn::MaxLanes(D())];
  for (size_t j = 0; j < NV; ++j) hn::Store(acc[j], d, buf + j * L);
  for (int64_t t = 0; t < nb; ++t) y[(b0 + t) * ldb + r * ldr] = buf[t] + bias;
}

// CSR gather product; NV vectors per panel row, U independent accumulator sets (NV * U >= 4).
// Entry k of a row reads the `width` floats at P + col[k] * cscale, where P = a + p * pstride for
// block p of `width` batch columns: panels (cscale = width, pstride = k_dim * width) or, for the
// direct convolution, a flat array and element offsets (cscale = 1, pstride = width). Loads are
// unaligned (as fast as aligned ones on aligned data).
// One CSR row against one block of `width` batch columns: out[j] = sum_k vals[k] * P[col[k] * cscale + j·L].
template <size_t NV, size_t U>
HWY_INLINE void CsrRowBlock(const int32_t* HWY_RESTRICT col, const float* HWY_RESTRICT vals, int64_t k,
                            int64_t e, const float* HWY_RESTRICT P, int64_t cscale, V* out) {
  const D d;
  const size_t L = hn::Lanes(d);
  V acc[U][NV];
  for (size_t u = 0; u < U; ++u)
    for (size_t j = 0; j < NV; ++j) acc[u][j] = hn::Zero(d);
  for (; k + static_cast<int64_t>(U) <= e; k += U) {
    for (size_t u = 0; u < U; ++u) {
      const float* HWY_RESTRICT x = P + static_cast<int64_t>(col[k + u]) * cscale;
      const V v = hn::Set(d, vals[k + u]);
      for (size_t j = 0; j < NV; ++j) acc[u][j] = hn::MulAdd(v, hn::LoadU(d, x + j * L), acc[u][j]);
    }
  }
  for (; k < e; ++k) {
    const float* HWY_RESTRICT x = P + static_cast<int64_t>(col[k]) * cscale;
    const V v = hn::Set(d, vals[k]);
    for (size_t j = 0; j < NV; ++j) acc[0][j] = hn::MulAdd(v, hn::LoadU(d, x + j * L), acc[0][j]);
  }
  for (size_t j = 0; j < NV; ++j) {
    out[j] = acc[0][j];
    for (size_t u = 1; u < U; ++u) out[j] = hn::Add(out[j], acc[u][j]);
  }
}

// Rows per output tile of the panel form, and the smallest strip of Y (width rows of Y) for which
// the tile is used (below).
constexpr int64_t kCsrTileRows = 16;
constexpr int64_t kCsrTileMinStripBytes = 256 * 1024;

template <size_t NV, size_t U>
void CsrSpmmT(const int32_t* HWY_RESTRICT row_ptr, const int32_t* HWY_RESTRICT col,
              const float* HWY_RESTRICT vals, int64_t r0, int64_t r1,
              const float* HWY_RESTRICT a, int64_t batch, int64_t cscale, int64_t pstride,
              const float* bias, float* HWY_RESTRICT y, int64_t ldb, int64_t ldr) {
  const D d;
  const size_t L = hn::Lanes(d);
  const int64_t width = static_cast<int64_t>(NV * L);
  const int64_t n_panels = (batch + width - 1) / width;
  V acc[NV];
  if (ldr == 1 && width * ldb * static_cast<int64_t>(sizeof(float)) > kCsrTileMinStripBytes) {
    // Panel form, Y[b, r]: a row's results are a column of Y, one float in each of `width` rows of
    // Y. When those rows do not stay in cache, writing them one by one costs as much as the
    // products at 95% sparsity on 4096x4096 (1.5 of 5.4 ms at batch 256), so the results of
    // kCsrTileRows consecutive rows are collected in an L1 tile [width][kCsrTileRows] and written
    // as contiguous runs of Y's rows. With a narrow Y (LeNet's layers, 300x784) the strip stays in
    // L2 and the tile only adds copies (measured 5-17% slower there), so it is not used.
    HWY_ALIGN float tile[NV * hn::MaxLanes(D()) * kCsrTileRows];
    HWY_ALIGN float buf[NV * hn::MaxLanes(D())];
    for (int64_t p = 0; p < n_panels; ++p) {
      const float* HWY_RESTRICT P = a + p * pstride;
      const int64_t b0 = p * width;
      const int64_t nb = std::min(width, batch - b0);
      for (int64_t rb = r0; rb < r1; rb += kCsrTileRows) {
        const int64_t cnt = std::min(kCsrTileRows, r1 - rb);
        for (int64_t c = 0; c < cnt; ++c) {
          CsrRowBlock<NV, U>(col, vals, row_ptr[rb + c], row_ptr[rb + c + 1], P, cscale, acc);
          for (size_t j = 0; j < NV; ++j) hn::Store(acc[j], d, buf + j * L);
          for (int64_t t = 0; t < nb; ++t) tile[t * kCsrTileRows + c] = buf[t];
        }
        for (int64_t t = 0; t < nb; ++t) {
          float* HWY_RESTRICT dst = y + (b0 + t) * ldb + rb;
          const float* HWY_RESTRICT src = tile + t * kCsrTileRows;
          if (bias) {
            for (int64_t c = 0; c < cnt; ++c) dst[c] = src[c] + bias[rb + c];
          } else {
            for (int64_t c = 0; c < cnt; ++c) dst[c] = src[c];
          }
        }
      }
    }
    return;
  }
  for (int64_t p = 0; p < n_panels; ++p) {
    const float* HWY_RESTRICT P = a + p * pstride;
    const int64_t b0 = p * width;
    const int64_t nb = std::min(width, batch - b0);
    for (int64_t r = r0; r < r1; ++r) {
      CsrRowBlock<NV, U>(col, vals, row_ptr[r], row_ptr[r + 1], P, cscale, acc);
      StoreColumn<NV>(acc, bias ? bias[r] : 0.0f, nb, y, ldb, ldr, b0, r);
    }
  }
}

// N:M gather product, blocked for the caches. Every row has the same number of slots, and slot s
// of any row lies in group s / n, so rows run in lockstep:
//   - register tile: R rows x PP panels x NV vectors of accumulators; one broadcast of a value
//     feeds PP * NV FMAs, and R * PP * NV >= 8 independent chains hide the FMA latency;
//   - k blocks: the panel rows of a block of groups (PP panels, <= kNmBlockBytes) stay in L1
//     while all rows of a row block (kNmRowBlock) read them, instead of every row streaming a
//     whole panel (k_dim x width floats, 512 KiB for k = 4096) from L2 again;
//   - several panels per pass (PP): the weights are streamed from memory once per PP panels, and
//     the next k block's weights of a row are prefetched (rows are `slots` apart, too far for the
//     hardware prefetchers; measured: 13% on 4096x4096).
// Partial sums between k blocks live in a scratch tile [kNmRowBlock][PP * NV * lanes]; with a
// single k block (small layers) the tile goes straight to y.
// Measured on Zen 5 (docs/kernels.md): with the panel rows in L1 the loop runs at ~1 FMA per cycle,
// not 2: the panel loads have data-dependent addresses (the uint8 index), which this core issues
// more slowly than loads at fixed offsets (a stand-alone loop: 3.8 vs 5.0 G FMA/s).
constexpr int64_t kNmBlockBytes = 24 * 1024;  // panel rows of one k block (L1d: 48 KiB)
constexpr int64_t kNmRowBlock = 256;          // rows sharing one pass over the k blocks

// acc[rr] += sum over the slots of groups [g0, g1) of rows r .. r+R-1 (id, vv at row r; rows
// `slots` apart) times the panel rows; P[q] is panel q's first row.
template <size_t NV, size_t PP, size_t R, int64_t NF>
HWY_INLINE void NmTile(const uint8_t* HWY_RESTRICT id, const float* HWY_RESTRICT vv, int64_t slots,
                       int64_t n_rt, int64_t m, int64_t g0, int64_t g1, const float* const* P,
                       int64_t width, V (*acc)[PP * NV]) {
  const D d;
  const size_t L = hn::Lanes(d);
  const int64_t n = NF > 0 ? NF : n_rt;
  const float* HWY_RESTRICT P0 = P[0];
  for (int64_t g = g0; g < g1; ++g) {
    const int64_t goff = g * m * width;
    const int64_t s0 = g * n;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t s = s0 + i;
      for (size_t rr = 0; rr < R; ++rr) {
        const int64_t off = goff + static_cast<int64_t>(id[rr * slots + s]) * width;
        const V v = hn::Set(d, vv[rr * slots + s]);
        for (size_t q = 0; q < PP; ++q) {
          const float* HWY_RESTRICT x = (q == 0 ? P0 : P[q]) + off;
          for (size_t j = 0; j < NV; ++j)
            acc[rr][q * NV + j] = hn::MulAdd(v, hn::Load(d, x + j * L), acc[rr][q * NV + j]);
        }
      }
    }
  }
}

// Rows r .. r+R-1, groups [g0, g1) of panels p .. p+PP-1: start from zero (first k block) or the
// partial sums in sc ([R][PP * NV * lanes]), accumulate, then store to y with the bias (last k
// block) or back to sc.
template <size_t NV, size_t PP, size_t R, int64_t NF>
HWY_INLINE void NmRowTile(const uint8_t* HWY_RESTRICT idx, const float* HWY_RESTRICT vals, int64_t n,
                          int64_t m, int64_t slots, int64_t groups, int64_t r, int64_t g0, int64_t g1,
                          const float* const* P, int64_t p, int64_t batch, const float* bias,
                          float* HWY_RESTRICT y, int64_t ldy, float* HWY_RESTRICT sc) {
  const D d;
  const size_t L = hn::Lanes(d);
  constexpr size_t T = PP * NV;
  const int64_t width = static_cast<int64_t>(NV * L);
  V acc[R][T];
  if (g0 == 0) {
    for (size_t rr = 0; rr < R; ++rr)
      for (size_t j = 0; j < T; ++j) acc[rr][j] = hn::Zero(d);
  } else {
    for (size_t rr = 0; rr < R; ++rr)
      for (size_t j = 0; j < T; ++j) acc[rr][j] = hn::Load(d, sc + (rr * T + j) * L);
  }
  if (g1 < groups) {
    // The rows' weights for the next k block: read again only after the whole row block, by then
    // evicted, and rows are too far apart for the hardware prefetchers.
    const int64_t nn = NF > 0 ? NF : n;
    const int64_t s1 = g1 * nn, s2 = std::min(groups, g1 + (g1 - g0)) * nn;
    for (size_t rr = 0; rr < R; ++rr) {
      const int64_t base = (r + static_cast<int64_t>(rr)) * slots;
      for (int64_t s = s1; s < s2; s += 16) hwy::Prefetch(vals + base + s);
      for (int64_t s = s1; s < s2; s += 64) hwy::Prefetch(idx + base + s);
    }
  }
  NmTile<NV, PP, R, NF>(idx + r * slots, vals + r * slots, slots, n, m, g0, g1, P, width, acc);
  if (g1 == groups) {
    for (size_t rr = 0; rr < R; ++rr) {
      const int64_t row = r + static_cast<int64_t>(rr);
      const float b = bias ? bias[row] : 0.0f;
      for (size_t q = 0; q < PP; ++q) {
        const int64_t b0 = (p + static_cast<int64_t>(q)) * width;
        const int64_t nb = std::min(width, batch - b0);
        StoreColumn<NV>(acc[rr] + q * NV, b, nb, y, ldy, 1, b0, row);
      }
    }
  } else {
    for (size_t rr = 0; rr < R; ++rr)
      for (size_t j = 0; j < T; ++j) hn::Store(acc[rr][j], d, sc + (rr * T + j) * L);
  }
}

// Rows [r0, r1) x panels p .. p+PP-1 (all of the batch columns b0 .. b0 + PP * width).
template <size_t NV, size_t PP, int64_t NF>
void NmPanelGroup(const uint8_t* HWY_RESTRICT idx, const float* HWY_RESTRICT vals, int64_t n,
                  int64_t m, int64_t slots, int64_t groups, int64_t r0, int64_t r1,
                  const float* HWY_RESTRICT panels, int64_t p, int64_t batch, int64_t k_dim,
                  const float* bias, float* HWY_RESTRICT y, int64_t ldy,
                  float* HWY_RESTRICT scratch) {
  const D d;
  const size_t L = hn::Lanes(d);
  constexpr size_t T = PP * NV;
  constexpr size_t R = T >= 8 ? 1 : 8 / T;
  const int64_t width = static_cast<int64_t>(NV * L);
  const float* P[PP];
  for (size_t q = 0; q < PP; ++q) P[q] = panels + (p + static_cast<int64_t>(q)) * k_dim * width;
  const int64_t kb_groups = std::max<int64_t>(1, kNmBlockBytes / (m * width * static_cast<int64_t>(PP) * 4));
  const bool single = kb_groups >= groups;
  const int64_t row_block = single ? (r1 - r0) : kNmRowBlock;

  for (int64_t rb0 = r0; rb0 < r1; rb0 += row_block) {
    const int64_t rb1 = std::min(r1, rb0 + row_block);
    for (int64_t g0 = 0; g0 < groups; g0 += kb_groups) {
      const int64_t g1 = std::min(groups, g0 + kb_groups);
      int64_t r = rb0;
      for (; r + static_cast<int64_t>(R) <= rb1; r += R)
        NmRowTile<NV, PP, R, NF>(idx, vals, n, m, slots, groups, r, g0, g1, P, p, batch, bias, y, ldy,
                                 single ? nullptr : scratch + (r - rb0) * static_cast<int64_t>(T * L));
      for (; r < rb1; ++r)
        NmRowTile<NV, PP, 1, NF>(idx, vals, n, m, slots, groups, r, g0, g1, P, p, batch, bias, y, ldy,
                                 single ? nullptr : scratch + (r - rb0) * static_cast<int64_t>(T * L));
    }
  }
}

// Panels are taken PP at a time (PP * NV <= 4 vectors), the remainder by halves.
template <size_t NV, int64_t NF>
void NmSpmmT(const uint8_t* HWY_RESTRICT idx, const float* HWY_RESTRICT vals, int64_t n, int64_t m,
             int64_t slots, int64_t r0, int64_t r1, const float* HWY_RESTRICT panels, int64_t batch,
             int64_t k_dim, const float* bias, float* HWY_RESTRICT y, int64_t ldy) {
  const D d;
  const size_t L = hn::Lanes(d);
  const int64_t width = static_cast<int64_t>(NV * L);
  const int64_t n_panels = (batch + width - 1) / width;
  const int64_t groups = n > 0 ? slots / n : 0;
  if (groups == 0) {  // no inputs: y = bias
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t t = 0; t < batch; ++t) y[t * ldy + r] = bias ? bias[r] : 0.0f;
    return;
  }
  constexpr size_t kMaxPP = 4 / NV;
  // Partial sums are kept only when a panel group needs more than one k block.
  hwy::AlignedFreeUniquePtr<float[]> scratch;
  if (groups * m * width * static_cast<int64_t>(kMaxPP) * 4 > kNmBlockBytes)
    scratch = hwy::AllocateAligned<float>(static_cast<size_t>(kNmRowBlock) * kMaxPP * NV * L);
  for (int64_t p = 0; p < n_panels;) {
    const int64_t left = n_panels - p;
    if (kMaxPP >= 4 && left >= 4) {
      NmPanelGroup<NV, (kMaxPP >= 4 ? 4 : 1), NF>(idx, vals, n, m, slots, groups, r0, r1, panels, p, batch, k_dim,
                                                    bias, y, ldy, scratch.get());
      p += 4;
    } else if (kMaxPP >= 2 && left >= 2) {
      NmPanelGroup<NV, (kMaxPP >= 2 ? 2 : 1), NF>(idx, vals, n, m, slots, groups, r0, r1, panels, p, batch, k_dim,
                                                    bias, y, ldy, scratch.get());
      p += 2;
    } else {
      NmPanelGroup<NV, 1, NF>(idx, vals, n, m, slots, groups, r0, r1, panels, p, batch, k_dim, bias, y, ldy,
                              scratch.get());
      p += 1;
    }
  }
}

// Dot product of one panel row of A (at x) with the gradient row held in g (NV vectors).
template <size_t NV>
HWY_INLINE float PanelDot(const V* g, const float* HWY_RESTRICT x) {
  const D d;
  const size_t L = hn::Lanes(d);
  V s = hn::Mul(g[0], hn::Load(d, x));
  for (size_t j = 1; j < NV; ++j) s = hn::MulAdd(g[j], hn::Load(d, x + j * L), s);
  return hn::GetLane(hn::SumOfLanes(d, s));
}

template <size_t NV>
void CsrSddmmT(const int32_t* HWY_RESTRICT row_ptr, const int32_t* HWY_RESTRICT col, int64_t r0,
               int64_t r1, const float* HWY_RESTRICT g_panels, int64_t g_dim,
               const float* HWY_RESTRICT a_panels, int64_t a_dim, int64_t batch,
               float* HWY_RESTRICT out) {
  const D d;
  const size_t L = hn::Lanes(d);
  const int64_t width = static_cast<int64_t>(NV * L);
  const int64_t n_panels = (batch + width - 1) / width;
  for (int64_t p = 0; p < n_panels; ++p) {
    const float* HWY_RESTRICT G = g_panels + p * g_dim * width;
    const float* HWY_RESTRICT A = a_panels + p * a_dim * width;
    for (int64_t r = r0; r < r1; ++r) {
      V g[NV];
      for (size_t j = 0; j < NV; ++j) g[j] = hn::Load(d, G + r * width + j * L);
      const int64_t b = row_ptr[r], e = row_ptr[r + 1];
      if (p == 0) {
        for (int64_t k = b; k < e; ++k) out[k] = PanelDot<NV>(g, A + static_cast<int64_t>(col[k]) * width);
      } else {
        for (int64_t k = b; k < e; ++k) out[k] += PanelDot<NV>(g, A + static_cast<int64_t>(col[k]) * width);
      }
    }
  }
}

// Sampled product in the offset form: out[k] = sum_q g[r * ld_g + q] * a[off[k] + q] over q in
// [0, n) with n a multiple of the vector length. Here a row of G is one long contiguous vector,
// so each entry is a single long dot product with one horizontal sum at the end (the panel form
// needs one per entry and panel, which dominates when panels are short); four entries of a row
// share each load of G.
void CsrSddmmOffsetsImpl(const int32_t* HWY_RESTRICT row_ptr, const int32_t* HWY_RESTRICT off,
                         int64_t r0, int64_t r1, const float* HWY_RESTRICT g, int64_t ld_g,
                         const float* HWY_RESTRICT a, int64_t n, float* HWY_RESTRICT out) {
  const D d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  for (int64_t r = r0; r < r1; ++r) {
    const float* HWY_RESTRICT G = g + r * ld_g;
    int64_t k = row_ptr[r];
    const int64_t e = row_ptr[r + 1];
    for (; k + 4 <= e; k += 4) {
      const float* HWY_RESTRICT a0 = a + off[k];
      const float* HWY_RESTRICT a1 = a + off[k + 1];
      const float* HWY_RESTRICT a2 = a + off[k + 2];
      const float* HWY_RESTRICT a3 = a + off[k + 3];
      V s0 = hn::Zero(d), s1 = hn::Zero(d), s2 = hn::Zero(d), s3 = hn::Zero(d);
      for (int64_t q = 0; q < n; q += L) {
        const V gv = hn::LoadU(d, G + q);
        s0 = hn::MulAdd(gv, hn::LoadU(d, a0 + q), s0);
        s1 = hn::MulAdd(gv, hn::LoadU(d, a1 + q), s1);
        s2 = hn::MulAdd(gv, hn::LoadU(d, a2 + q), s2);
        s3 = hn::MulAdd(gv, hn::LoadU(d, a3 + q), s3);
      }
      out[k] = hn::GetLane(hn::SumOfLanes(d, s0));
      out[k + 1] = hn::GetLane(hn::SumOfLanes(d, s1));
      out[k + 2] = hn::GetLane(hn::SumOfLanes(d, s2));
      out[k + 3] = hn::GetLane(hn::SumOfLanes(d, s3));
    }
    for (; k < e; ++k) {
      const float* HWY_RESTRICT a0 = a + off[k];
      V s0 = hn::Zero(d), s1 = hn::Zero(d);
      int64_t q = 0;
      for (; q + 2 * L <= n; q += 2 * L) {
        s0 = hn::MulAdd(hn::LoadU(d, G + q), hn::LoadU(d, a0 + q), s0);
        s1 = hn::MulAdd(hn::LoadU(d, G + q + L), hn::LoadU(d, a0 + q + L), s1);
      }
      if (q < n) s0 = hn::MulAdd(hn::LoadU(d, G + q), hn::LoadU(d, a0 + q), s0);
      out[k] = hn::GetLane(hn::SumOfLanes(d, hn::Add(s0, s1)));
    }
  }
}

template <size_t NV>
void NmSddmmT(const uint8_t* HWY_RESTRICT idx, int64_t n, int64_t m, int64_t slots, int64_t r0,
              int64_t r1, const float* HWY_RESTRICT g_panels, int64_t g_dim,
              const float* HWY_RESTRICT a_panels, int64_t a_dim, int64_t batch,
              float* HWY_RESTRICT out) {
  const D d;
  const size_t L = hn::Lanes(d);
  const int64_t width = static_cast<int64_t>(NV * L);
  const int64_t n_panels = (batch + width - 1) / width;
  const int64_t group_step = m * width;
  for (int64_t p = 0; p < n_panels; ++p) {
    const float* HWY_RESTRICT G = g_panels + p * g_dim * width;
    const float* HWY_RESTRICT A = a_panels + p * a_dim * width;
    for (int64_t r = r0; r < r1; ++r) {
      V g[NV];
      for (size_t j = 0; j < NV; ++j) g[j] = hn::Load(d, G + r * width + j * L);
      const uint8_t* HWY_RESTRICT id = idx + r * slots;
      float* HWY_RESTRICT o = out + r * slots;
      const float* gp = A;
      int64_t left = n;
      for (int64_t s = 0; s < slots; ++s) {
        const float v = PanelDot<NV>(g, gp + static_cast<int64_t>(id[s]) * width);
        o[s] = (p == 0) ? v : o[s] + v;
        if (--left == 0) {
          left = n;
          gp += group_step;
        }
      }
    }
  }
}

// Width (in vectors) dispatch: the panels are built by the caller with width = NV * lanes.
void CsrSpmmImpl(const int32_t* row_ptr, const int32_t* col, const float* vals, int64_t r0,
                 int64_t r1, const float* a, int64_t batch, int64_t width, int64_t cscale,
                 int64_t pstride, const float* bias, float* y, int64_t ldb, int64_t ldr) {
  const int64_t nv = width / LanesImpl();
  if (nv == 1) return CsrSpmmT<1, 4>(row_ptr, col, vals, r0, r1, a, batch, cscale, pstride, bias, y, ldb, ldr);
  if (nv == 2) return CsrSpmmT<2, 2>(row_ptr, col, vals, r0, r1, a, batch, cscale, pstride, bias, y, ldb, ldr);
  return CsrSpmmT<4, 1>(row_ptr, col, vals, r0, r1, a, batch, cscale, pstride, bias, y, ldb, ldr);
}

void NmSpmmImpl(const uint8_t* idx, const float* vals, int64_t n, int64_t m, int64_t slots,
                int64_t r0, int64_t r1, const float* panels, int64_t batch, int64_t k_dim,
                int64_t width, const float* bias, float* y, int64_t ldy) {
  const int64_t nv = width / LanesImpl();
  // The common patterns (n = 1: 1:4, 1:8; n = 2: 2:4, 2:8) get a fully unrolled group.
  if (nv == 1) {
    if (n == 1) return NmSpmmT<1, 1>(idx, vals, n, m, slots, r0, r1, panels, batch, k_dim, bias, y, ldy);
    if (n == 2) return NmSpmmT<1, 2>(idx, vals, n, m, slots, r0, r1, panels, batch, k_dim, bias, y, ldy);
    return NmSpmmT<1, 0>(idx, vals, n, m, slots, r0, r1, panels, batch, k_dim, bias, y, ldy);
  }
  if (nv == 2) {
    if (n == 1) return NmSpmmT<2, 1>(idx, vals, n, m, slots, r0, r1, panels, batch, k_dim, bias, y, ldy);
    if (n == 2) return NmSpmmT<2, 2>(idx, vals, n, m, slots, r0, r1, panels, batch, k_dim, bias, y, ldy);
    return NmSpmmT<2, 0>(idx, vals, n, m, slots, r0, r1, panels, batch, k_dim, bias, y, ldy);
  }
  if (n == 1) return NmSpmmT<4, 1>(idx, vals, n, m, slots, r0, r1, panels, batch, k_dim, bias, y, ldy);
  if (n == 2) return NmSpmmT<4, 2>(idx, vals, n, m, slots, r0, r1, panels, batch, k_dim, bias, y, ldy);
  return NmSpmmT<4, 0>(idx, vals, n, m, slots, r0, r1, panels, batch, k_dim, bias, y, ldy);
}

void CsrSddmmImpl(const int32_t* row_ptr, const int32_t* col, int64_t r0, int64_t r1,
                  const float* g_panels, int64_t g_dim, const float* a_panels, int64_t a_dim,
                  int64_t batch, int64_t width, float* out) {
  const int64_t nv = width / LanesImpl();
  if (nv == 1) return CsrSddmmT<1>(row_ptr, col, r0, r1, g_panels, g_dim, a_panels, a_dim, batch, out);
  if (nv == 2) return CsrSddmmT<2>(row_ptr, col, r0, r1, g_panels, g_dim, a_panels, a_dim, batch, out);
  return CsrSddmmT<4>(row_ptr, col, r0, r1, g_panels, g_dim, a_panels, a_dim, batch, out);
}

void NmSddmmImpl(const uint8_t* idx, int64_t n, int64_t m, int64_t slots, int64_t r0, int64_t r1,
                 const float* g_panels, int64_t g_dim, const float* a_panels, int64_t a_dim,
                 int64_t batch, int64_t width, float* out) {
  const int64_t nv = width / LanesImpl();
  if (nv == 1) return NmSddmmT<1>(idx, n, m, slots, r0, r1, g_panels, g_dim, a_panels, a_dim, batch, out);
  if (nv == 2) return NmSddmmT<2>(idx, n, m, slots, r0, r1, g_panels, g_dim, a_panels, a_dim, batch, out);
  return NmSddmmT<4>(idx, n, m, slots, r0, r1, g_panels, g_dim, a_panels, a_dim, batch, out);
}

}  // namespace HWY_NAMESPACE
}  // namespace gossamer::kernels::raw
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace gossamer::kernels::raw {

HWY_EXPORT(LanesImpl);
HWY_EXPORT(PackPanelsImpl);
HWY_EXPORT(CsrSpmmImpl);
HWY_EXPORT(NmSpmmImpl);
HWY_EXPORT(CsrSddmmImpl);
HWY_EXPORT(CsrSddmmOffsetsImpl);
HWY_EXPORT(NmSddmmImpl);

int64_t simd_lanes() {
  static const int64_t lanes = HWY_DYNAMIC_DISPATCH(LanesImpl)();
  return lanes;
}

int64_t choose_panel_width(int64_t batch, int64_t k) {
  const int64_t lanes = simd_lanes();
  // One panel must leave room in a 1 MiB L2 for the streaming weights and the other operand.
  constexpr int64_t kPanelBytes = 512 * 1024;
  int64_t nv = 1;
  while (nv < 4 && nv * lanes < batch && 2 * nv * lanes * k * 4 <= kPanelBytes) nv *= 2;
  return nv * lanes;
}

void pack_panels(const float* a, int64_t batch, int64_t k, int64_t lda, int64_t width,
                 float* panels, int64_t p0, int64_t p1) {
  HWY_DYNAMIC_DISPATCH(PackPanelsImpl)(a, batch, k, lda, width, panels, p0, p1);
}

void csr_spmm_panels(const int32_t* row_ptr, const int32_t* col, const float* vals, int64_t r0,
                     int64_t r1, const float* panels, int64_t batch, int64_t k_dim, int64_t width,
                     const float* bias, float* y, int64_t ldy) {
  HWY_DYNAMIC_DISPATCH(CsrSpmmImpl)(row_ptr, col, vals, r0, r1, panels, batch, width, width, k_dim * width, bias, y,
                                    ldy, 1);
}

void csr_spmm_panels_strided(const int32_t* row_ptr, const int32_t* col, const float* vals,
                             int64_t r0, int64_t r1, const float* panels, int64_t batch,
                             int64_t k_dim, int64_t width, const float* bias, float* y,
                             int64_t ld_batch, int64_t ld_row) {
  HWY_DYNAMIC_DISPATCH(CsrSpmmImpl)(row_ptr, col, vals, r0, r1, panels, batch, width, width, k_dim * width, bias, y,
                                    ld_batch, ld_row);
}

void csr_spmm_offsets(const int32_t* row_ptr, const int32_t* off, const float* vals, int64_t r0, int64_t r1,
                      const float* a, int64_t batch, int64_t width, const float* bias, float* y, int64_t ld_row) {
  HWY_DYNAMIC_DISPATCH(CsrSpmmImpl)(row_ptr, off, vals, r0, r1, a, batch, width, 1, width, bias, y, 1, ld_row);
}

void nm_spmm_panels(const uint8_t* idx, const float* vals, int64_t n, int64_t m, int64_t slots,
                    int64_t r0, int64_t r1, const float* panels, int64_t batch, int64_t k_dim,
                    int64_t width, const float* bias, float* y, int64_t ldy) {
  HWY_DYNAMIC_DISPATCH(NmSpmmImpl)(idx, vals, n, m, slots, r0, r1, panels, batch, k_dim, width, bias, y, ldy);
}

void csr_sddmm_panels(const int32_t* row_ptr, const int32_t* col, int64_t r0, int64_t r1,
                      const float* g_panels, int64_t g_dim, const float* a_panels, int64_t a_dim,
                      int64_t batch, int64_t width, float* out) {
  HWY_DYNAMIC_DISPATCH(CsrSddmmImpl)(row_ptr, col, r0, r1, g_panels, g_dim, a_panels, a_dim, batch, width, out);
}

void csr_sddmm_offsets(const int32_t* row_ptr, const int32_t* off, int64_t r0, int64_t r1, const float* g,
                       int64_t ld_g, const float* a, int64_t n, float* out) {
  HWY_DYNAMIC_DISPATCH(CsrSddmmOffsetsImpl)(row_ptr, off, r0, r1, g, ld_g, a, n, out);
}

void nm_sddmm_panels(const uint8_t* idx, int64_t n, int64_t m, int64_t slots, int64_t r0,
                     int64_t r1, const float* g_panels, int64_t g_dim, const float* a_panels,
                     int64_t a_dim, int64_t batch, int64_t width, float* out) {
  HWY_DYNAMIC_DISPATCH(NmSddmmImpl)(idx, n, m, slots, r0, r1, g_panels, g_dim, a_panels, a_dim, batch, width, out);
}

}  // namespace gossamer::kernels::raw
#endif  // HWY_ONCE
