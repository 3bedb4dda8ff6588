// Error feedback (EF) as a memory kept beside a compressor: what compression dropped is added to
// the next message, so that nothing is lost for good (x <- e + g; send C(x); e <- x - D(C(x))).
//
// The memory covers every coordinate of the stream (`numel`). A message may carry only some of
// them (a sparse model's packed values: `index`, ascending positions into the memory); the memory
// is then read and written at those positions only, so a layout that changes between messages
// (a mask that moves) never misaligns it: a coordinate keeps its error while it is not carried.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace gossamer::compress {

class ErrorFeedback {
 public:
  // Without numel the first (dense) message sizes the memory.
  ErrorFeedback() = default;
  // The memory starts at 0 for `numel` coordinates.
  explicit ErrorFeedback(int64_t numel);
  // The message to compress: x plus the remembered error at x's coordinates (`index`, or all of
  // them when undefined: then x has numel values). The result is a buffer of this object, valid
  // until the next call.
  const at::Tensor& compensate(const at::Tensor& x, const at::Tensor& index = at::Tensor());
  // After sending: the error at those coordinates becomes the compensated message minus what the
  // receiver decodes.
  void remember(const at::Tensor& decoded);
  // The memory itself, [numel] float32 (undefined before a sized start): for checkpoints and for masks (a pruned weight must not
  // keep an error that would come back with it).
  at::Tensor& memory() { return error_; }
  const at::Tensor& memory() const { return error_; }

 private:
  at::Tensor error_, compensated_, index_, scratch_;
};

}  // namespace gossamer::compress
