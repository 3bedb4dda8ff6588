// Sparse 2-D convolution (conv.h): the conv weight as a CSR matrix, multiplied either directly
// against the zero-padded input (stride 1) or against unfolded (im2col) panels, by the raw CSR
// kernels of raw_hwy.cpp. This file only pads, unfolds, folds, packs and schedules; the arithmetic
// is the SpMM / SDDMM of the linear layer.
#include "gossamer/kernels/conv.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "gossamer/kernels/detail.h"
#include "gossamer/kernels/raw.h"

namespace gossamer::kernels {

namespace {

using detail::kSerialWork;

// ---- per-thread scratch -------------------------------------------------------------------------

// One growing, 64-byte aligned float buffer per thread, kept for the life of the thread: the padded
// planes and unfolded panels are rewritten on every call, and on the VMs we use touching fresh
// pages (~2.5 ms per MiB) costs more than the sparse arithmetic itself. A call asks once for all
// it needs and carves the buffer up.
struct AlignedFree {
  void operator()(float* p) const { std::free(p); }
};

float* thread_scratch(int64_t floats) {
  thread_local std::unique_ptr<float, AlignedFree> buf;
  thread_local int64_t cap = 0;
  if (floats > cap) {
    const int64_t want = std::max<int64_t>(floats + floats / 4, 4096);
    const size_t bytes = static_cast<size_t>((want * 4 + 63) / 64 * 64);
    float* p = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (p == nullptr) throw std::bad_alloc();
    buf.reset(p);
    cap = want;
  }
  return buf.get();
}

// Floats rounded up to a whole number of 64-byte lines, so that carved sub-buffers stay aligned.
int64_t lines(int64_t floats) { return (floats + 15) / 16 * 16; }

int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

// ---- geometry -----------------------------------------------------------------------------------

struct Dims {
  int64_t n = 0, c = 0, h = 0, w = 0;  // input
  int64_t o = 0, kh = 0, kw = 0;       // weight
  int64_t oh = 0, ow = 0, hw = 0;      // output, hw = oh * ow positions per image
  ConvGeometry g;
};

// Where the input value of one unfolded column comes from: channel `chan`, input row
// oh * stride_h + row_off and input column ow * stride_w + col_off (outside the image: zero).
struct UnfoldCol {
  int64_t chan, row_off, col_off;
};

std::vector<UnfoldCol> unfold_cols(const SparseConvWeight& w, const ConvGeometry& g) {
  std::vector<UnfoldCol> out(w.used_cols.size());
  const int64_t khw = w.kernel_h * w.kernel_w;
  for (size_t u = 0; u < out.size(); ++u) {
    const int64_t col = w.used_cols[u];
    const int64_t ki = (col % khw) / w.kernel_w, kj = col % w.kernel_w;
    out[u] = {col / khw, ki * g.dilation[0] - g.padding[0], kj * g.dilation[1] - g.padding[1]};
  }
  return out;
}

// Calls f(oh, ow0, len, t) for the pieces of output positions [q0, q0 + nb) that lie in one
// output row: positions oh * ow + ow0 .. + len - 1, at offset t from q0.
template <class F>
inline void for_row_pieces(int64_t q0, int64_t nb, int64_t ow, const F& f) {
  int64_t oh = q0 / ow, c0 = q0 % ow, t = 0;
  while (t < nb) {
    const int64_t len = std::min(ow - c0, nb - t);
    f(oh, c0, len, t);
    t += len;
    c0 = 0;
    ++oh;
  }
}

// Valid output columns [lo, hi) within [c0, c0 + len) for an input column offset: those whose
// input column ow * stride + col_off lies in [0, w).
inline void valid_cols(int64_t c0, int64_t len, int64_t col_off, int64_t stride, int64_t w,
                       int64_t& lo, int64_t& hi) {
  lo = std::clamp(ceil_div(-col_off, stride), c0, c0 + len);
  hi = std::clamp(ceil_div(w - col_off, stride), lo, c0 + len);
}

// Writes unfolded columns [u0, u1) for output positions [q0, q0 + nb) of one image x [c, h, w]:
// dst[u * ld + t] for t < nb, zero for nb <= t < pad_to.
void unfold(const float* x, const Dims& d, const UnfoldCol* cols, int64_t u0, int64_t u1, int64_t q0,
            int64_t nb, int64_t pad_to, float* dst, int64_t ld) {
  const int64_t sh = d.g.stride[0], sw = d.g.stride[1];
  for (int64_t u = u0; u < u1; ++u) {
    const UnfoldCol uc = cols[u];
    float* out = dst + u * ld;
    const float* plane = x + uc.chan * d.h * d.w;
    for_row_pieces(q0, nb, d.ow, [&](int64_t oh, int64_t c0, int64_t len, int64_t t) {
      float* o = out + t;  // o[j - c0] is output column j, for j in [c0, c0 + len)
      const int64_t ih = oh * sh + uc.row_off;
      if (ih < 0 || ih >= d.h) {
        std::memset(o, 0, static_cast<size_t>(len) * sizeof(float));
        return;
      }
      int64_t lo, hi;
      valid_cols(c0, len, uc.col_off, sw, d.w, lo, hi);
      for (int64_t j = c0; j < lo; ++j) o[j - c0] = 0.0f;
      const float* row = plane + ih * d.w;  // output column j reads row[j * sw + col_off]
      if (sw == 1) {
        if (hi > lo) std::memcpy(o + (lo - c0), row + lo + uc.col_off, static_cast<size_t>(hi - lo) * sizeof(float));
      } else {
        for (int64_t j = lo; j < hi; ++j) o[j - c0] = row[j * sw + uc.col_off];
      }
      for (int64_t j = hi; j < c0 + len; ++j) o[j - c0] = 0.0f;
    });
    for (int64_t t = nb; t < pad_to; ++t) out[t] = 0.0f;
  }
}

// The adjoint of unfold: adds src[u * ld + t] (t < nb, positions q0 + t) into the image dx
// [c, h, w] for columns [u0, u1).
void fold(const float* src, const Dims& d, const UnfoldCol* cols, int64_t u0, int64_t u1, int64_t q0,
          int64_t nb, int64_t ld, float* dx) {
  const int64_t sh = d.g.stride[0], sw = d.g.stride[1];
  for (int64_t u = u0; u < u1; ++u) {
    const UnfoldCol uc = cols[u];
    const float* in = src + u * ld;
    float* plane = dx + uc.chan * d.h * d.w;
    for_row_pieces(q0, nb, d.ow, [&](int64_t oh, int64_t c0, int64_t len, int64_t t) {
      const int64_t ih = oh * sh + uc.row_off;
      if (ih < 0 || ih >= d.h) return;
      int64_t lo, hi;
      valid_cols(c0, len, uc.col_off, sw, d.w, lo, hi);
      if (lo >= hi) return;
      // Output column j (value in[t + j - c0]) adds into input column j * sw + col_off.
      const float* __restrict s = in + t + (lo - c0);
      float* __restrict o = plane + ih * d.w + lo * sw + uc.col_off;
      const int64_t n = hi - lo;
      if (sw == 1) {
        for (int64_t j = 0; j < n; ++j) o[j] += s[j];
      } else {
        for (int64_t j = 0; j < n; ++j) o[j * sw] += s[j];
      }
    });
  }
}

// Packs rows [0, rows) of one image's gradient plane g [rows, hw] into panels [P][rows][width].
void pack_plane(const float* g, int64_t rows, int64_t hw, int64_t width, float* panels) {
  const int64_t n_panels = (hw + width - 1) / width;
  for (int64_t p = 0; p < n_panels; ++p) {
    const int64_t q0 = p * width, nb = std::min(width, hw - q0);
    float* dst = panels + p * rows * width;
    for (int64_t r = 0; r < rows; ++r) {
      std::memcpy(dst + r * width, g + r * hw + q0, static_cast<size_t>(nb) * sizeof(float));
      for (int64_t t = nb; t < width; ++t) dst[r * width + t] = 0.0f;
    }
  }
}

// out[k] += sum over t < parts of part[t * n + k] (the per-thread weight gradients).
void add_parts(const float* part, int64_t parts, int64_t n, float* out) {
  for (int64_t t = 0; t < parts; ++t)
    for (int64_t k = 0; k < n; ++k) out[k] += part[t * n + k];
}

// Runs f(chunk) for chunk in [0, chunks) on at::parallel_for, or inline for one chunk.
template <class F>
void run_chunks(int64_t chunks, const F& f) {
  if (chunks <= 1) {
    if (chunks == 1) f(0);
    return;
  }
  at::parallel_for(0, chunks, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) f(i);
  });
}

