#include "gossamer/sparse/woodfisher.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>

namespace gossamer::sparse {

namespace {

std::string describe(const at::Tensor& t) {
  std::ostringstream os;
  os << t.sizes() << " " << c10::toString(t.scalar_type());
  return os.str();
}

bool is_supported_float(at::ScalarType s) { return s == at::kFloat || s == at::kDouble; }

// A tensor that must hold `dim` floating-point entries (any shape).
void check_vector(const at::Tensor& t, int64_t dim, const char* who, const char* name) {
  if (!t.defined()) {
    throw std::invalid_argument(std::string(who) + ": " + name + " is an undefined tensor");
  }
  if (!is_supported_float(t.scalar_type())) {
    throw std::invalid_argument(std::string(who) + ": " + name + " " + describe(t) +
                                " must be float32 or float64");
  }
  if (t.numel() != dim) {
    throw std::invalid_argument(std::string(who) + ": " + name + " " + describe(t) + " has " +
                                std::to_string(t.numel()) + " entries, expected dim = " + std::to_string(dim));
  }
}

}  // namespace

void WoodFisherOptions::validate() const {
  if (block_size < 1) {
    throw std::invalid_argument("WoodFisherOptions: block_size = " + std::to_string(block_size) +
                                " must be at least 1");
  }
  if (!(damping > 0.0) || !std::isfinite(damping)) {
    std::ostringstream os;
    os << "WoodFisherOptions: damping = " << damping << " must be a finite number > 0";
    throw std::invalid_argument(os.str());
  }
  if (!is_supported_float(dtype)) {
    throw std::invalid_argument(std::string("WoodFisherOptions: dtype = ") + c10::toString(dtype) +
                                " must be Float (float32) or Double (float64)");
  }
}

WoodFisherInverse::WoodFisherInverse(int64_t dim, int64_t num_samples, WoodFisherOptions opt)
    : dim_(dim), num_samples_(num_samples), opt_(opt) {
  opt_.validate();
  if (dim < 0) {
    throw std::invalid_argument("WoodFisherInverse: dim = " + std::to_string(dim) + " must be >= 0");
  }
  if (num_samples < 1) {
    throw std::invalid_argument("WoodFisherInverse: num_samples = " + std::to_string(num_samples) +
                                " must be >= 1 (the N of the Fisher average)");
  }
  // A block longer than the vector would only store padding.
  block_ = std::max<int64_t>(1, std::min(opt_.block_size, dim));
  num_blocks_ = (dim + block_ - 1) / block_;
  const auto topt = at::TensorOptions().dtype(opt_.dtype);
  // I/λ in every block, padding included: padding coordinates only ever see zero gradient
  // entries, so their rows and columns stay e_i/λ and never mix with real weights.
  blocks_ = at::eye(block_, topt).div_(opt_.damping).unsqueeze(0).repeat({num_blocks_, 1, 1});
  g_pad_ = at::zeros({num_blocks_, block_, 1}, topt);
  u_ = at::empty({num_blocks_, block_, 1}, topt);
}

at::Tensor WoodFisherInverse::padded(const at::Tensor& v) const {
  at::Tensor out = at::zeros({num_blocks_ * block_}, blocks_.options());
  out.narrow(0, 0, dim_).copy_(v.reshape({dim_}));
  return out.view({num_blocks_, block_, 1});
}

void WoodFisherInverse::add_gradient(const at::Tensor& g) {
  check_vector(g, dim_, "WoodFisherInverse::add_gradient", "gradient");
  if (samples_added_ >= num_samples_) {
    throw std::invalid_argument("WoodFisherInverse::add_gradient: all num_samples = " +
                                std::to_string(num_samples_) +
                                " gradients were already added; build a new inverse for more");
  }
  if (!at::isfinite(g).all().item<bool>()) {
    throw std::invalid_argument("WoodFisherInverse::add_gradient: gradient " + describe(g) +
                                " has a NaN or infinite entry (sample " + std::to_string(samples_added_) + ")");
  }
  // The padded tail of g_pad_ was zeroed at construction and is never written.
  g_pad_.view({num_blocks_ * block_}).narrow(0, 0, dim_).copy_(g.reshape({dim_}));
  at::bmm_out(u_, blocks_, g_pad_);                                  // u = F⁻¹ g, per block
  at::Tensor denom = (g_pad_ * u_).sum(1, /*keepdim=*/true).add_(static_cast<double>(num_samples_));
  // F⁻¹ -= s sᵀ with s = u / sqrt(N + gᵀu): an outer product of one vector with itself keeps
  // every block exactly symmetric (s_i·s_j == s_j·s_i), unlike u (u/d)ᵀ.
  u_.div_(denom.sqrt_());
  blocks_.baddbmm_(u_, u_.transpose(1, 2), /*beta=*/1.0, /*alpha=*/-1.0);
  ++samples_added_;
}

at::Tensor WoodFisherInverse::diagonal() const {
  return blocks_.diagonal(0, 1, 2).reshape({num_blocks_ * block_}).narrow(0, 0, dim_).contiguous();
}

at::Tensor WoodFisherInverse::dense() const {
  at::Tensor out = at::zeros({dim_, dim_}, blocks_.options());
  for (int64_t b = 0; b < num_blocks_; ++b) {
    const int64_t start = b * block_;
    const int64_t len = std::min(block_, dim_ - start);
    out.narrow(0, start, len).narrow(1, start, len).copy_(blocks_[b].narrow(0, 0, len).narrow(1, 0, len));
  }
  return out;
}

at::Tensor WoodFisherInverse::apply(const at::Tensor& v) const {
  check_vector(v, dim_, "WoodFisherInverse::apply", "v");
  return at::bmm(blocks_, padded(v))
      .view({num_blocks_ * block_})
      .narrow(0, 0, dim_)
      .contiguous();
}

at::Tensor obs_scores(const at::Tensor& w, const WoodFisherInverse& finv) {
  check_vector(w, finv.dim(), "obs_scores", "w");
  at::Tensor wf = w.reshape({finv.dim()}).to(finv.options().dtype);
  at::Tensor rho = wf.square().div_(finv.diagonal().mul(2.0));
  return rho.to(w.scalar_type()).view(w.sizes());
}

at::Tensor obs_prune(const at::Tensor& w, const at::Tensor& prune_mask, const WoodFisherInverse& finv) {
  check_vector(w, finv.dim(), "obs_prune", "w");
  if (!prune_mask.defined() || prune_mask.sizes() != w.sizes()) {
    throw std::invalid_argument("obs_prune: prune_mask " +
                                (prune_mask.defined() ? describe(prune_mask) : std::string("(undefined)")) +
                                " must have the shape of w " + describe(w));
  }
  const int64_t dim = finv.dim();
  const at::ScalarType dt = finv.options().dtype;
  at::Tensor wf = w.reshape({dim}).to(dt);
  at::Tensor pruned = prune_mask.reshape({dim}).ne(0);
  // r_q = w_q / [F⁻¹]_qq on pruned entries, 0 elsewhere; δw = −F⁻¹ r.
  at::Tensor r = at::where(pruned, wf / finv.diagonal(), at::zeros({}, wf.options()));
  at::Tensor out = wf - finv.apply(r);
  out.masked_fill_(pruned, 0.0);
  return out.to(w.scalar_type()).view(w.sizes());
}

}  // namespace gossamer::sparse
