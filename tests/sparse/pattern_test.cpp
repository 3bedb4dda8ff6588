// Patterns (sparse/pattern.h) against hand-written masks and brute-force references.
//
// Every mask here is 0/1 exactly, so comparisons are exact (tolerance 0). The references sort
// explicitly with std::stable_sort (ties: lower index first), independently of the ATen sort the
// library uses.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <algorithm>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "gossamer/sparse/pattern.h"

using namespace gossamer::sparse;
using ::testing::HasSubstr;

namespace {

// A float tensor of the given shape from row-major values.
at::Tensor make(const std::vector<float>& values, std::vector<int64_t> shape) {
  return torch::tensor(values, torch::kFloat).reshape(shape).clone();
}

std::vector<float> to_vector(const at::Tensor& t) {
  at::Tensor c = t.to(at::kFloat).contiguous().reshape({-1});
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

// Indices of the `keep` largest values; ties go to the lower index.
std::vector<int64_t> reference_top(const std::vector<float>& v, int64_t keep) {
  std::vector<int64_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return v[a] > v[b]; });
  idx.resize(static_cast<size_t>(keep));
  return idx;
}

std::vector<float> reference_topk_mask(const std::vector<float>& v, int64_t keep) {
  std::vector<float> mask(v.size(), 0.0f);
  for (int64_t i : reference_top(v, keep)) mask[static_cast<size_t>(i)] = 1.0f;
  return mask;
}

// N:M reference for [out, in, kh, kw] (kh = kw = 1 for a linear weight), by explicit loops: the
// group g at (o, y, x) holds inputs [g*m, min((g+1)*m, in)) and keeps its min(n, size) best.
std::vector<float> reference_nm_mask(const at::Tensor& scores4, int64_t n, int64_t m) {
  const int64_t out = scores4.size(0), in = scores4.size(1), kh = scores4.size(2), kw = scores4.size(3);
  const at::Tensor contiguous = scores4.to(at::kFloat).contiguous();
  auto s = contiguous.accessor<float, 4>();
  std::vector<float> mask(static_cast<size_t>(scores4.numel()), 0.0f);
  auto flat = [&](int64_t o, int64_t i, int64_t y, int64_t x) { return ((o * in + i) * kh + y) * kw + x; };
  for (int64_t o = 0; o < out; ++o) {
    for (int64_t y = 0; y < kh; ++y) {
      for (int64_t x = 0; x < kw; ++x) {
        for (int64_t g0 = 0; g0 < in; g0 += m) {
          const int64_t size = std::min(m, in - g0);
          std::vector<float> group;
          for (int64_t i = g0; i < g0 + size; ++i) group.push_back(s[o][i][y][x]);
          for (int64_t j : reference_top(group, std::min(n, size))) mask[static_cast<size_t>(flat(o, g0 + j, y, x))] = 1.0f;
        }
      }
    }
  }
  return mask;
}

// Integer-valued random scores in [0, levels): plenty of ties.
at::Tensor tied_scores(std::vector<int64_t> shape, int64_t levels, uint64_t seed) {
  torch::manual_seed(seed);
  return torch::randint(0, levels, shape, torch::kLong).to(torch::kFloat);
}

}  // namespace

// ---- topk_mask --------------------------------------------------------------------------

TEST(TopkMask, KeepsTheLargestScoresWithShapeAndDtype) {
  at::Tensor s = make({0.5f, -3.0f, 2.0f, 7.0f, 1.0f, 0.0f}, {2, 3});
  at::Tensor mask = topk_mask(s, 3);
  EXPECT_EQ(mask.sizes(), s.sizes());
  EXPECT_EQ(mask.scalar_type(), at::kFloat);
  EXPECT_EQ(to_vector(mask), (std::vector<float>{0, 0, 1, 1, 1, 0}));  // 7, 2, 1
}

