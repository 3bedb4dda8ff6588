#include <gtest/gtest.h>
#include <ATen/ATen.h>
#include "gossamer/topology/topology.h"

using gossamer::topology::MixingMatrix;
using gossamer::topology::Topology;

TEST(MixingMatrix, SetGetDenseAndNeighbours) {
  MixingMatrix m(3);
  m.set(0, 0, 0.5); m.set(0, 1, 0.5);
  m.set(1, 0, 0.5); m.set(1, 1, 0.25); m.set(1, 2, 0.25);
  m.set(2, 1, 0.25); m.set(2, 2, 0.75);
  EXPECT_DOUBLE_EQ(m.get(1, 2), 0.25);
  EXPECT_DOUBLE_EQ(m.get(0, 2), 0.0);
  at::Tensor d = m.dense();
  EXPECT_DOUBLE_EQ(d[2][2].item<double>(), 0.75);
  Topology t("hand", {m});
  auto in1 = t.in_neighbors(1, 7);
  ASSERT_EQ(in1.size(), 2u);
  EXPECT_EQ(in1[0].rank, 0);
  EXPECT_EQ(in1[1].rank, 2);
  auto out0 = t.out_neighbors(0, 0);
  ASSERT_EQ(out0.size(), 1u);
  EXPECT_EQ(out0[0].rank, 1);
  EXPECT_DOUBLE_EQ(out0[0].weight, 0.5);
  m.set(0, 1, 0.0);
  EXPECT_EQ(m.row(0).size(), 1u);
}

TEST(MixingMatrix, RejectsBadSizesAndIndices) {
  EXPECT_THROW(MixingMatrix(0), std::invalid_argument);
  MixingMatrix m(2);
  EXPECT_THROW(m.set(2, 0, 1.0), std::out_of_range);
  EXPECT_THROW(Topology("x", {}), std::invalid_argument);
  EXPECT_THROW(Topology("x", {MixingMatrix(2), MixingMatrix(3)}), std::invalid_argument);
}
