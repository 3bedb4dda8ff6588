// CSR builders, conversions and validation (see csr.h).
#include "gossamer/kernels/csr.h"

#include <ATen/ATen.h>

#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>

#include "gossamer/kernels/detail.h"

namespace gossamer::kernels {

namespace {

// Builds the transposed pattern by a counting sort over the columns (stable, so the output rows
// in each column come out sorted).
void build_transpose(CsrWeight& w) {
  const int64_t nnz = w.nnz();
  w.t_row_ptr.assign(static_cast<size_t>(w.cols + 1), 0);
  for (int32_t c : w.col_idx) ++w.t_row_ptr[static_cast<size_t>(c) + 1];
  for (int64_t i = 0; i < w.cols; ++i) w.t_row_ptr[i + 1] += w.t_row_ptr[i];
  w.t_col_idx.resize(static_cast<size_t>(nnz));
  w.t_perm.resize(static_cast<size_t>(nnz));
  std::vector<int32_t> next(w.t_row_ptr.begin(), w.t_row_ptr.end() - 1);
  for (int64_t r = 0; r < w.rows; ++r) {
    for (int32_t k = w.row_ptr[r]; k < w.row_ptr[r + 1]; ++k) {
      const int32_t slot = next[static_cast<size_t>(w.col_idx[k])]++;
      w.t_col_idx[slot] = static_cast<int32_t>(r);
      w.t_perm[slot] = k;
    }
  }
}

CsrWeight build_csr(const at::Tensor& w, const at::Tensor* mask) {
  const char* who = "csr_from_dense";
  detail::check_weight(w, who);
  at::Tensor wc = w.contiguous();
  at::Tensor mc;
  if (mask != nullptr) mc = detail::mask_as_bool(*mask, w, who);
  const int64_t rows = w.size(0), cols = w.size(1);
  const float* wp = wc.data_ptr<float>();
  const bool* mp = mask ? mc.data_ptr<bool>() : nullptr;

  CsrWeight out;
  out.rows = rows;
  out.cols = cols;
  out.row_ptr.assign(static_cast<size_t>(rows + 1), 0);
  std::vector<float> vals;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const int64_t at_rc = r * cols + c;
      const bool keep = mp ? mp[at_rc] : (wp[at_rc] != 0.0f);
      if (keep) {
        out.col_idx.push_back(static_cast<int32_t>(c));
        vals.push_back(wp[at_rc]);
      }
    }
    if (out.col_idx.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
      throw std::invalid_argument(std::string(who) + ": more than 2^31-1 non-zeros in weight " +
                                  detail::shape_of(w) + "; split the layer");
    }
    out.row_ptr[r + 1] = static_cast<int32_t>(out.col_idx.size());
  }
  out.values = at::from_blob(vals.data(), {static_cast<int64_t>(vals.size())}, at::kFloat).clone();
  build_transpose(out);
  return out;
}

}  // namespace

double CsrWeight::sparsity() const {
  const double total = static_cast<double>(rows) * static_cast<double>(cols);
  return total > 0 ? 1.0 - static_cast<double>(nnz()) / total : 0.0;
}

CsrWeight csr_from_dense(const at::Tensor& w) { return build_csr(w, nullptr); }

CsrWeight csr_from_dense(const at::Tensor& w, const at::Tensor& mask) { return build_csr(w, &mask); }

