// Low-level sparse kernels on raw pointers, vectorised with Highway and chosen at run time
// (AVX-512, AVX2, SSE4 or portable scalar code, whichever the running CPU supports best).
//
// Callers normally use spmm.h (tensor level, threaded). These functions are single-threaded and
// work on a row range so that a caller can split rows between threads.
//
// The activation layout they share is the *panel* layout: a dense matrix A [batch, k] (row-major)
// is stored as ceil(batch / width) panels, panel p being [k][width] with
//   panel[p][i][t] = A[p * width + t][i]          (zero where p * width + t >= batch).
// A row of a panel is `width` contiguous floats (whole SIMD vectors), so the products below are
// sequences of contiguous vector FMAs over the batch, and one panel (k * width * 4 bytes) is small
// enough to stay in the L2 cache while all the weight rows stream past it.
#pragma once

#include <cstdint>

namespace gossamer::kernels::raw {

// Floats per SIMD vector on the running CPU (16 with AVX-512, 8 with AVX2, 4 with SSE4).
int64_t simd_lanes();

// Panel width (a multiple of simd_lanes()) for a batch of `batch` rows of length `k`: the smallest
// of 1, 2 or 4 vectors that covers the batch, capped so that one panel stays within ~512 KiB.
int64_t choose_panel_width(int64_t batch, int64_t k);

// Packs a [batch, k] row-major matrix (row stride lda) into panels (see above) at `panels`, which
// holds ceil(batch / width) * k * width floats, 64-byte aligned. Panels p in [p0, p1) only.
void pack_panels(const float* a, int64_t batch, int64_t k, int64_t lda, int64_t width,
                 float* panels, int64_t p0, int64_t p1);

// Gather form of a sparse-times-panels product, for rows r in [r0, r1) of a CSR matrix S:
//   y[b * ldy + r] = bias[r] + sum_{k in row r} vals[k] * A[b][col[k]]     for b < batch
// where A is given as panels of width `width` over `k_dim` columns. bias may be null.
// Used for the forward (S = W, A = X) and the input gradient (S = Wᵀ, A = dY).
void csr_spmm_panels(const int32_t* row_ptr, const int32_t* col, const float* vals, int64_t r0,
                     int64_t r1, const float* panels, int64_t batch, int64_t k_dim, int64_t width,
                     const float* bias, float* y, int64_t ldy);

// The same product with a general output layout: y[b * ld_batch + r * ld_row]. With ld_batch = 1
// and ld_row = batch the output is row-major [rows of S][batch], e.g. one image's [out, h·w] plane
// of a convolution (the stores are then whole vectors).
void csr_spmm_panels_strided(const int32_t* row_ptr, const int32_t* col, const float* vals,
                             int64_t r0, int64_t r1, const float* panels, int64_t batch,
                             int64_t k_dim, int64_t width, const float* bias, float* y,
                             int64_t ld_batch, int64_t ld_row);

// The same for a packed N:M matrix: row r has `slots` = groups * n entries at r * slots, entry j
// of the row sits in column (j / n) * m + idx[r * slots + j].
void nm_spmm_panels(const uint8_t* idx, const float* vals, int64_t n, int64_t m, int64_t slots,
                    int64_t r0, int64_t r1, const float* panels, int64_t batch, int64_t k_dim,
                    int64_t width, const float* bias, float* y, int64_t ldy);

// The "direct" (offset) form of csr_spmm_panels, for convolutions without unfolding: the
// activations are one flat array `a`, and entry k of row r reads a[off[k] + q] for batch columns
// q in [0, batch), in blocks of `width` (1, 2 or 4 SIMD vectors):
//   y[r * ld_row + q] = bias[r] + sum_{k in row r} vals[k] * a[off[k] + q]
// `a` must be readable up to max(off) + ceil(batch / width) * width. bias may be null.
void csr_spmm_offsets(const int32_t* row_ptr, const int32_t* off, const float* vals, int64_t r0,
                      int64_t r1, const float* a, int64_t batch, int64_t width, const float* bias,
                      float* y, int64_t ld_row);

// Sampled dense-dense product for rows r in [r0, r1) (the weight gradient at the non-zeros):
//   out[k] = sum_b G[b][r] * A[b][col[k]]     for k in row r
// with G = dY given as panels over `g_dim` (= rows of S) columns and A = X as panels over `a_dim`.
void csr_sddmm_panels(const int32_t* row_ptr, const int32_t* col, int64_t r0, int64_t r1,
                      const float* g_panels, int64_t g_dim, const float* a_panels, int64_t a_dim,
                      int64_t batch, int64_t width, float* out);

// The offset form of csr_sddmm_panels: out[k] = sum_q g[r * ld_g + q] * a[off[k] + q] for q in
// [0, n), n a multiple of simd_lanes() (pad g with zeros). Each entry is one long dot product.
void csr_sddmm_offsets(const int32_t* row_ptr, const int32_t* off, int64_t r0, int64_t r1,
                       const float* g, int64_t ld_g, const float* a, int64_t n, float* out);

// The same for a packed N:M pattern; out is aligned with the packed values (slots per row).
void nm_sddmm_panels(const uint8_t* idx, int64_t n, int64_t m, int64_t slots, int64_t r0,
                     int64_t r1, const float* g_panels, int64_t g_dim, const float* a_panels,
                     int64_t a_dim, int64_t batch, int64_t width, float* out);

}  // namespace gossamer::kernels::raw