int64_t threads_for(int64_t work) {
  return work < kSerialWork ? 1 : std::max<int64_t>(1, at::get_num_threads());
}

// Panel width for hw positions per image over k rows (the wider of the unfolded input and dY).
int64_t panel_width(int64_t hw, int64_t k) { return raw::choose_panel_width(hw, std::max<int64_t>(k, 1)); }

void check_geometry(const ConvGeometry& g) {
  for (int a = 0; a < 2; ++a) {
    if (g.stride[a] < 1 || g.padding[a] < 0 || g.dilation[a] < 1) {
      throw std::invalid_argument("ConvGeometry: need stride >= 1, padding >= 0 and dilation >= 1, got stride {" +
                                  std::to_string(g.stride[0]) + ", " + std::to_string(g.stride[1]) +
                                  "}, padding {" + std::to_string(g.padding[0]) + ", " +
                                  std::to_string(g.padding[1]) + "}, dilation {" + std::to_string(g.dilation[0]) +
                                  ", " + std::to_string(g.dilation[1]) + "}");
    }
  }
}

void check_weight4(const at::Tensor& w, const char* who) {
  if (!w.defined() || w.dim() != 4 || w.scalar_type() != at::kFloat || !w.device().is_cpu()) {
    throw std::invalid_argument(std::string(who) +
                                ": weight must be a 4-D float32 CPU tensor [out, in, kh, kw], got " + detail::shape_of(w));
  }
}

Dims make_dims(int64_t n, int64_t c, int64_t h, int64_t w, const SparseConvWeight& sw, const ConvGeometry& g) {
  Dims d;
  d.n = n;
  d.c = c;
  d.h = h;
  d.w = w;
  d.o = sw.out_channels;
  d.kh = sw.kernel_h;
  d.kw = sw.kernel_w;
  const auto o = conv_output_size(h, w, d.kh, d.kw, g);
  d.oh = o[0];
  d.ow = o[1];
  d.hw = d.oh * d.ow;
  d.g = g;
  return d;
}

void check_input(const at::Tensor& x, const SparseConvWeight& w, const char* who) {
  if (!x.defined() || x.dim() != 4 || x.scalar_type() != at::kFloat || !x.device().is_cpu() ||
      x.size(1) != w.in_channels) {
    throw std::invalid_argument(std::string(who) + ": input must be a 4-D float32 CPU tensor [n, " +
                                std::to_string(w.in_channels) + ", h, w], got " + detail::shape_of(x));
  }
}

