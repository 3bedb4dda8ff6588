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
template <size_t NV, size_t U>
void CsrSpmmT(const int32_t* HWY_RESTRICT row_ptr, const int32_t* HWY_RESTRICT col,
              const float* HWY_RESTRICT vals, int64_t r0, int64_t r1,
              const float* HWY_RESTRICT a, int64_t batch, int64_t cscale, int64_t pstride,
              const float* bias, float* HWY_RESTRICT y, int64_t ldb, int64_t ldr) {
  const D d;
  const size_t L = hn::Lanes(d);
  const int64_t width = static_cast<int64_t>(NV * L);
  const int64_t n_panels = (batch + width - 1) / width;
  for (int64_t p = 0; p < n_panels; ++p) {
    const float* HWY_RESTRICT P = a + p * pstride;
    const int64_t b0 = p * width;
    const int64_t nb = std::min(width, batch - b0);
    for (int64_t r = r0; r < r1; ++r) {
      V acc[U][NV];
      for (size_t u = 0; u < U; ++u)
        for (size_t j = 0; j < NV; ++j) acc[u][j] = hn::Zero(d);
      int64_t k = row_ptr[r];
      const int64_t e = row_ptr[r + 1];
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
      for (size_t u = 1; u < U; ++u)
        for (size_t j = 0; j < NV; ++j) acc[0][j] = hn::Add(acc[0][j], acc[u][j]);
      StoreColumn<NV>(acc[0], bias ? bias[r] : 0.0f, nb, y, ldb, ldr, b0, r);
    }
  }
}

// N:M gather product. Slot j of a row lives in group j / n; instead of dividing, a counter walks
// the groups (`left` slots remain in the current group whose panel rows start at `gp`).
template <size_t NV, size_t U>
void NmSpmmT(const uint8_t* HWY_RESTRICT idx, const float* HWY_RESTRICT vals, int64_t n,
             int64_t m, int64_t slots, int64_t r0, int64_t r1, const float* HWY_RESTRICT panels,
             int64_t batch, int64_t k_dim, const float* bias, float* HWY_RESTRICT y,
             int64_t ldy) {
  const D d;
  const size_t L = hn::Lanes(d);
  const int64_t width = static_cast<int64_t>(NV * L);
  const int64_t n_panels = (batch + width - 1) / width;
  const int64_t group_step = m * width;
  for (int64_t p = 0; p < n_panels; ++p) {
    const float* HWY_RESTRICT P = panels + p * k_dim * width;
    const int64_t b0 = p * width;
    const int64_t nb = std::min(width, batch - b0);
    for (int64_t r = r0; r < r1; ++r) {
      const uint8_t* HWY_RESTRICT id = idx + r * slots;
      const float* HWY_RESTRICT vv = vals + r * slots;
      V acc[U][NV];
      for (size_t u = 0; u < U; ++u)
        for (size_t j = 0; j < NV; ++j) acc[u][j] = hn::Zero(d);
      const float* gp = P;
      int64_t left = n;
      int64_t s = 0;
      for (; s + static_cast<int64_t>(U) <= slots; s += U) {
        for (size_t u = 0; u < U; ++u) {
          const float* HWY_RESTRICT x = gp + static_cast<int64_t>(id[s + u]) * width;
          if (--left == 0) {
            left = n;
            gp += group_step;
          }
          const V v = hn::Set(d, vv[s + u]);
          for (size_t j = 0; j < NV; ++j) acc[u][j] = hn::MulAdd(v, hn::Load(d, x + j * L), acc[u][j]);
        }
      }
      for (; s < slots; ++s) {
        const float* HWY_RESTRICT x = gp + static_cast<int64_t>(id[s]) * width;
        if (--left == 0) {
          left = n;
          gp += group_step;
        }
        const V v = hn::Set(d, vv[s]);
        for (size_t j = 0; j < NV; ++j) acc[0][j] = hn::MulAdd(v, hn::Load(d, x + j * L), acc[0][j]);
      }
      for (size_t u = 1; u < U; ++u)
        for (size_t j = 0; j < NV; ++j) acc[0][j] = hn::Add(acc[0][j], acc[u][j]);
      StoreColumn<NV>(acc[0], bias ? bias[r] : 0.0f, nb, y, ldy, 1, b0, r);
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
  if (nv == 1) return NmSpmmT<1, 4>(idx, vals, n, m, slots, r0, r1, panels, batch, k_dim, bias, y, ldy);
  if (nv == 2) return NmSpmmT<2, 2>(idx, vals, n, m, slots, r0, r1, panels, batch, k_dim, bias, y, ldy);
  return NmSpmmT<4, 1>(idx, vals, n, m, slots, r0, r1, panels, batch, k_dim, bias, y, ldy);
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
