// Argument checks shared by the kernels (see gossamer/kernels/detail.h).
#include "gossamer/kernels/detail.h"

#include <ATen/ATen.h>

#include <sstream>
#include <stdexcept>

namespace gossamer::kernels::detail {

std::string shape_of(const at::Tensor& t) {
  if (!t.defined()) return "undefined tensor";
  std::ostringstream os;
  os << t.sizes() << " " << t.scalar_type();
  return os.str();
}

void check_weight(const at::Tensor& w, const char* who) {
  if (!w.defined() || w.dim() != 2 || w.scalar_type() != at::kFloat || !w.device().is_cpu()) {
    throw std::invalid_argument(std::string(who) +
                                ": weight must be a 2-D float32 CPU tensor [out, in], got " +
                                shape_of(w));
  }
}

at::Tensor mask_as_bool(const at::Tensor& mask, const at::Tensor& w, const char* who) {
  if (!mask.defined() || mask.sizes() != w.sizes()) {
    throw std::invalid_argument(std::string(who) + ": mask " + shape_of(mask) +
                                " must have the weight's shape " + shape_of(w));
  }
  if (mask.scalar_type() == at::kBool) return mask.contiguous();
  if (at::ne(mask, 0).logical_and(at::ne(mask, 1)).any().item<bool>()) {
    throw std::invalid_argument(std::string(who) + ": mask " + shape_of(mask) +
                                " must be bool or hold only 0 and 1");
  }
  return mask.ne(0).contiguous();
}

void check_activations(const at::Tensor& x, int64_t features, const char* who, const char* what) {
  if (!x.defined() || x.dim() != 2 || x.scalar_type() != at::kFloat || !x.device().is_cpu() ||
      x.size(1) != features) {
    throw std::invalid_argument(std::string(who) + ": " + what +
                                " must be a 2-D float32 CPU tensor [batch, " +
                                std::to_string(features) + "], got " + shape_of(x));
  }
}

std::vector<int64_t> split_rows(const int32_t* row_ptr, int64_t rows, int64_t parts) {
  std::vector<int64_t> bounds(static_cast<size_t>(parts + 1), 0);
  bounds[parts] = rows;
  if (row_ptr == nullptr) {
    for (int64_t t = 1; t < parts; ++t) bounds[t] = rows * t / parts;
    return bounds;
  }
  const double total = static_cast<double>(row_ptr[rows]) + static_cast<double>(rows);
  for (int64_t t = 1; t < parts; ++t) {
    const double target = total * static_cast<double>(t) / static_cast<double>(parts);
    int64_t lo = bounds[t - 1], hi = rows;  // first r with work(r) >= target
    while (lo < hi) {
      const int64_t mid = lo + (hi - lo) / 2;
      if (static_cast<double>(row_ptr[mid]) + static_cast<double>(mid) < target) lo = mid + 1;
      else hi = mid;
    }
    bounds[t] = lo;
  }
  return bounds;
}

}  // namespace gossamer::kernels::detail