// Fills the derived index arrays of a SparseConvWeight from its csr.
void build_packed(SparseConvWeight& w) {
  const CsrWeight& c = w.csr;
  std::vector<int32_t> renumber(static_cast<size_t>(c.cols), -1);
  w.used_cols.clear();
  w.packed_t_row_ptr.assign(1, 0);
  for (int64_t col = 0; col < c.cols; ++col) {
    if (c.t_row_ptr[col + 1] > c.t_row_ptr[col]) {
      renumber[col] = static_cast<int32_t>(w.used_cols.size());
      w.used_cols.push_back(static_cast<int32_t>(col));
      w.packed_t_row_ptr.push_back(c.t_row_ptr[col + 1]);
    }
  }
  w.packed_col.resize(c.col_idx.size());
  for (size_t k = 0; k < c.col_idx.size(); ++k) w.packed_col[k] = renumber[c.col_idx[k]];
  // Input-major order: entries grouped by input channel, in (output channel, tap) order within one.
  const int64_t khw = w.kernel_h * w.kernel_w;
  w.in_row_ptr.assign(static_cast<size_t>(w.in_channels + 1), 0);
  for (int32_t col : c.col_idx) ++w.in_row_ptr[col / khw + 1];
  for (int64_t i = 0; i < w.in_channels; ++i) w.in_row_ptr[i + 1] += w.in_row_ptr[i];
  w.in_entry.resize(c.col_idx.size());
  w.in_row_of.resize(c.col_idx.size());
  std::vector<int32_t> next(w.in_row_ptr.begin(), w.in_row_ptr.end() - 1);
  for (int64_t r = 0; r < c.rows; ++r) {
    for (int32_t k = c.row_ptr[r]; k < c.row_ptr[r + 1]; ++k) {
      const int32_t slot = next[c.col_idx[k] / khw]++;
      w.in_entry[slot] = k;
      w.in_row_of[slot] = static_cast<int32_t>(r);
    }
  }
}

SparseConvWeight build_conv_weight(const at::Tensor& weight, const at::Tensor* mask) {
  const char* who = "sparse_conv_weight";
  check_weight4(weight, who);
  if (mask != nullptr && (!mask->defined() || mask->sizes() != weight.sizes())) {
    throw std::invalid_argument(std::string(who) + ": mask " + detail::shape_of(*mask) + " must have the weight's shape " +
                                detail::shape_of(weight));
  }
  SparseConvWeight w;
  w.out_channels = weight.size(0);
  w.in_channels = weight.size(1);
  w.kernel_h = weight.size(2);
  w.kernel_w = weight.size(3);
  if (w.kernel_h < 1 || w.kernel_w < 1) {
    throw std::invalid_argument(std::string(who) + ": empty kernel in weight " + detail::shape_of(weight));
  }
  const at::Tensor w2 = weight.reshape({w.out_channels, -1});
  w.csr = mask ? csr_from_dense(w2, mask->reshape({w.out_channels, -1})) : csr_from_dense(w2);
  build_packed(w);
  return w;
}

}  // namespace

std::array<int64_t, 2> conv_output_size(int64_t h, int64_t w, int64_t kh, int64_t kw, const ConvGeometry& g) {
  check_geometry(g);
  const int64_t in[2] = {h, w}, k[2] = {kh, kw};
  std::array<int64_t, 2> out{};
  for (int a = 0; a < 2; ++a) {
    const int64_t span = g.dilation[a] * (k[a] - 1) + 1;
    const int64_t padded = in[a] + 2 * g.padding[a];
    if (in[a] < 1 || k[a] < 1 || padded < span) {
      throw std::invalid_argument("sparse_conv2d: input " + std::to_string(h) + "x" + std::to_string(w) +
                                  " padded by {" + std::to_string(g.padding[0]) + ", " +
                                  std::to_string(g.padding[1]) + "} is smaller than the dilated kernel " +
                                  std::to_string(kh) + "x" + std::to_string(kw) + " (dilation {" +
                                  std::to_string(g.dilation[0]) + ", " + std::to_string(g.dilation[1]) + "})");
    }
    out[a] = (padded - span) / g.stride[a] + 1;
  }
  return out;
}

SparseConvWeight sparse_conv_weight(const at::Tensor& weight, const at::Tensor& mask) {
  return build_conv_weight(weight, &mask);
}

SparseConvWeight sparse_conv_weight(const at::Tensor& weight) { return build_conv_weight(weight, nullptr); }

SparseConvWeight sparse_conv_weight(CsrWeight csr, int64_t in_channels, int64_t kernel_h, int64_t kernel_w) {
  if (in_channels < 1 || kernel_h < 1 || kernel_w < 1 || csr.rows < 1 || csr.cols != in_channels * kernel_h * kernel_w) {
    throw std::invalid_argument("sparse_conv_weight: CSR [" + std::to_string(csr.rows) + ", " + std::to_string(csr.cols) +
                                "] does not match " + std::to_string(in_channels) + " input channels and a " +
                                std::to_string(kernel_h) + "x" + std::to_string(kernel_w) + " kernel");
  }
  csr_validate(csr);
  SparseConvWeight w;
  w.out_channels = csr.rows;
  w.in_channels = in_channels;
  w.kernel_h = kernel_h;
  w.kernel_w = kernel_w;
  w.csr = std::move(csr);
  build_packed(w);
  return w;
}

void sparse_conv_update_values(SparseConvWeight& w, const at::Tensor& weight) {
  check_weight4(weight, "sparse_conv_update_values");
  if (weight.size(0) != w.out_channels || weight.size(1) != w.in_channels || weight.size(2) != w.kernel_h ||
      weight.size(3) != w.kernel_w) {
    throw std::invalid_argument("sparse_conv_update_values: weight " + detail::shape_of(weight) + " does not match [" +
                                std::to_string(w.out_channels) + ", " + std::to_string(w.in_channels) + ", " +
                                std::to_string(w.kernel_h) + ", " + std::to_string(w.kernel_w) + "]");
  }
  csr_update_values(w.csr, weight.reshape({w.out_channels, -1}));
}

at::Tensor sparse_conv_scatter_to_dense(const SparseConvWeight& w, const at::Tensor& nz_values) {
  return csr_scatter_to_dense(w.csr, nz_values).view({w.out_channels, w.in_channels, w.kernel_h, w.kernel_w});
}

// ---- forward ------------------------------------------------------------------------------------

