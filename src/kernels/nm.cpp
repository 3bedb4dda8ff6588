// Packed N:M builders and conversions (see nm.h).
#include "gossamer/kernels/nm.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>

#include "gossamer/kernels/detail.h"

namespace gossamer::kernels {

namespace {

void check_nm(int64_t n, int64_t m, const char* who) {
  if (m < 2 || m > 255 || n < 1 || n >= m) {
    throw std::invalid_argument(std::string(who) + ": need 1 <= n < m <= 255, got n=" +
                                std::to_string(n) + " m=" + std::to_string(m));
  }
}

// Column of flat slot s.
inline int64_t slot_col(const NmWeight& w, int64_t s) {
  const int64_t in_row = s % w.slots_per_row();
  return (in_row / w.n) * w.m + w.idx[static_cast<size_t>(s)];
}

void build_transpose(NmWeight& w) {
  w.t_row_ptr.assign(static_cast<size_t>(w.cols + 1), 0);
  size_t p = 0;
  const int64_t total = w.slots();
  auto is_pad = [&](int64_t s) {
    while (p < w.pad_slots.size() && w.pad_slots[p] < s) ++p;
    return p < w.pad_slots.size() && w.pad_slots[p] == s;
  };
  for (int64_t s = 0; s < total; ++s)
    if (!is_pad(s)) ++w.t_row_ptr[static_cast<size_t>(slot_col(w, s)) + 1];
  for (int64_t i = 0; i < w.cols; ++i) w.t_row_ptr[i + 1] += w.t_row_ptr[i];
  const int32_t nnz = w.t_row_ptr[w.cols];
  w.t_col_idx.resize(static_cast<size_t>(nnz));
  w.t_perm.resize(static_cast<size_t>(nnz));
  std::vector<int32_t> next(w.t_row_ptr.begin(), w.t_row_ptr.end() - 1);
  p = 0;
  for (int64_t s = 0; s < total; ++s) {
    if (is_pad(s)) continue;
    const int32_t j = next[static_cast<size_t>(slot_col(w, s))]++;
    w.t_col_idx[j] = static_cast<int32_t>(s / w.slots_per_row());
    w.t_perm[j] = static_cast<int32_t>(s);
  }
}

NmWeight build_nm(const at::Tensor& w, const at::Tensor* mask, int64_t n, int64_t m) {
  const char* who = "nm_from_dense";
  detail::check_weight(w, who);
  check_nm(n, m, who);
  at::Tensor wc = w.contiguous();
  at::Tensor mc;
  if (mask != nullptr) mc = detail::mask_as_bool(*mask, w, who);
  const float* wp = wc.data_ptr<float>();
  const bool* mp = mask ? mc.data_ptr<bool>() : nullptr;

  NmWeight out;
  out.rows = w.size(0);
  out.cols = w.size(1);
  out.n = n;
  out.m = m;
  out.groups = (out.cols + m - 1) / m;
  if (out.slots() > std::numeric_limits<int32_t>::max()) {
    throw std::invalid_argument(std::string(who) + ": weight " + detail::shape_of(w) +
                                " has more than 2^31-1 slots; split the layer");
  }
  out.values = at::zeros({out.rows, out.slots_per_row()}, at::kFloat);
  float* vp = out.values.data_ptr<float>();
  out.idx.assign(static_cast<size_t>(out.slots()), 0);
  for (int64_t r = 0; r < out.rows; ++r) {
    for (int64_t g = 0; g < out.groups; ++g) {
      const int64_t c0 = g * m, c1 = std::min(out.cols, c0 + m);
      int64_t s = (r * out.groups + g) * n;
      const int64_t s_end = s + n;
      for (int64_t c = c0; c < c1; ++c) {
        const int64_t at_rc = r * out.cols + c;
        const bool keep = mp ? mp[at_rc] : (wp[at_rc] != 0.0f);
        if (!keep) continue;
        if (s == s_end) {
          throw std::invalid_argument(std::string(who) + ": weight " + detail::shape_of(w) +
                                      " row " + std::to_string(r) + " group " + std::to_string(g) +
                                      " (columns " + std::to_string(c0) + ".." + std::to_string(c1 - 1) +
                                      ") keeps more than n=" + std::to_string(n) + " of m=" +
                                      std::to_string(m) + " entries; prune it to " +
                                      std::to_string(n) + ":" + std::to_string(m) + " first");
        }
        vp[s] = wp[at_rc];
        out.idx[static_cast<size_t>(s)] = static_cast<uint8_t>(c - c0);
        ++s;
      }
      // Padding: value 0 at offset 0 (a valid column of every group).
      for (; s < s_end; ++s) out.pad_slots.push_back(s);
    }
  }
  build_transpose(out);
  return out;
}

}  // namespace

NmWeight nm_from_dense(const at::Tensor& w, int64_t n, int64_t m) { return build_nm(w, nullptr, n, m); }

NmWeight nm_from_dense(const at::Tensor& w, const at::Tensor& mask, int64_t n, int64_t m) {
  return build_nm(w, &mask, n, m);
}

at::Tensor nm_scatter_to_dense(const NmWeight& w, const at::Tensor& slot_values) {
  if (!slot_values.defined() || slot_values.numel() != w.slots()) {
    throw std::invalid_argument("nm_scatter_to_dense: expected " + std::to_string(w.slots()) +
                                " slot values for an NmWeight [" + std::to_string(w.rows) + ", " +
                                std::to_string(w.cols) + "], got " + detail::shape_of(slot_values));
  }
  at::Tensor v = slot_values.to(at::kFloat).contiguous();
  const float* vp = v.data_ptr<float>();
  at::Tensor out = at::zeros({w.rows, w.cols}, at::kFloat);
  float* o = out.data_ptr<float>();
  // Only the real entries: a padding slot may share its column with a real one.
  for (int64_t i = 0; i < w.cols; ++i)
    for (int32_t j = w.t_row_ptr[i]; j < w.t_row_ptr[i + 1]; ++j)
      o[w.t_col_idx[j] * w.cols + i] = vp[w.t_perm[j]];
  return out;
}

at::Tensor nm_to_dense(const NmWeight& w) { return nm_scatter_to_dense(w, w.values); }

void nm_update_values(NmWeight& w, const at::Tensor& dense) {
  detail::check_weight(dense, "nm_update_values");
  if (dense.size(0) != w.rows || dense.size(1) != w.cols) {
    throw std::invalid_argument("nm_update_values: dense weight " + detail::shape_of(dense) +
                                " does not match the NmWeight [" + std::to_string(w.rows) + ", " +
                                std::to_string(w.cols) + "]");
  }
  at::Tensor dc = dense.contiguous();
  const float* d = dc.data_ptr<float>();
  at::Tensor v = at::empty({w.rows, w.slots_per_row()}, at::kFloat);
  float* vp = v.data_ptr<float>();
  // Row by row (the dense weight is read in order, not column-wise), padding slots set to 0.
  const int64_t spr = w.slots_per_row();
  size_t pad = 0;
  for (int64_t r = 0; r < w.rows; ++r) {
    const float* row = d + r * w.cols;
    for (int64_t j = 0; j < spr; ++j) {
      const int64_t s = r * spr + j;
      if (pad < w.pad_slots.size() && w.pad_slots[pad] == s) {
        vp[s] = 0.0f;
        ++pad;
      } else {
        vp[s] = row[(j / w.n) * w.m + w.idx[static_cast<size_t>(s)]];
      }
    }
  }
  w.values = v;
}

}  // namespace gossamer::kernels
