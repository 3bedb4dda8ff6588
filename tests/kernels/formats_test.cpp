// CSR and packed N:M formats: round trips, transposed patterns, and validation errors.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <stdexcept>
#include <tuple>

#include "gossamer/kernels/csr.h"
#include "gossamer/kernels/nm.h"
#include "kernel_test_util.h"

namespace gk = gossamer::kernels;
using gk::testing::random_mask;
using gk::testing::random_nm_mask;
using gk::testing::uniform;

TEST(CsrFormat, RoundTripDropsZeros) {
  at::Tensor w = uniform({17, 33}, 1) * random_mask(17, 33, 0.7, 2);
  gk::CsrWeight c = gk::csr_from_dense(w);
  EXPECT_EQ(c.nnz(), w.ne(0).sum().item<int64_t>());
  EXPECT_TRUE(at::equal(gk::csr_to_dense(c), w));
  EXPECT_NO_THROW(gk::csr_validate(c));
}

TEST(CsrFormat, MaskKeepsExplicitZerosAndEmptyRows) {
  at::Tensor w = uniform({6, 5}, 3);
  at::Tensor mask = random_mask(6, 5, 0.5, 4);
  mask[2].fill_(false);  // an empty row
  w[0][0] = 0.0f;
  mask[0][0] = true;     // an entry of the pattern whose value is 0
  gk::CsrWeight c = gk::csr_from_dense(w, mask);
  EXPECT_EQ(c.nnz(), mask.sum().item<int64_t>());
  EXPECT_EQ(c.row_ptr[3], c.row_ptr[2]);
  EXPECT_TRUE(at::equal(gk::csr_to_dense(c), w * mask));
  // 0/1 float masks are accepted too.
  gk::CsrWeight c2 = gk::csr_from_dense(w, mask.to(at::kFloat));
  EXPECT_EQ(c2.col_idx, c.col_idx);
}

TEST(CsrFormat, TransposedPatternMatches) {
  at::Tensor w = uniform({9, 13}, 5) * random_mask(9, 13, 0.6, 6);
  gk::CsrWeight c = gk::csr_from_dense(w);
  const float* v = c.values.data_ptr<float>();
  for (int64_t i = 0; i < c.cols; ++i) {
    for (int32_t j = c.t_row_ptr[i]; j < c.t_row_ptr[i + 1]; ++j) {
      EXPECT_EQ(v[c.t_perm[j]], w[c.t_col_idx[j]][i].item<float>());
      if (j > c.t_row_ptr[i]) {
        EXPECT_LT(c.t_col_idx[j - 1], c.t_col_idx[j]);
      }
    }
  }
}

TEST(CsrFormat, AllZeroFullAndEmptyShapes) {
  gk::CsrWeight z = gk::csr_from_dense(at::zeros({4, 3}));
  EXPECT_EQ(z.nnz(), 0);
  EXPECT_DOUBLE_EQ(z.sparsity(), 1.0);
  gk::CsrWeight f = gk::csr_from_dense(at::ones({4, 3}));
  EXPECT_EQ(f.nnz(), 12);
  gk::CsrWeight e = gk::csr_from_dense(at::zeros({0, 3}));
  EXPECT_EQ(e.rows, 0);
  EXPECT_EQ(gk::csr_to_dense(e).sizes(), at::IntArrayRef({0, 3}));
}

TEST(CsrFormat, UpdateValuesKeepsPattern) {
  at::Tensor mask = random_mask(8, 8, 0.5, 7);
  gk::CsrWeight c = gk::csr_from_dense(uniform({8, 8}, 8), mask);
  at::Tensor w2 = uniform({8, 8}, 9);
  gk::csr_update_values(c, w2);
  EXPECT_TRUE(at::equal(gk::csr_to_dense(c), w2 * mask));
  EXPECT_THROW(gk::csr_update_values(c, uniform({8, 9}, 1)), std::invalid_argument);
}