TEST(TopkMask, TiesGoToTheLowerFlatIndex) {
  // Three scores of 3 at flat 1, 2, 4: keep 2 takes 1 and 2.
  EXPECT_EQ(to_vector(topk_mask(make({1, 3, 3, 2, 3}, {5}), 2)), (std::vector<float>{0, 1, 1, 0, 0}));
  // A tie straddling the cut after a unique winner: 9 first, then the first two of the 4s.
  EXPECT_EQ(to_vector(topk_mask(make({4, 0, 4, 9, 4, 4}, {2, 3}), 3)), (std::vector<float>{1, 0, 1, 1, 0, 0}));
}

TEST(TopkMask, AllEqualWeightsKeepAPrefix) {
  // Large enough that ATen does not use a small-array sort path.
  for (int64_t numel : {10, 4099}) {
    at::Tensor s = torch::full({numel}, 0.25f);
    const int64_t keep = numel * 3 / 10;
    std::vector<float> expected(static_cast<size_t>(numel), 0.0f);
    std::fill(expected.begin(), expected.begin() + keep, 1.0f);
    EXPECT_EQ(to_vector(topk_mask(s, keep)), expected) << "numel " << numel;
  }
}

TEST(TopkMask, KeepZeroAndKeepNumel) {
  at::Tensor s = torch::randn({4, 5});
  EXPECT_EQ(topk_mask(s, 0).sum().item<float>(), 0.0f);
  EXPECT_EQ(topk_mask(s, 0).sizes(), s.sizes());
  EXPECT_EQ(topk_mask(s, 20).sum().item<float>(), 20.0f);
  EXPECT_EQ(topk_mask(s, 20).sizes(), s.sizes());
}

TEST(TopkMask, KeepOutsideRangeThrowsNamingTheValue) {
  at::Tensor s = torch::randn({3, 4});
  try {
    topk_mask(s, 13);
    FAIL() << "keep = numel + 1 accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("13"));
  }
  EXPECT_THROW(topk_mask(s, -1), std::invalid_argument);
}

TEST(TopkMask, MatchesAStableSortReferenceOnTiedRandomScores) {
  for (uint64_t seed = 0; seed < 6; ++seed) {
    at::Tensor s = tied_scores({7, 3, 5}, 6, seed);  // 105 weights over 6 values
    const std::vector<float> v = to_vector(s);
    for (int64_t keep : {1, 17, 52, 104}) {
      EXPECT_EQ(to_vector(topk_mask(s, keep)), reference_topk_mask(v, keep)) << "seed " << seed << " keep " << keep;
    }
  }
}

// ---- nm_mask ----------------------------------------------------------------------------

TEST(NmMask, TwoFourOnALinearWeight) {
  // [2, 8]: groups are columns 0-3 and 4-7 of each row.
  at::Tensor s = make({0.1f, 0.9f, 0.5f, 0.3f, /**/ -1.0f, -4.0f, 2.0f, -0.5f,  //
                       8.0f, 1.0f, 7.0f, 9.0f, /**/ 0.0f, 0.0f, 0.0f, 1.0f},
                      {2, 8});
  const std::vector<float> expected{0, 1, 1, 0, /**/ 0, 0, 1, 1,  //
                                    1, 0, 0, 1, /**/ 1, 0, 0, 1};  // last group: 1, then the tie 0,0,0 -> lowest index
  at::Tensor mask = nm_mask(s, 2, 4);
  EXPECT_EQ(mask.sizes(), s.sizes());
  EXPECT_EQ(to_vector(mask), expected);
}

TEST(NmMask, OneFourOnALinearWeight) {
  at::Tensor s = make({3, 1, 2, 0, /**/ 5, 6, 6, 1,  //
                       0, 0, 0, 0, /**/ -1, -2, -3, -0.5f},
                      {2, 8});
  const std::vector<float> expected{1, 0, 0, 0, /**/ 0, 1, 0, 0,  // 6,6 tie -> index 5
                                    1, 0, 0, 0, /**/ 0, 0, 0, 1};
  EXPECT_EQ(to_vector(nm_mask(s, 1, 4)), expected);
}

