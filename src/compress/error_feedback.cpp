#include "gossamer/compress/error_feedback.h"

#include <ATen/ATen.h>

#include <stdexcept>
#include <string>

namespace gossamer::compress {

ErrorFeedback::ErrorFeedback(int64_t numel) {
  if (numel < 0) throw std::invalid_argument("error feedback: numel must be >= 0, got " + std::to_string(numel));
  error_ = at::zeros({numel}, at::kFloat);
}

namespace {

// Reuses `buffer` when it already has the shape.
at::Tensor& sized(at::Tensor& buffer, int64_t n) {
  if (!buffer.defined() || buffer.numel() != n) buffer = at::empty({n}, at::kFloat);
  return buffer;
}

}  // namespace

const at::Tensor& ErrorFeedback::compensate(const at::Tensor& x, const at::Tensor& index) {
  const at::Tensor flat = x.reshape({-1});
  const int64_t n = flat.numel();
  if (!error_.defined()) {
    // Built without numel: the first message must be dense, and sizes the memory.
    if (index.defined()) throw std::logic_error("ErrorFeedback: a packed message before the memory has a size");
    error_ = at::zeros({n}, at::kFloat);
  }
  index_ = index;
  if (!index.defined()) {
    if (n != error_.numel()) {
      throw std::invalid_argument("error feedback: a dense message of " + std::to_string(n) +
                                  " values for a memory of " + std::to_string(error_.numel()) +
                                  "; keep one ErrorFeedback per message stream");
    }
    at::add_out(sized(compensated_, n), flat, error_);
  } else {
    if (index.numel() != n) {
      throw std::invalid_argument("error feedback: a packed message of " + std::to_string(n) + " values with " +
                                  std::to_string(index.numel()) + " coordinates");
    }
    at::index_select_out(sized(scratch_, n), error_, 0, index);
    at::add_out(sized(compensated_, n), flat, scratch_);
  }
  return compensated_;
}

void ErrorFeedback::remember(const at::Tensor& decoded) {
  if (!compensated_.defined()) throw std::logic_error("ErrorFeedback::remember before compensate");
  const at::Tensor d = decoded.reshape({-1});
  if (!index_.defined()) {
    at::sub_out(error_, compensated_, d);
  } else {
    at::sub_out(scratch_, compensated_, d);
    error_.index_copy_(0, index_, scratch_);
  }
}

}  // namespace gossamer::compress