void csr_validate(const CsrWeight& w) {
  auto fail = [&](const std::string& what) {
    std::ostringstream os;
    os << "CsrWeight [" << w.rows << ", " << w.cols << "] with " << w.col_idx.size()
       << " column indices: " << what;
    throw std::invalid_argument(os.str());
  };
  if (w.rows < 0 || w.cols < 0) fail("negative shape");
  if (w.rows > std::numeric_limits<int32_t>::max() || w.cols > std::numeric_limits<int32_t>::max())
    fail("shape does not fit int32 indices");
  if (static_cast<int64_t>(w.row_ptr.size()) != w.rows + 1) fail("row_ptr must have rows + 1 entries");
  if (w.row_ptr[0] != 0) fail("row_ptr[0] must be 0");
  for (int64_t r = 0; r < w.rows; ++r) {
    if (w.row_ptr[r + 1] < w.row_ptr[r]) fail("row_ptr decreases at row " + std::to_string(r));
    for (int32_t k = w.row_ptr[r]; k < w.row_ptr[r + 1]; ++k) {
      if (w.col_idx[k] < 0 || w.col_idx[k] >= w.cols)
        fail("column index " + std::to_string(w.col_idx[k]) + " out of range in row " + std::to_string(r));
      if (k > w.row_ptr[r] && w.col_idx[k] <= w.col_idx[k - 1])
        fail("column indices not strictly increasing in row " + std::to_string(r));
    }
  }
  if (w.row_ptr[w.rows] != static_cast<int32_t>(w.col_idx.size())) fail("row_ptr[rows] must equal nnz");
  if (!w.values.defined() || w.values.scalar_type() != at::kFloat || w.values.dim() != 1 ||
      w.values.numel() != w.nnz() || !w.values.is_contiguous())
    fail("values must be a contiguous float32 [nnz] tensor, got " +
         (w.values.defined() ? detail::shape_of(w.values) : std::string("undefined")));
  if (static_cast<int64_t>(w.t_row_ptr.size()) != w.cols + 1 || w.t_col_idx.size() != w.col_idx.size() ||
      w.t_perm.size() != w.col_idx.size())
    fail("transposed pattern missing or stale (build with csr_from_parts)");
}

CsrWeight csr_from_parts(int64_t rows, int64_t cols, std::vector<int32_t> row_ptr,
                         std::vector<int32_t> col_idx, at::Tensor values) {
  CsrWeight w;
  w.rows = rows;
  w.cols = cols;
  w.row_ptr = std::move(row_ptr);
  w.col_idx = std::move(col_idx);
  w.values = std::move(values);
  // Validate the structure first so that build_transpose never indexes out of range.
  if (w.rows >= 0 && w.cols >= 0 && static_cast<int64_t>(w.row_ptr.size()) == w.rows + 1 &&
      w.row_ptr[w.rows] == static_cast<int32_t>(w.col_idx.size())) {
    bool ok = true;
    for (int32_t c : w.col_idx) ok = ok && c >= 0 && c < w.cols;
    for (int64_t r = 0; r < w.rows; ++r) ok = ok && w.row_ptr[r] <= w.row_ptr[r + 1];
    if (ok) build_transpose(w);
  }
  csr_validate(w);
  return w;
}

at::Tensor csr_to_dense(const CsrWeight& w) { return csr_scatter_to_dense(w, w.values); }

at::Tensor csr_scatter_to_dense(const CsrWeight& w, const at::Tensor& nz_values) {
  if (!nz_values.defined() || nz_values.numel() != w.nnz()) {
    throw std::invalid_argument("csr_scatter_to_dense: expected " + std::to_string(w.nnz()) +
                                " values for a CsrWeight [" + std::to_string(w.rows) + ", " +
                                std::to_string(w.cols) + "], got " +
                                (nz_values.defined() ? detail::shape_of(nz_values) : "undefined"));
  }
  at::Tensor v = nz_values.to(at::kFloat).contiguous();
  at::Tensor out = at::zeros({w.rows, w.cols}, at::kFloat);
  float* o = out.data_ptr<float>();
  const float* vp = v.data_ptr<float>();
  for (int64_t r = 0; r < w.rows; ++r)
    for (int32_t k = w.row_ptr[r]; k < w.row_ptr[r + 1]; ++k) o[r * w.cols + w.col_idx[k]] = vp[k];
  return out;
}

void csr_update_values(CsrWeight& w, const at::Tensor& dense) {
  detail::check_weight(dense, "csr_update_values");
  if (dense.size(0) != w.rows || dense.size(1) != w.cols) {
    throw std::invalid_argument("csr_update_values: dense weight " + detail::shape_of(dense) +
                                " does not match the CsrWeight [" + std::to_string(w.rows) + ", " +
                                std::to_string(w.cols) + "]");
  }
  at::Tensor dc = dense.contiguous();
  const float* d = dc.data_ptr<float>();
  // Values may be shared with an autograd graph that saved them: write a fresh tensor.
  at::Tensor v = at::empty({w.nnz()}, at::kFloat);
  float* vp = v.data_ptr<float>();
  for (int64_t r = 0; r < w.rows; ++r)
    for (int32_t k = w.row_ptr[r]; k < w.row_ptr[r + 1]; ++k) vp[k] = d[r * w.cols + w.col_idx[k]];
  w.values = v;
}

}  // namespace gossamer::kernels
