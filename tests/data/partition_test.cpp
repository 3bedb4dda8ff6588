#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <set>

#include "gossamer/data/partition.h"
#include "gossamer/data/sampler.h"
#include "gossamer/data/synthetic.h"

using namespace gossamer::data;

namespace {

at::Tensor balanced_labels(int64_t n, int64_t classes) { return at::arange(n, at::kLong).remainder(classes); }

void expect_exact_cover(const std::vector<std::vector<int64_t>>& parts, int64_t n) {
  std::vector<int> seen(static_cast<size_t>(n), 0);
  for (const auto& p : parts) {
    EXPECT_FALSE(p.empty());
    for (int64_t i : p) seen[static_cast<size_t>(i)]++;
  }
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(seen[static_cast<size_t>(i)], 1) << "sample " << i;
}

std::set<int64_t> classes_of(const std::vector<int64_t>& idx, const at::Tensor& labels) {
  std::set<int64_t> s;
  for (int64_t i : idx) s.insert(labels[i].item<int64_t>());
  return s;
}

}  // namespace

TEST(Partition, IidSplitsEvenlyAndCoversEverySampleOnce) {
  auto labels = balanced_labels(1003, 10);
  auto parts = partition(labels, 10, 4, PartitionSpec{PartitionKind::Iid});
  expect_exact_cover(parts, 1003);
  for (const auto& p : parts) EXPECT_TRUE(p.size() == 250 || p.size() == 251);
}

TEST(Partition, SameSeedSameSplitDifferentSeedDifferentSplit) {
  auto labels = balanced_labels(500, 10);
  PartitionSpec a{PartitionKind::Dirichlet, 0.3, 2, 7};
  PartitionSpec b = a;
  b.seed = 8;
  EXPECT_EQ(partition(labels, 10, 5, a), partition(labels, 10, 5, a));
  EXPECT_NE(partition(labels, 10, 5, a), partition(labels, 10, 5, b));
}

TEST(Partition, DirichletSmallAlphaConcentratesLabels) {
  auto labels = balanced_labels(6000, 10);
  auto skewed = partition(labels, 10, 8, PartitionSpec{PartitionKind::Dirichlet, 0.05, 2, 3});
  auto flat = partition(labels, 10, 8, PartitionSpec{PartitionKind::Dirichlet, 1000.0, 2, 3});
  expect_exact_cover(skewed, 6000);
  expect_exact_cover(flat, 6000);
  // Largest single-class share per worker, averaged: near 1 for alpha -> 0, near 0.1 for alpha -> inf.
  auto top_share = [&](const std::vector<std::vector<int64_t>>& parts) {
    double sum = 0;
    for (const auto& p : parts) {
      auto counts = labels.index_select(0, at::tensor(p, at::kLong)).bincount({}, 10);
      sum += counts.max().item<double>() / static_cast<double>(p.size());
    }
    return sum / static_cast<double>(parts.size());
  };
  EXPECT_GT(top_share(skewed), 0.6);
  EXPECT_LT(top_share(flat), 0.15);
}

TEST(Partition, ClassesPerWorkerLimitsLabels) {
  auto labels = balanced_labels(2000, 10);
  auto parts = partition(labels, 10, 5, PartitionSpec{PartitionKind::Classes, 0.5, 2, 1});
  expect_exact_cover(parts, 2000);
  for (const auto& p : parts) EXPECT_LE(classes_of(p, labels).size(), 2u);
}

TEST(Partition, RejectsImpossibleRequests) {
  auto labels = balanced_labels(3, 3);
  EXPECT_THROW(partition(labels, 3, 4, PartitionSpec{}), std::invalid_argument);
  EXPECT_THROW(partition(labels, 3, 0, PartitionSpec{}), std::invalid_argument);
  try {
    partition(balanced_labels(100, 10), 10, 2, PartitionSpec{PartitionKind::Classes, 0.5, 11, 1});
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("classes_per_worker must be in [1, 10], got 11"));
  }
  EXPECT_THROW(parse_partition_kind("random"), std::invalid_argument);
}

TEST(Sampler, EpochOrderIsAPermutationReproducibleAndChangesPerEpoch) {
  auto a = epoch_order(100, 5, 0);
  auto b = epoch_order(100, 5, 0);
  auto c = epoch_order(100, 5, 1);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  auto sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 100; ++i) EXPECT_EQ(sorted[static_cast<size_t>(i)], i);
  EXPECT_EQ(epoch_order(10, 5, 3, SampleOrder::ShuffleOnce), epoch_order(10, 5, 0, SampleOrder::ShuffleOnce));
  EXPECT_EQ(epoch_order(4, 5, 3, SampleOrder::Cyclic), (std::vector<int64_t>{0, 1, 2, 3}));
}

TEST(Synthetic, LeastSquaresHomogeneousWorkersShareTheMinimiser) {
  SyntheticSpec s;
  s.workers = 4;
  s.samples_per_worker = 200;
  s.dim = 5;
  s.noise = 0.0;
  s.heterogeneity = 0.0;
  auto p = make_least_squares(s);
  ASSERT_EQ(p.workers.size(), 4u);
  for (const auto& w : p.workers) {
    // With no noise and no heterogeneity each worker's least-squares solution is x0 exactly.
    at::Tensor x = std::get<0>(at::linalg_lstsq(w.inputs, w.targets.unsqueeze(1))).squeeze(1);
    EXPECT_LT((x - p.x0).abs().max().item<double>(), 1e-8);
  }
}

TEST(Synthetic, HeterogeneityMovesLocalMinimisersApart) {
  SyntheticSpec s;
  s.workers = 6;
  s.samples_per_worker = 100;
  s.dim = 4;
  s.noise = 0.0;
  auto spread = [&](double h) {
    s.heterogeneity = h;
    auto p = make_least_squares(s);
    double worst = 0;
    for (const auto& w : p.workers) {
      at::Tensor x = std::get<0>(at::linalg_lstsq(w.inputs, w.targets.unsqueeze(1))).squeeze(1);
      worst = std::max(worst, (x - p.x0).norm().item<double>());
    }
    return worst;
  };
  EXPECT_LT(spread(0.0), 1e-8);
  EXPECT_GT(spread(1.0), 0.5);
  EXPECT_GT(spread(2.0), spread(0.5));
}

TEST(Synthetic, LogisticTargetsAreBinaryAndSeeded) {
  SyntheticSpec s;
  s.workers = 2;
  auto a = make_logistic_regression(s);
  auto b = make_logistic_regression(s);
  EXPECT_TRUE(at::equal(a.workers[1].targets, b.workers[1].targets));
  EXPECT_TRUE(((a.workers[0].targets == 0) | (a.workers[0].targets == 1)).all().item<bool>());
}