TEST(CsrFormat, ClearErrors) {
  EXPECT_THROW(gk::csr_from_dense(at::zeros({3})), std::invalid_argument);
  EXPECT_THROW(gk::csr_from_dense(at::zeros({3, 3}, at::kDouble)), std::invalid_argument);
  try {
    gk::csr_from_dense(at::zeros({3, 4}), at::ones({4, 3}, at::kBool));
    FAIL() << "shape mismatch not detected";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("[4, 3]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[3, 4]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(gk::csr_from_dense(at::zeros({2, 2}), at::full({2, 2}, 2.0)), std::invalid_argument);
  // Bad explicit parts: index out of range, unsorted row, wrong row_ptr length, wrong values.
  EXPECT_THROW(gk::csr_from_parts(1, 2, {0, 1}, {2}, at::ones({1})), std::invalid_argument);
  EXPECT_THROW(gk::csr_from_parts(1, 3, {0, 2}, {2, 1}, at::ones({2})), std::invalid_argument);
  EXPECT_THROW(gk::csr_from_parts(2, 3, {0, 1}, {0}, at::ones({1})), std::invalid_argument);
  EXPECT_THROW(gk::csr_from_parts(1, 3, {0, 1}, {0}, at::ones({2})), std::invalid_argument);
  gk::CsrWeight ok = gk::csr_from_parts(2, 3, {0, 1, 3}, {2, 0, 1}, at::ones({3}));
  EXPECT_EQ(ok.t_row_ptr, (std::vector<int32_t>{0, 1, 2, 3}));
}

class NmFormat : public ::testing::TestWithParam<std::tuple<int64_t, int64_t, int64_t>> {};

TEST_P(NmFormat, RoundTripIncludingPartialGroup) {
  const auto [n, m, in] = GetParam();
  const int64_t out = 5;
  at::Tensor mask = random_nm_mask(out, in, n, m, 10 + n * 31 + m + in);
  at::Tensor w = uniform({out, in}, 11) * mask;
  gk::NmWeight p = gk::nm_from_dense(w, mask, n, m);
  EXPECT_EQ(p.groups, (in + m - 1) / m);
  EXPECT_EQ(p.values.sizes(), at::IntArrayRef({out, p.groups * n}));
  EXPECT_TRUE(at::equal(gk::nm_to_dense(p), w));
  EXPECT_EQ(static_cast<int64_t>(p.t_col_idx.size()), mask.sum().item<int64_t>());
  // Without a mask the non-zeros are the pattern (uniform() never yields exact zeros here).
  gk::NmWeight q = gk::nm_from_dense(w, n, m);
  EXPECT_TRUE(at::equal(gk::nm_to_dense(q), w));
  at::Tensor w2 = uniform({out, in}, 12);
  gk::nm_update_values(p, w2);
  EXPECT_TRUE(at::equal(gk::nm_to_dense(p), w2 * mask));
}

INSTANTIATE_TEST_SUITE_P(Patterns, NmFormat,
                         ::testing::Values(std::make_tuple(1, 2, 7), std::make_tuple(1, 4, 16),
                                           std::make_tuple(2, 4, 13), std::make_tuple(3, 4, 5),
                                           std::make_tuple(2, 8, 33), std::make_tuple(4, 8, 8),
                                           std::make_tuple(7, 8, 3), std::make_tuple(2, 4, 1)));

TEST(NmFormatErrors, TooManyPerGroupNamesRowAndGroup) {
  at::Tensor w = at::ones({2, 8});
  try {
    gk::nm_from_dense(w, 2, 4);
    FAIL() << "dense weight accepted as 2:4";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("row 0 group 0"), std::string::npos) << e.what();
  }
  EXPECT_THROW(gk::nm_from_dense(w, 4, 4), std::invalid_argument);
  EXPECT_THROW(gk::nm_from_dense(w, 0, 4), std::invalid_argument);
  EXPECT_THROW(gk::nm_from_dense(w, at::ones({2, 7}), 1, 2), std::invalid_argument);
}

TEST(NmFormatErrors, FewerThanNIsPadded) {
  at::Tensor w = at::zeros({1, 8});
  w[0][5] = 3.0f;  // group 1 keeps one of two allowed, group 0 keeps none
  gk::NmWeight p = gk::nm_from_dense(w, 2, 4);
  EXPECT_EQ(p.pad_slots.size(), 3u);
  EXPECT_TRUE(at::equal(gk::nm_to_dense(p), w));
}
