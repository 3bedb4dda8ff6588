// Error feedback (EF) as a memory kept beside a compressor: what compression dropped is added to
// the next message, so that nothing is lost for good (x <- e + g; send C(x); e <- x - D(C(x))).
#pragma once

#include <ATen/core/Tensor.h>

namespace gossamer::compress {

class ErrorFeedback {
 public:
  // The message to compress: x plus the remembered error (the error starts at 0). The result is a
  // buffer of this object, valid until the next call.
  const at::Tensor& compensate(const at::Tensor& x);
  // After sending: the error becomes the compensated message minus what the receiver decodes.
  void remember(const at::Tensor& decoded);
  // The memory itself, [numel] float32 (undefined before the first compensate): for checkpoints and
  // for masks (a pruned weight must not keep an error that would come back with it).
  at::Tensor& memory() { return error_; }

 private:
  at::Tensor error_, compensated_;
};

}  // namespace gossamer::compress