TEST(NmMask, FourEightOnALinearWeight) {
  at::Tensor s = make({8, 1, 7, 2, 6, 3, 5, 4,  //
                       1, 1, 1, 1, 1, 1, 1, 1,  //
                       -1, 5, -2, 5, -3, 5, -4, 0},
                      {3, 8});
  const std::vector<float> expected{1, 0, 1, 0, 1, 0, 1, 0,  //
                                    1, 1, 1, 1, 0, 0, 0, 0,  // all tied: the first four
                                    0, 1, 0, 1, 0, 1, 0, 1};  // 5,5,5 then 0
  EXPECT_EQ(to_vector(nm_mask(s, 4, 8)), expected);
}

TEST(NmMask, PartialEdgeGroupKeepsMinOfNAndRemainder) {
  // in = 6, 2:4: the edge group has r = 2 weights and keeps both (min(2, 2)), even the negative ones.
  at::Tensor s6 = make({4, 3, 2, 1, -7, -9}, {1, 6});
  EXPECT_EQ(to_vector(nm_mask(s6, 2, 4)), (std::vector<float>{1, 1, 0, 0, 1, 1}));
  // in = 5, 2:4: r = 1 keeps its single weight.
  at::Tensor s5 = make({4, 3, 2, 1, -100, /**/ 0, 1, 0, 1, 5}, {2, 5});
  EXPECT_EQ(to_vector(nm_mask(s5, 2, 4)), (std::vector<float>{1, 1, 0, 0, 1, /**/ 0, 1, 0, 1, 1}));
  // in = 7, 2:4: r = 3 keeps 2 of 3.
  at::Tensor s7 = make({0, 0, 0, 0, 1, -1, 2}, {1, 7});
  EXPECT_EQ(to_vector(nm_mask(s7, 2, 4)), (std::vector<float>{1, 1, 0, 0, 1, 0, 1}));
  // in = 3 < m: the whole row is one partial group and keeps min(2, 3) = 2.
  at::Tensor s3 = make({1, 3, 2}, {1, 3});
  EXPECT_EQ(to_vector(nm_mask(s3, 2, 4)), (std::vector<float>{0, 1, 1}));
  // in = 10, 4:8: r = 2 < n keeps both.
  at::Tensor s10 = make({1, 2, 3, 4, 5, 6, 7, 8, -5, -6}, {1, 10});
  EXPECT_EQ(to_vector(nm_mask(s10, 4, 8)), (std::vector<float>{0, 0, 0, 0, 1, 1, 1, 1, 1, 1}));
  // Scores of -inf are real weights and still beat the padding of the partial group.
  const float inf = std::numeric_limits<float>::infinity();
  at::Tensor sinf = make({1, 1, 1, 1, -inf, -inf}, {1, 6});
  EXPECT_EQ(to_vector(nm_mask(sinf, 2, 4)), (std::vector<float>{1, 1, 0, 0, 1, 1}));
}

TEST(NmMask, ConvGroupsRunAlongInputChannelsAtFixedOutAndKernelPosition) {
  // A small hand-checked case: [1, 4, 1, 2], 2:4. At (x=0) the channels score 1,4,3,2 -> keep 1,2;
  // at (x=1) they score 9,0,0,8 -> keep 0,3. A grouping along the kernel axis would differ.
  at::Tensor s = make({1, 9, /**/ 4, 0, /**/ 3, 0, /**/ 2, 8}, {1, 4, 1, 2});
  EXPECT_EQ(to_vector(nm_mask(s, 2, 4)), (std::vector<float>{0, 1, /**/ 1, 0, /**/ 1, 0, /**/ 0, 1}));

  // Random conv weights, including a partial group (in = 6) and many ties, against the loops.
  for (uint64_t seed = 0; seed < 4; ++seed) {
    at::Tensor w = tied_scores({3, 6, 2, 3}, 4, seed);
    for (auto [n, m] : std::vector<std::pair<int64_t, int64_t>>{{2, 4}, {1, 4}, {4, 8}, {1, 2}}) {
      at::Tensor mask = nm_mask(w, n, m);
      EXPECT_EQ(mask.sizes(), w.sizes());
      EXPECT_EQ(to_vector(mask), reference_nm_mask(w, n, m)) << "seed " << seed << " " << n << ":" << m;
    }
  }
}

