#include "gossamer/compress/error_feedback.h"

#include <ATen/ATen.h>

#include <stdexcept>

namespace gossamer::compress {

const at::Tensor& ErrorFeedback::compensate(const at::Tensor& x) {
  if (!error_.defined()) error_ = at::zeros_like(x);
  if (error_.sizes() != x.sizes()) {
    throw std::invalid_argument("error feedback: a message of shape " + c10::str(x.sizes()) +
                                " after messages of shape " + c10::str(error_.sizes()) +
                                "; keep one ErrorFeedback per message stream");
  }
  compensated_ = x + error_;
  return compensated_;
}

void ErrorFeedback::remember(const at::Tensor& decoded) {
  if (!compensated_.defined()) throw std::logic_error("ErrorFeedback::remember before compensate");
  at::sub_out(error_, compensated_, decoded.view(compensated_.sizes()));
}

}  // namespace gossamer::compress