namespace {

// y [n, o, oh, ow] = conv(x) + b by unfolding panels of output positions (any geometry).
void forward_im2col(const float* xp, const SparseConvWeight& w, const float* b, const ConvGeometry& g, const Dims& d,
                    float* yp) {
  const int64_t ku = w.k_used();
  const std::vector<UnfoldCol> cols = unfold_cols(w, g);
  const int64_t width = panel_width(d.hw, ku);
  const int64_t n_panels = (d.hw + width - 1) / width;
  const int32_t* row_ptr = w.csr.row_ptr.data();
  const int32_t* pcol = w.packed_col.data();
  const float* vals = w.csr.values.data_ptr<float>();
  const int64_t in_plane = d.c * d.h * d.w, out_plane = d.o * d.hw;

  // One panel of positions: unfold it, then every output channel's row of the SpMM over it. The
  // panel ([k_used][width] floats) stays in L1/L2 while the weight streams past.
  auto do_panel = [&](int64_t img, int64_t p, float* panel) {
    const int64_t q0 = p * width, nb = std::min(width, d.hw - q0);
    unfold(xp + img * in_plane, d, cols.data(), 0, ku, q0, nb, width, panel, width);
    raw::csr_spmm_panels_strided(row_ptr, pcol, vals, 0, d.o, panel, nb, ku, width, b, yp + img * out_plane + q0, 1,
                                 d.hw);
  };
  // Work items are (image, panel) pairs in image-major order; each thread takes a contiguous
  // range (whole images when the batch is large, a share of the panels when it is not).
  const int64_t items = d.n * n_panels;
  const int64_t chunks = std::min(items, threads_for((w.nnz() + ku) * d.n * d.hw));
  run_chunks(chunks, [&](int64_t t) {
    float* panel = thread_scratch(lines(ku * width));
    for (int64_t i = items * t / chunks; i < items * (t + 1) / chunks; ++i) do_panel(i / n_panels, i % n_panels, panel);
  });
}

// ---- backward -----------------------------------------------------------------------------------

// dX (dxp, if not null) and dW (dwp [nnz], zeroed, if not null) by unfolding (any geometry).
void backward_im2col(const float* gp, const float* xp, const SparseConvWeight& w, const ConvGeometry& g,
                     const Dims& d, float* dxp, float* dwp) {
  const bool need_input = dxp != nullptr, need_weight = dwp != nullptr;
  const int64_t nnz = w.nnz(), ku = w.k_used();
  const std::vector<UnfoldCol> cols = unfold_cols(w, g);
  const int64_t width = panel_width(d.hw, std::max(ku, d.o));
  const int64_t n_panels = (d.hw + width - 1) / width;
  const int64_t padded = n_panels * width;
  const int64_t in_plane = d.c * d.h * d.w, out_plane = d.o * d.hw;
  const int32_t* row_ptr = w.csr.row_ptr.data();
  const int32_t* pcol = w.packed_col.data();
  const int32_t* t_row_ptr = w.packed_t_row_ptr.data();
  const int32_t* t_col = w.csr.t_col_idx.data();
  // Values in the transposed order, once per call (one pass over nnz).
  std::vector<float> vals_t(static_cast<size_t>(nnz));
  {
    const float* vals = w.csr.values.data_ptr<float>();
    for (int64_t j = 0; j < nnz; ++j) vals_t[j] = vals[w.csr.t_perm[j]];
  }
  const int64_t work = (nnz + ku) * d.n * d.hw;
  const int64_t threads = threads_for(work);

  if (d.n >= threads) {
    // Whole images per thread: no write conflicts on dX; each thread sums its own dW.
    const int64_t chunks = threads;
    at::Tensor dw_part = need_weight ? at::zeros({chunks, nnz}, at::kFloat) : at::Tensor();
    run_chunks(chunks, [&](int64_t t) {
      // Scratch: dY panels [P][o][width], unfolded x panels [P][ku][width], one panel of unfolded
      // dX [ku][width], the per-image dW [nnz].
      const int64_t g_sz = lines(n_panels * d.o * width), a_sz = need_weight ? lines(n_panels * ku * width) : 0,
                    c_sz = need_input ? lines(ku * width) : 0, v_sz = need_weight ? lines(nnz) : 0;
      float* s = thread_scratch(g_sz + a_sz + c_sz + v_sz);
      float* gpan = s;
      float* apan = s + g_sz;
      float* dcol = apan + a_sz;
      float* dw_img = dcol + c_sz;
      float* dw_acc = need_weight ? dw_part.data_ptr<float>() + t * nnz : nullptr;
      for (int64_t img = d.n * t / chunks; img < d.n * (t + 1) / chunks; ++img) {
        pack_plane(gp + img * out_plane, d.o, d.hw, width, gpan);
        if (need_weight) {
          for (int64_t p = 0; p < n_panels; ++p) {
            const int64_t q0 = p * width;
            unfold(xp + img * in_plane, d, cols.data(), 0, ku, q0, std::min(width, d.hw - q0), width,
                   apan + p * ku * width, width);
          }
          raw::csr_sddmm_panels(row_ptr, pcol, 0, d.o, gpan, d.o, apan, ku, d.hw, width, dw_img);
          for (int64_t k = 0; k < nnz; ++k) dw_acc[k] += dw_img[k];
        }
        if (need_input) {
          float* dx = dxp + img * in_plane;
          std::memset(dx, 0, static_cast<size_t>(in_plane) * sizeof(float));
          for (int64_t p = 0; p < n_panels; ++p) {
            const int64_t q0 = p * width, nb = std::min(width, d.hw - q0);
            raw::csr_spmm_panels_strided(t_row_ptr, t_col, vals_t.data(), 0, ku, gpan + p * d.o * width, nb, d.o,
                                         width, nullptr, dcol, 1, width);
            fold(dcol, d, cols.data(), 0, ku, q0, nb, width, dx);
          }
        }
      }
    });
    if (need_weight) add_parts(dw_part.data_ptr<float>(), dw_part.size(0), nnz, dwp);
    return;
  }

  // Fewer images than threads: one image at a time, its rows / columns / channels split between
  // the threads. The panels live in the calling thread's scratch and are shared read-only.
  const int64_t g_sz = lines(n_panels * d.o * width), a_sz = need_weight ? lines(n_panels * ku * width) : 0,
                c_sz = need_input ? lines(ku * padded) : 0, v_sz = need_weight ? lines(nnz) : 0;
  float* s = thread_scratch(g_sz + a_sz + c_sz + v_sz);
  float* gpan = s;
  float* apan = s + g_sz;
  float* dcol = apan + a_sz;  // [ku][padded], the whole image's unfolded dX
  float* dw_img = dcol + c_sz;
  float* dw_acc = dwp;
  const auto w_bounds = detail::split_rows(row_ptr, d.o, std::min<int64_t>(threads, d.o));
  const auto t_bounds = detail::split_rows(t_row_ptr, ku, std::min<int64_t>(threads, ku));
  const int64_t khw = d.kh * d.kw;
  // Columns of channel c are [chan_first[c], chan_first[c + 1]) (used_cols is sorted).
  std::vector<int64_t> chan_first(static_cast<size_t>(d.c + 1));
  for (int64_t c = 0; c <= d.c; ++c)
    chan_first[c] = std::lower_bound(w.used_cols.begin(), w.used_cols.end(), c * khw) - w.used_cols.begin();
  const int64_t c_chunks = std::min<int64_t>(threads, d.c);
  for (int64_t img = 0; img < d.n; ++img) {
    pack_plane(gp + img * out_plane, d.o, d.hw, width, gpan);
    if (need_weight) {
      run_chunks(std::min(threads, n_panels), [&](int64_t t) {
        const int64_t parts = std::min(threads, n_panels);
        for (int64_t p = n_panels * t / parts; p < n_panels * (t + 1) / parts; ++p) {
          const int64_t q0 = p * width;
          unfold(xp + img * in_plane, d, cols.data(), 0, ku, q0, std::min(width, d.hw - q0), width,
                 apan + p * ku * width, width);
        }
      });
      run_chunks(static_cast<int64_t>(w_bounds.size()) - 1, [&](int64_t t) {
        const int64_t r0 = w_bounds[t], r1 = w_bounds[t + 1];
        raw::csr_sddmm_panels(row_ptr, pcol, r0, r1, gpan, d.o, apan, ku, d.hw, width, dw_img);
        for (int32_t k = row_ptr[r0]; k < row_ptr[r1]; ++k) dw_acc[k] += dw_img[k];
      });
    }
    if (need_input) {
      run_chunks(static_cast<int64_t>(t_bounds.size()) - 1, [&](int64_t t) {
        raw::csr_spmm_panels_strided(t_row_ptr, t_col, vals_t.data(), t_bounds[t], t_bounds[t + 1], gpan, d.hw, d.o,
                                     width, nullptr, dcol, 1, padded);
      });
      float* dx = dxp + img * in_plane;
      run_chunks(c_chunks, [&](int64_t t) {
        const int64_t c0 = d.c * t / c_chunks, c1 = d.c * (t + 1) / c_chunks;
        std::memset(dx + c0 * d.h * d.w, 0, static_cast<size_t>((c1 - c0) * d.h * d.w) * sizeof(float));
        fold(dcol, d, cols.data(), chan_first[c0], chan_first[c1], 0, d.hw, padded, dx);
      });
    }
  }
}

// ---- direct method (stride 1) --------------------------------------------------------------------
//
// With stride 1 the operand of weight entry (c, ki, kj) for a run of output positions is a run of
// the zero-padded input: output (oh, ow) reads xpad[c][oh + ki·dh][ow + kj·dw]. Computing the
// output on a "wide" grid of hp x wp positions' row length (q = oh·wp + ow, the columns ow >= ow_out
// are computed and dropped) makes the operand of every entry the contiguous run xpad + off + q with
// off = (c·hp + ki·dh)·wp + kj·dw: the CSR gather kernel with offsets instead of panel rows, and
// no unfolding at all. The input gradient is the same product over the transposed weight (rows =
// input channels) and the zero-padded dY, and the weight gradient is the sampled product of the
// wide-grid dY with the same offsets into xpad.

// The padded planes of one problem: the input (forward, weight gradient) and dY (input gradient).
struct DirectDims {
  int64_t hp = 0, wp = 0;        // padded input: h + 2·ph, w + 2·pw
  int64_t q_out = 0;             // wide output positions: oh · wp
  int64_t width = 0;             // positions per block
  int64_t q_out_pad = 0;         // q_out rounded up to blocks
  int64_t x_size = 0;            // floats of xpad incl. the slack the last block reads
  int64_t ha = 0, wa = 0;        // padded dY: h + (kh-1)·dh, w + (kw-1)·dw
  int64_t top = 0, left = 0;     // dY's offset in it: (kh-1)·dh - ph, (kw-1)·dw - pw
  int64_t q_in = 0;              // wide input positions: h · wa
  int64_t width_in = 0;
  int64_t q_in_pad = 0;
  int64_t g_size = 0;            // floats of the padded dY incl. slack
};

bool direct_applies(const SparseConvWeight& w, const ConvGeometry& g, const Dims& d) {
  if (g.stride[0] != 1 || g.stride[1] != 1) return false;
  if (g.padding[0] > (w.kernel_h - 1) * g.dilation[0] || g.padding[1] > (w.kernel_w - 1) * g.dilation[1]) return false;
  // Offsets are int32: the padded planes of all channels must fit.
  const int64_t hp = d.h + 2 * g.padding[0], wp = d.w + 2 * g.padding[1];
  const int64_t ha = d.h + (w.kernel_h - 1) * g.dilation[0], wa = d.w + (w.kernel_w - 1) * g.dilation[1];
  return std::max(d.c * hp * wp, d.o * ha * wa) + 4 * (hp * wp + ha * wa) < (int64_t{1} << 31);
}

// Positions per block for q positions: the widest of 1, 2 or 4 SIMD vectors whose rounding up of
// q computes at most 10% more positions than the narrowest (wider blocks run faster per position,
// but an 8x8 output on a 10-wide grid is 80 positions: 5 blocks of 16, or 2 of 64).
int64_t block_width(int64_t q) {
  const int64_t lanes = raw::simd_lanes();
  const int64_t narrow = (q + lanes - 1) / lanes * lanes;
  for (int64_t nv : {4, 2}) {
    const int64_t w = nv * lanes;
    if (static_cast<double>((q + w - 1) / w * w) <= 1.1 * static_cast<double>(narrow)) return w;
  }
  return lanes;
}

DirectDims direct_dims(const SparseConvWeight& w, const ConvGeometry& g, const Dims& d) {
  DirectDims dd;
  const int64_t span_h = (w.kernel_h - 1) * g.dilation[0], span_w = (w.kernel_w - 1) * g.dilation[1];
  dd.hp = d.h + 2 * g.padding[0];
  dd.wp = d.w + 2 * g.padding[1];
  dd.q_out = d.oh * dd.wp;
  dd.width = block_width(dd.q_out);
  dd.q_out_pad = (dd.q_out + dd.width - 1) / dd.width * dd.width;
  // The last block of the last channel reads up to (c-1)·hp·wp + span_h·wp + span_w + q_out_pad.
  dd.x_size = lines((d.c - 1) * dd.hp * dd.wp + span_h * dd.wp + span_w + dd.q_out_pad);
  dd.ha = d.h + span_h;
  dd.wa = d.w + span_w;
  dd.top = span_h - g.padding[0];
  dd.left = span_w - g.padding[1];
  dd.q_in = d.h * dd.wa;
  dd.width_in = block_width(dd.q_in);
  dd.q_in_pad = (dd.q_in + dd.width_in - 1) / dd.width_in * dd.width_in;
  dd.g_size = lines((d.o - 1) * dd.ha * dd.wa + span_h * dd.wa + span_w + dd.q_in_pad);
  return dd;
}

// Copies channels [c0, c1) of a [c, h, w] image into zero-padded planes of hp rows of `ld` floats,
// at row `top`, column `left` (everything else zero, including the tail up to `size`).
void pad_planes(const float* src, int64_t c0, int64_t c1, int64_t h, int64_t w, int64_t hp, int64_t ld,
                int64_t top, int64_t left, float* dst, int64_t size) {
  const int64_t plane = hp * ld;
  for (int64_t c = c0; c < c1; ++c) {
    float* p = dst + c * plane;
    const float* s = src + c * h * w;
    std::memset(p, 0, static_cast<size_t>(top * ld) * sizeof(float));
    for (int64_t i = 0; i < h; ++i) {
      float* row = p + (top + i) * ld;
      std::memset(row, 0, static_cast<size_t>(left) * sizeof(float));
      std::memcpy(row + left, s + i * w, static_cast<size_t>(w) * sizeof(float));
      std::memset(row + left + w, 0, static_cast<size_t>(ld - left - w) * sizeof(float));
    }
    std::memset(p + (top + h) * ld, 0, static_cast<size_t>((hp - top - h) * ld) * sizeof(float));
  }
  if (c1 * plane < size) std::memset(dst + c1 * plane, 0, static_cast<size_t>(size - c1 * plane) * sizeof(float));
}

// Rows [r0, r1) of a wide result [rows][ld_src] (rows of length wide_w) into [rows][h][w].
void compact_rows(const float* src, int64_t ld_src, int64_t wide_w, int64_t r0, int64_t r1, int64_t h, int64_t w,
                  float* dst) {
  for (int64_t r = r0; r < r1; ++r)
    for (int64_t i = 0; i < h; ++i)
      std::memcpy(dst + (r * h + i) * w, src + r * ld_src + i * wide_w, static_cast<size_t>(w) * sizeof(float));
}

void forward_direct(const float* xp, const SparseConvWeight& w, const float* b, const ConvGeometry& g, const Dims& d,
                    float* yp) {
  const DirectDims dd = direct_dims(w, g, d);
  const int64_t nnz = w.nnz();
  // off[k] for entry k = (o; c, ki, kj): where its operand run starts in xpad.
  std::vector<int32_t> off(static_cast<size_t>(nnz));
  const int64_t khw = w.kernel_h * w.kernel_w;
  for (int64_t k = 0; k < nnz; ++k) {
    const int64_t col = w.csr.col_idx[k], c = col / khw, ki = (col % khw) / w.kernel_w, kj = col % w.kernel_w;
    off[k] = static_cast<int32_t>((c * dd.hp + ki * g.dilation[0]) * dd.wp + kj * g.dilation[1]);
  }
  const int32_t* row_ptr = w.csr.row_ptr.data();
  const float* vals = w.csr.values.data_ptr<float>();
  const int64_t in_plane = d.c * d.h * d.w, out_plane = d.o * d.hw;
  const int64_t y_size = lines(d.o * dd.q_out_pad);
  const int64_t threads = threads_for((nnz + d.o) * d.n * dd.q_out);
  auto image_into = [&](const float* xpad, float* ywide, int64_t r0, int64_t r1) {
    raw::csr_spmm_offsets(row_ptr, off.data(), vals, r0, r1, xpad, dd.q_out, dd.width, b, ywide, dd.q_out_pad);
  };
  if (d.n >= threads) {
    run_chunks(threads, [&](int64_t t) {
      float* xpad = thread_scratch(dd.x_size + y_size);
      float* ywide = xpad + dd.x_size;
      for (int64_t img = d.n * t / threads; img < d.n * (t + 1) / threads; ++img) {
        pad_planes(xp + img * in_plane, 0, d.c, d.h, d.w, dd.hp, dd.wp, g.padding[0], g.padding[1], xpad, dd.x_size);
        image_into(xpad, ywide, 0, d.o);
        compact_rows(ywide, dd.q_out_pad, dd.wp, 0, d.o, d.oh, d.ow, yp + img * out_plane);
      }
    });
    return;
  }
  float* xpad = thread_scratch(dd.x_size + y_size);
  float* ywide = xpad + dd.x_size;
  const auto bounds = detail::split_rows(row_ptr, d.o, std::min(threads, d.o));
  for (int64_t img = 0; img < d.n; ++img) {
    pad_planes(xp + img * in_plane, 0, d.c, d.h, d.w, dd.hp, dd.wp, g.padding[0], g.padding[1], xpad, dd.x_size);
    run_chunks(static_cast<int64_t>(bounds.size()) - 1, [&](int64_t t) {
      image_into(xpad, ywide, bounds[t], bounds[t + 1]);
      compact_rows(ywide, dd.q_out_pad, dd.wp, bounds[t], bounds[t + 1], d.oh, d.ow, yp + img * out_plane);
    });
  }
}

void backward_direct(const float* gp, const float* xp, const SparseConvWeight& w, const ConvGeometry& g,
                     const Dims& d, float* dxp, float* dwp) {
  const bool need_input = dxp != nullptr, need_weight = dwp != nullptr;
  const DirectDims dd = direct_dims(w, g, d);
  const int64_t nnz = w.nnz(), khw = w.kernel_h * w.kernel_w;
  const int64_t dh = g.dilation[0], dw = g.dilation[1];
  const int32_t* row_ptr = w.csr.row_ptr.data();
  const float* vals = w.csr.values.data_ptr<float>();
  // Weight gradient: the forward's offsets into xpad, dY on the wide output grid (zero in the
  // dropped columns and the tail) with rows of q_out_pad.
  std::vector<int32_t> off;
  if (need_weight) {
    off.resize(static_cast<size_t>(nnz));
    for (int64_t k = 0; k < nnz; ++k) {
      const int64_t col = w.csr.col_idx[k], c = col / khw, ki = (col % khw) / w.kernel_w, kj = col % w.kernel_w;
      off[k] = static_cast<int32_t>((c * dd.hp + ki * dh) * dd.wp + kj * dw);
    }
  }
  // Input gradient: rows = input channels, entry (o, ki, kj) reads the padded dY at
  // (o·ha + (kh-1-ki)·dh)·wa + (kw-1-kj)·dw, with the value of W[o, c, ki, kj].
  std::vector<int32_t> off_t;
  std::vector<float> vals_t;
  if (need_input) {
    off_t.resize(static_cast<size_t>(nnz));
    vals_t.resize(static_cast<size_t>(nnz));
    for (int64_t j = 0; j < nnz; ++j) {
      const int64_t k = w.in_entry[j], o = w.in_row_of[j], col = w.csr.col_idx[k];
      const int64_t ki = (col % khw) / w.kernel_w, kj = col % w.kernel_w;
      off_t[j] = static_cast<int32_t>((o * dd.ha + (w.kernel_h - 1 - ki) * dh) * dd.wa + (w.kernel_w - 1 - kj) * dw);
      vals_t[j] = vals[k];
    }
  }
  const int32_t* in_row_ptr = w.in_row_ptr.data();
  const int64_t in_plane = d.c * d.h * d.w, out_plane = d.o * d.hw;
  const int64_t x_sz = need_weight ? dd.x_size : 0, gw_sz = need_weight ? lines(d.o * dd.q_out_pad) : 0,
                v_sz = need_weight ? lines(nnz) : 0, gp_sz = need_input ? dd.g_size : 0,
                dx_sz = need_input ? lines(d.c * dd.q_in_pad) : 0;
  const int64_t scratch = x_sz + gw_sz + v_sz + gp_sz + dx_sz;
  // Builds the per-image operands (all rows); the products then run on rows [r0, r1).
  auto prepare = [&](int64_t img, float* s) {
    if (need_weight) {
      pad_planes(xp + img * in_plane, 0, d.c, d.h, d.w, dd.hp, dd.wp, g.padding[0], g.padding[1], s, dd.x_size);
      float* gw = s + x_sz;
      const float* gi = gp + img * out_plane;
      for (int64_t o = 0; o < d.o; ++o) {
        float* row = gw + o * dd.q_out_pad;
        for (int64_t i = 0; i < d.oh; ++i) {
          std::memcpy(row + i * dd.wp, gi + (o * d.oh + i) * d.ow, static_cast<size_t>(d.ow) * sizeof(float));
          std::memset(row + i * dd.wp + d.ow, 0, static_cast<size_t>(dd.wp - d.ow) * sizeof(float));
        }
        std::memset(row + dd.q_out, 0, static_cast<size_t>(dd.q_out_pad - dd.q_out) * sizeof(float));
      }
    }
    if (need_input) {
      pad_planes(gp + img * out_plane, 0, d.o, d.oh, d.ow, dd.ha, dd.wa, dd.top, dd.left, s + x_sz + gw_sz + v_sz,
                 dd.g_size);
    }
  };
  auto weight_rows = [&](float* s, int64_t r0, int64_t r1, float* acc) {
    float* dw_img = s + x_sz + gw_sz;
    raw::csr_sddmm_offsets(row_ptr, off.data(), r0, r1, s + x_sz, dd.q_out_pad, s, dd.q_out_pad, dw_img);
    for (int32_t k = row_ptr[r0]; k < row_ptr[r1]; ++k) acc[k] += dw_img[k];
  };
  auto input_rows = [&](float* s, int64_t img, int64_t c0, int64_t c1) {
    float* dxw = s + x_sz + gw_sz + v_sz + gp_sz;
    raw::csr_spmm_offsets(in_row_ptr, off_t.data(), vals_t.data(), c0, c1, s + x_sz + gw_sz + v_sz, dd.q_in,
                          dd.width_in, nullptr, dxw, dd.q_in_pad);
    compact_rows(dxw, dd.q_in_pad, dd.wa, c0, c1, d.h, d.w, dxp + img * in_plane);
  };
  const int64_t threads = threads_for((2 * nnz + d.o + d.c) * d.n * d.hw);
  if (d.n >= threads) {
    at::Tensor dw_part = need_weight ? at::zeros({threads, nnz}, at::kFloat) : at::Tensor();
    run_chunks(threads, [&](int64_t t) {
      float* s = thread_scratch(scratch);
      float* acc = need_weight ? dw_part.data_ptr<float>() + t * nnz : nullptr;
      for (int64_t img = d.n * t / threads; img < d.n * (t + 1) / threads; ++img) {
        prepare(img, s);
        if (need_weight) weight_rows(s, 0, d.o, acc);
        if (need_input) input_rows(s, img, 0, d.c);
      }
    });
    if (need_weight) add_parts(dw_part.data_ptr<float>(), dw_part.size(0), nnz, dwp);
    return;
  }
  float* s = thread_scratch(scratch);
  const auto w_bounds = detail::split_rows(row_ptr, d.o, std::min(threads, d.o));
  const auto c_bounds = detail::split_rows(in_row_ptr, d.c, std::min(threads, d.c));
  for (int64_t img = 0; img < d.n; ++img) {
    prepare(img, s);
    if (need_weight) {
      run_chunks(static_cast<int64_t>(w_bounds.size()) - 1,
                 [&](int64_t t) { weight_rows(s, w_bounds[t], w_bounds[t + 1], dwp); });
    }
    if (need_input) {
      run_chunks(static_cast<int64_t>(c_bounds.size()) - 1,
                 [&](int64_t t) { input_rows(s, img, c_bounds[t], c_bounds[t + 1]); });
    }
  }
}

bool use_direct(const SparseConvWeight& w, const ConvGeometry& g, const Dims& d, ConvAlgorithm algo, const char* who) {
  const bool ok = direct_applies(w, g, d);
  if (algo == ConvAlgorithm::kDirect && !ok) {
    throw std::invalid_argument(std::string(who) +
                                ": ConvAlgorithm::kDirect needs stride 1 and padding <= (kernel - 1) * dilation per "
                                "axis; use kAuto or kIm2col");
  }
  return algo != ConvAlgorithm::kIm2col && ok;
}

}  // namespace

