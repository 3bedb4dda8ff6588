#include "gossamer/sparse/mask_bits.h"

#include <ATen/ATen.h>

#include <stdexcept>
#include <string>

namespace gossamer::sparse {

at::Tensor pack_mask_bits(const at::Tensor& mask) {
  const at::Tensor flat = mask.reshape({-1});
  const at::Tensor ones = flat.eq(1);
  if (!at::logical_or(ones, flat.eq(0)).all().item<bool>()) {
    throw std::invalid_argument("pack_mask_bits: the mask holds values other than 0 and 1");
  }
  const int64_t n = flat.numel();
  const int64_t bytes = (n + 7) / 8;
  at::Tensor padded = at::zeros({bytes * 8}, at::kByte);
  padded.narrow(0, 0, n).copy_(ones);
  const at::Tensor weights = at::tensor({1, 2, 4, 8, 16, 32, 64, 128}, at::kByte);
  // Each byte's bits are distinct powers of two: the sum never exceeds 255.
  return padded.view({bytes, 8}).mul(weights).sum(1, /*keepdim=*/false, at::kByte);
}

void unpack_mask_bits(const at::Tensor& bits, at::Tensor& mask) {
  const int64_t n = mask.numel();
  if (n > 8 * bits.numel()) {
    throw std::invalid_argument("unpack_mask_bits: " + std::to_string(bits.numel()) + " bytes cannot hold " +
                                std::to_string(n) + " coordinates");
  }
  const at::Tensor shifts = at::arange(8, at::kByte);
  const at::Tensor unpacked = bits.unsqueeze(1).bitwise_right_shift(shifts).bitwise_and(1).reshape({-1});
  mask.reshape({-1}).copy_(unpacked.narrow(0, 0, n));
}

}  // namespace gossamer::sparse
