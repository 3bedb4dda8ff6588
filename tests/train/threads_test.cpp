// configure_threads sets LibTorch's intra-op threads and OpenBLAS's own pool.
#include <gtest/gtest.h>

#include <ATen/Parallel.h>

#include "gossamer/train/trainer.h"
#include "gossamer/util/blas.h"

using namespace gossamer;

TEST(Threads, IntraOpAndBlasThreadsAreSet) {
  const int before = util::set_blas_threads(0);  // 0: only reads
  if (before < 0) GTEST_SKIP() << "the BLAS behind libblas.so.3 is not OpenBLAS";
  EXPECT_EQ(train::configure_threads(2, 1), 2);
  EXPECT_EQ(at::get_num_threads(), 2);
  EXPECT_EQ(util::set_blas_threads(0), 1);
  train::configure_threads(1, 2);
  EXPECT_EQ(at::get_num_threads(), 1);
  EXPECT_EQ(util::set_blas_threads(0), 2);
  train::configure_threads(1, 0);  // 0 leaves OpenBLAS alone
  EXPECT_EQ(util::set_blas_threads(0), 2);
  util::set_blas_threads(before);
}