// ---- public entry points --------------------------------------------------------------------------

at::Tensor sparse_conv2d_forward(const at::Tensor& x_in, const SparseConvWeight& w, const at::Tensor& bias,
                                 const ConvGeometry& g, ConvAlgorithm algo) {
  const char* who = "sparse_conv2d_forward";
  check_input(x_in, w, who);
  if (bias.defined() && (bias.dim() != 1 || bias.size(0) != w.out_channels || bias.scalar_type() != at::kFloat)) {
    throw std::invalid_argument(std::string(who) + ": bias must be a float32 [" + std::to_string(w.out_channels) +
                                "] tensor, got " + detail::shape_of(bias));
  }
  const Dims d = make_dims(x_in.size(0), x_in.size(1), x_in.size(2), x_in.size(3), w, g);
  const bool direct = use_direct(w, g, d, algo, who);
  at::Tensor y = at::empty({d.n, d.o, d.oh, d.ow}, at::kFloat);
  if (d.n == 0 || d.o == 0) return y;
  at::Tensor bc = bias.defined() ? bias.contiguous() : at::Tensor();
  const float* b = bc.defined() ? bc.data_ptr<float>() : nullptr;
  if (w.nnz() == 0) {  // y = bias everywhere
    if (b) y.copy_(bc.view({1, d.o, 1, 1}).expand_as(y));
    else y.zero_();
    return y;
  }
  at::Tensor x = x_in.contiguous();
  if (direct) forward_direct(x.data_ptr<float>(), w, b, g, d, y.data_ptr<float>());
  else forward_im2col(x.data_ptr<float>(), w, b, g, d, y.data_ptr<float>());
  return y;
}

