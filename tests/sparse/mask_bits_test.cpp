// Masks as bits on the wire: an exact round trip for sizes around byte boundaries, the byte count,
// the bit order, and a clear error for a mask that is not 0/1.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "gossamer/sparse/mask_bits.h"

namespace gossamer::sparse {
namespace mask_bits_test {

TEST(MaskBits, RoundTripIsExactAroundByteBoundaries) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  for (int64_t n : {0, 1, 7, 8, 9, 15, 16, 17, 1000, 61706}) {
    const at::Tensor mask = at::rand({n}, gen).lt(0.3).to(at::kFloat);
    const at::Tensor bits = pack_mask_bits(mask);
    EXPECT_EQ(bits.numel(), (n + 7) / 8) << n;
    EXPECT_EQ(bits.scalar_type(), at::kByte);
    at::Tensor back = at::full({n}, 0.5f);
    unpack_mask_bits(bits, back);
    EXPECT_TRUE(back.equal(mask)) << n;
  }
}

TEST(MaskBits, BitKOfByteBIsCoordinateEightBPlusK) {
  at::Tensor mask = at::zeros({10});
  mask[0] = 1;  // byte 0, bit 0
  mask[3] = 1;  // byte 0, bit 3
  mask[9] = 1;  // byte 1, bit 1
  const at::Tensor bits = pack_mask_bits(mask);
  ASSERT_EQ(bits.numel(), 2);
  EXPECT_EQ(bits[0].item<int>(), 1 + 8);
  EXPECT_EQ(bits[1].item<int>(), 2);
}

TEST(MaskBits, ANonBinaryMaskOrTooFewBytesAreRefused) {
  EXPECT_THROW(pack_mask_bits(at::tensor({0.f, 0.5f, 1.f})), std::invalid_argument);
  at::Tensor big = at::zeros({17});
  EXPECT_THROW(unpack_mask_bits(at::zeros({2}, at::kByte), big), std::invalid_argument);
}

}  // namespace mask_bits_test
}  // namespace gossamer::sparse