TEST(NmMask, LinearMatchesTheLoopReferenceWithTies) {
  for (uint64_t seed = 10; seed < 14; ++seed) {
    at::Tensor w = tied_scores({5, 11}, 3, seed);  // in % 4 = 3, in % 8 = 3
    for (auto [n, m] : std::vector<std::pair<int64_t, int64_t>>{{2, 4}, {1, 4}, {4, 8}}) {
      EXPECT_EQ(to_vector(nm_mask(w, n, m)), reference_nm_mask(w.view({5, 11, 1, 1}), n, m))
          << "seed " << seed << " " << n << ":" << m;
    }
  }
}

TEST(NmMask, RejectsBadArguments) {
  EXPECT_THROW(nm_mask(torch::ones({8}), 2, 4), std::invalid_argument);
  EXPECT_THROW(nm_mask(torch::ones({2, 8}), 4, 4), std::invalid_argument);
  EXPECT_THROW(nm_mask(torch::ones({2, 8}), 0, 4), std::invalid_argument);
  EXPECT_THROW(nm_mask(torch::ones({2, 8}), 1, 1), std::invalid_argument);
}

// ---- block_mask -------------------------------------------------------------------------

TEST(BlockMask, OneByFourTilesScoredByMeanAndRoundedUpToWholeTiles) {
  // Tiles (row, col-group): (0,0) mean 1, (0,1) mean 5, (1,0) mean 2, (1,1) mean 2.25 (a single 9).
  at::Tensor s = make({1, 1, 1, 1, 5, 5, 5, 5,  //
                       2, 2, 2, 2, 0, 0, 0, 9},
                      {2, 8});
  EXPECT_EQ(to_vector(block_mask(s, 1, 4, 0)), std::vector<float>(16, 0.0f));
  EXPECT_EQ(to_vector(block_mask(s, 1, 4, 1)), (std::vector<float>{0, 0, 0, 0, 1, 1, 1, 1, /**/ 0, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(to_vector(block_mask(s, 1, 4, 4)), (std::vector<float>{0, 0, 0, 0, 1, 1, 1, 1, /**/ 0, 0, 0, 0, 0, 0, 0, 0}));
  // keep 5 needs a second tile: (1,1) at mean 2.25 beats (1,0) at 2.
  EXPECT_EQ(to_vector(block_mask(s, 1, 4, 5)), (std::vector<float>{0, 0, 0, 0, 1, 1, 1, 1, /**/ 0, 0, 0, 0, 1, 1, 1, 1}));
  EXPECT_EQ(to_vector(block_mask(s, 1, 4, 9)), (std::vector<float>{0, 0, 0, 0, 1, 1, 1, 1, /**/ 1, 1, 1, 1, 1, 1, 1, 1}));
  EXPECT_EQ(to_vector(block_mask(s, 1, 4, 16)), std::vector<float>(16, 1.0f));
}

TEST(BlockMask, OneByFourWithAPartialEdgeTile) {
  // [2, 6]: each row has a full tile (cols 0-3) and a 2-wide edge tile (cols 4-5).
  // Means: (0,0) 2.5, (0,1) 3 (sum 6, less than the full tile's 10), (1,0) 1, (1,1) 0.5.
  at::Tensor s = make({1, 2, 3, 4, 3, 3,  //
                       1, 1, 1, 1, 0, 1},
                      {2, 6});
  EXPECT_EQ(to_vector(block_mask(s, 1, 4, 2)), (std::vector<float>{0, 0, 0, 0, 1, 1, /**/ 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(to_vector(block_mask(s, 1, 4, 3)), (std::vector<float>{1, 1, 1, 1, 1, 1, /**/ 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(to_vector(block_mask(s, 1, 4, 7)), (std::vector<float>{1, 1, 1, 1, 1, 1, /**/ 1, 1, 1, 1, 0, 0}));
}

TEST(BlockMask, TwoByTwoTilesWithPartialEdgeRowsAndColumns) {
  // [3, 5] in 2x2 tiles: 2 tile rows x 3 tile columns; the last tile row is 1 high, the last
  // tile column 1 wide. Tile means (sizes): (0,0) 1 (4), (0,1) 2 (4), (0,2) 5 (2),
  // (1,0) 3 (2), (1,1) 0 (2), (1,2) 7 (1). Ranking by mean: (1,2), (0,2), (1,0), (0,1), (0,0), (1,1);
  // a ranking by sum would put (0,2)=10 and (0,1)=8 first instead.
  at::Tensor s = make({1, 1, 2, 2, 6,  //
                       1, 1, 2, 2, 4,  //
                       3, 3, 0, 0, 7},
                      {3, 5});
  using V = std::vector<float>;
  EXPECT_EQ(to_vector(block_mask(s, 2, 2, 1)), (V{0, 0, 0, 0, 0, /**/ 0, 0, 0, 0, 0, /**/ 0, 0, 0, 0, 1}));
  EXPECT_EQ(to_vector(block_mask(s, 2, 2, 2)), (V{0, 0, 0, 0, 1, /**/ 0, 0, 0, 0, 1, /**/ 0, 0, 0, 0, 1}));
  EXPECT_EQ(to_vector(block_mask(s, 2, 2, 3)), (V{0, 0, 0, 0, 1, /**/ 0, 0, 0, 0, 1, /**/ 0, 0, 0, 0, 1}));
  EXPECT_EQ(to_vector(block_mask(s, 2, 2, 4)), (V{0, 0, 0, 0, 1, /**/ 0, 0, 0, 0, 1, /**/ 1, 1, 0, 0, 1}));
  EXPECT_EQ(to_vector(block_mask(s, 2, 2, 6)), (V{0, 0, 1, 1, 1, /**/ 0, 0, 1, 1, 1, /**/ 1, 1, 0, 0, 1}));
  EXPECT_EQ(to_vector(block_mask(s, 2, 2, 10)), (V{1, 1, 1, 1, 1, /**/ 1, 1, 1, 1, 1, /**/ 1, 1, 0, 0, 1}));
  EXPECT_EQ(to_vector(block_mask(s, 2, 2, 14)), V(15, 1.0f));
}

TEST(BlockMask, TiedTilesGoToTheLowerTileIndex) {
  at::Tensor s = torch::ones({2, 8});
  // Tiles in row-major order: (0,0), (0,1), (1,0), (1,1).
  EXPECT_EQ(to_vector(block_mask(s, 1, 4, 4)), (std::vector<float>{1, 1, 1, 1, 0, 0, 0, 0, /**/ 0, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(to_vector(block_mask(s, 1, 4, 9)), (std::vector<float>{1, 1, 1, 1, 1, 1, 1, 1, /**/ 1, 1, 1, 1, 0, 0, 0, 0}));
}

TEST(BlockMask, ConvWeightIsTiledAsOutByInTimesKernel) {
  // [2, 2, 1, 2] viewed as [2, 4]: 1x4 tiles are whole output channels.
  at::Tensor s = make({1, 1, 1, 1, /**/ 0, 0, 3, 0}, {2, 2, 1, 2});
  at::Tensor mask = block_mask(s, 1, 4, 1);
  EXPECT_EQ(mask.sizes(), s.sizes());
  EXPECT_EQ(to_vector(mask), (std::vector<float>{1, 1, 1, 1, /**/ 0, 0, 0, 0}));  // mean 1 beats mean 0.75
  // 2x2 tiles on [2, 2, 1, 3] viewed as [2, 6]: three tiles of columns {0,1}, {2,3}, {4,5}.
  at::Tensor s2 = make({0, 0, 5, 5, 1, 1, /**/ 0, 0, 5, 5, 9, 0}, {2, 2, 1, 3});
  EXPECT_EQ(to_vector(block_mask(s2, 2, 2, 4)), (std::vector<float>{0, 0, 1, 1, 0, 0, /**/ 0, 0, 1, 1, 0, 0}));
}

TEST(BlockMask, RejectsBadArguments) {
  EXPECT_THROW(block_mask(torch::ones({8}), 1, 4, 2), std::invalid_argument);
  EXPECT_THROW(block_mask(torch::ones({2, 8}), 1, 4, 17), std::invalid_argument);
  EXPECT_THROW(block_mask(torch::ones({2, 8}), 1, 4, -1), std::invalid_argument);
}

// ---- select_mask, forced_density, Pattern -------------------------------------------------

TEST(SelectMask, DispatchesOnThePatternKind) {
  at::Tensor s = tied_scores({4, 8}, 5, 42);
  Pattern unstructured;
  EXPECT_EQ(to_vector(select_mask(s, 11, unstructured)), reference_topk_mask(to_vector(s), 11));

  Pattern nm;
  nm.kind = PatternKind::NM;
  nm.n = 1;
  nm.m = 4;
  // keep is ignored by N:M: the result is 1:4 whatever it says.
  for (int64_t keep : {0, 5, 32}) {
    EXPECT_EQ(to_vector(select_mask(s, keep, nm)), reference_nm_mask(s.view({4, 8, 1, 1}), 1, 4)) << keep;
  }

  Pattern block;
  block.kind = PatternKind::Block;
  block.block_rows = 2;
  block.block_cols = 2;
  EXPECT_EQ(to_vector(select_mask(s, 6, block)), to_vector(block_mask(s, 2, 2, 6)));
  EXPECT_EQ(select_mask(s, 6, block).sum().item<float>(), 8.0f);  // 6 rounded up to two 2x2 tiles
}

TEST(Pattern, ForcedDensityAndDescription) {
  Pattern p;
  EXPECT_LT(forced_density(p), 0.0);
  EXPECT_EQ(p.describe(), "unstructured");
  p.kind = PatternKind::NM;
  p.n = 2;
  p.m = 4;
  EXPECT_DOUBLE_EQ(forced_density(p), 0.5);
  EXPECT_EQ(p.describe(), "2:4");
  p.n = 1;
  p.m = 8;
  EXPECT_DOUBLE_EQ(forced_density(p), 0.125);
  p.kind = PatternKind::Block;
  p.block_rows = 1;
  p.block_cols = 4;
  EXPECT_LT(forced_density(p), 0.0);
  EXPECT_EQ(p.describe(), "block 1x4");
}

TEST(Pattern, ValidateRejectsBadFieldsAndNamesThem) {
  auto nm = [](int64_t n, int64_t m) {
    Pattern p;
    p.kind = PatternKind::NM;
    p.n = n;
    p.m = m;
    return p;
  };
  EXPECT_NO_THROW(nm(2, 4).validate());
  EXPECT_NO_THROW(nm(1, 2).validate());
  for (auto [n, m] : std::vector<std::pair<int64_t, int64_t>>{{0, 4}, {4, 4}, {5, 4}, {1, 1}, {-1, 4}}) {
    try {
      nm(n, m).validate();
      ADD_FAILURE() << n << ":" << m << " accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_THAT(e.what(), HasSubstr("n:m"));
      EXPECT_THAT(e.what(), HasSubstr(std::to_string(n) + ":" + std::to_string(m)));
    }
  }
  auto block = [](int64_t r, int64_t c) {
    Pattern p;
    p.kind = PatternKind::Block;
    p.block_rows = r;
    p.block_cols = c;
    return p;
  };
  EXPECT_NO_THROW(block(1, 1).validate());
  EXPECT_NO_THROW(block(2, 8).validate());
  for (auto [r, c] : std::vector<std::pair<int64_t, int64_t>>{{0, 4}, {1, 0}, {-2, 2}}) {
    try {
      block(r, c).validate();
      ADD_FAILURE() << "block " << r << "x" << c << " accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_THAT(e.what(), HasSubstr(r < 1 ? "block_rows" : "block_cols"));
    }
  }
}