SparseConvGrads sparse_conv2d_backward(const at::Tensor& grad_output, const at::Tensor& x_in,
                                       std::array<int64_t, 2> input_hw, const SparseConvWeight& w,
                                       const ConvGeometry& g, bool need_input, bool need_weight, ConvAlgorithm algo) {
  const char* who = "sparse_conv2d_backward";
  SparseConvGrads out;
  if (!need_input && !need_weight) return out;
  if (need_weight) {
    check_input(x_in, w, who);
    if (x_in.size(2) != input_hw[0] || x_in.size(3) != input_hw[1]) {
      throw std::invalid_argument(std::string(who) + ": input " + detail::shape_of(x_in) + " does not match input_hw {" +
                                  std::to_string(input_hw[0]) + ", " + std::to_string(input_hw[1]) + "}");
    }
  }
  if (!grad_output.defined() || grad_output.dim() != 4 || grad_output.scalar_type() != at::kFloat ||
      grad_output.size(1) != w.out_channels || (need_weight && grad_output.size(0) != x_in.size(0))) {
    throw std::invalid_argument(std::string(who) + ": grad_output must be a 4-D float32 tensor [" +
                                (need_weight ? std::to_string(x_in.size(0)) : std::string("n")) + ", " +
                                std::to_string(w.out_channels) + ", oh, ow], got " + detail::shape_of(grad_output));
  }
  const Dims d = make_dims(grad_output.size(0), w.in_channels, input_hw[0], input_hw[1], w, g);
  if (grad_output.size(2) != d.oh || grad_output.size(3) != d.ow) {
    throw std::invalid_argument(std::string(who) + ": grad_output " + detail::shape_of(grad_output) + " must be [n, " +
                                std::to_string(d.o) + ", " + std::to_string(d.oh) + ", " + std::to_string(d.ow) +
                                "] for an input of " + std::to_string(d.h) + "x" + std::to_string(d.w));
  }
  const bool direct = use_direct(w, g, d, algo, who);
  if (need_input) out.input = at::empty({d.n, d.c, d.h, d.w}, at::kFloat);
  if (need_weight) out.values = at::zeros({w.nnz()}, at::kFloat);
  if (d.n == 0 || w.nnz() == 0) {
    if (need_input) out.input.zero_();
    return out;
  }
  at::Tensor gy = grad_output.contiguous();
  at::Tensor x = need_weight ? x_in.contiguous() : at::Tensor();
  const float* xp = need_weight ? x.data_ptr<float>() : nullptr;
  float* dxp = need_input ? out.input.data_ptr<float>() : nullptr;
  float* dwp = need_weight ? out.values.data_ptr<float>() : nullptr;
  if (direct) backward_direct(gy.data_ptr<float>(), xp, w, g, d, dxp, dwp);
  else backward_im2col(gy.data_ptr<float>(), xp, w, g, d, dxp, dwp);
  return out;
}

}  // namespace gossamer::kernels
