// Masks on the wire as bits: the pruner's mask agreement broadcasts one bit per coordinate (the
// mask is 0/1 by construction), 32x fewer bytes than the float32 mask itself.
#pragma once

#include <ATen/core/Tensor.h>

namespace gossamer::sparse {

// [ceil(numel / 8)] uint8 from a [numel] 0/1 float mask; bit k of byte b is coordinate 8b + k.
// Throws std::invalid_argument if an entry is neither 0 nor 1.
at::Tensor pack_mask_bits(const at::Tensor& mask);
// Writes the bits back into `mask` ([numel] float, numel <= 8 * bits.numel()).
void unpack_mask_bits(const at::Tensor& bits, at::Tensor& mask);

}  // namespace gossamer::sparse
