// Allocation (sparse/allocation.h) against closed forms, an independent water-filling solve of
// ERK, and a brute-force ranking for global allocation.
//
// Tolerances: densities and budgets 1e-9 (relative to the total parameter count for budgets);
// keep counts are integers and compared exactly.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <tuple>
#include <vector>

#include "gossamer/sparse/allocation.h"

using namespace gossamer::sparse;
using ::testing::HasSubstr;

namespace {

// Layers laid out back to back in a flat buffer.
std::vector<ParamSlice> make_layers(const std::vector<std::pair<std::string, std::vector<int64_t>>>& specs) {
  std::vector<ParamSlice> out;
  int64_t offset = 0;
  for (const auto& [name, shape] : specs) {
    ParamSlice p;
    p.name = name;
    p.shape = shape;
    p.offset = offset;
    p.numel = std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<int64_t>());
    offset += p.numel;
    out.push_back(p);
  }
  return out;
}

// LeNet-5's pruned layers.
std::vector<ParamSlice> lenet_layers() {
  return make_layers({{"conv1.weight", {6, 1, 5, 5}},
                      {"conv2.weight", {16, 6, 5, 5}},
                      {"fc1.weight", {120, 400}},
                      {"fc2.weight", {84, 120}},
                      {"fc3.weight", {10, 84}}});
}

double raw_erk(const ParamSlice& l) {
  double sum = 0, prod = 1;
  for (int64_t d : l.shape) {
    sum += static_cast<double>(d);
    prod *= static_cast<double>(d);
  }
  return sum / prod;
}

double total_numel(const std::vector<ParamSlice>& layers) {
  double t = 0;
  for (const auto& l : layers) t += static_cast<double>(l.numel);
  return t;
}

// Independent ERK reference: density_i = min(1, ε·raw_i) with ε found by bisection so that
// Σ density_i·n_i = budget (the water-filling form of "dense overflow, then re-solve").
std::vector<double> erk_by_bisection(const std::vector<ParamSlice>& layers, double sparsity) {
  const double budget = (1.0 - sparsity) * total_numel(layers);
  auto used = [&](double eps) {
    double u = 0;
    for (const auto& l : layers) u += std::min(1.0, eps * raw_erk(l)) * static_cast<double>(l.numel);
    return u;
  };
  double lo = 0, hi = 1;
  while (used(hi) < budget) hi *= 2;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    (used(mid) < budget ? lo : hi) = mid;
  }
  std::vector<double> out;
  for (const auto& l : layers) out.push_back(std::min(1.0, hi * raw_erk(l)));
  return out;
}

void expect_budget(const std::vector<ParamSlice>& layers, const std::vector<double>& density, double sparsity) {
  double used = 0;
  for (size_t i = 0; i < layers.size(); ++i) used += density[i] * static_cast<double>(layers[i].numel);
  const double total = total_numel(layers);
  EXPECT_NEAR(used / total, 1.0 - sparsity, 1e-9) << "Σ density·numel = " << used << " of " << total;
}

// Global reference: every score tagged with (layer, index) in concatenation order, stable-sorted
// best first (ties: earlier layer, then lower index), the first `budget` counted per layer.
std::vector<int64_t> brute_force_global(const std::vector<at::Tensor>& scores, const std::vector<size_t>& free_layers,
                                        int64_t budget) {
  std::vector<std::tuple<float, size_t>> all;  // (score, layer)
  for (size_t i : free_layers) {
    at::Tensor s = scores[i].contiguous().reshape({-1}).to(at::kFloat);
    for (int64_t k = 0; k < s.numel(); ++k) all.emplace_back(s[k].item<float>(), i);
  }
  std::stable_sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return std::get<0>(a) > std::get<0>(b); });
  std::vector<int64_t> counts(scores.size(), 0);
  for (int64_t k = 0; k < budget; ++k) ++counts[std::get<1>(all[static_cast<size_t>(k)])];
  return counts;
}

}  // namespace

// ---- parse_allocation / parse_overrides ------------------------------------------------

TEST(ParseAllocation, KnownNamesAndAnErrorListingThem) {
  EXPECT_EQ(parse_allocation("uniform"), AllocationKind::Uniform);
  EXPECT_EQ(parse_allocation("global"), AllocationKind::Global);
  EXPECT_EQ(parse_allocation("erk"), AllocationKind::Erk);
  try {
    parse_allocation("ERK2");
    FAIL() << "unknown allocation accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("ERK2"));
    EXPECT_THAT(e.what(), HasSubstr("uniform, global or erk"));
  }
}

TEST(ParseOverrides, ReadsNameValuePairs) {
  const auto m = parse_overrides("fc3.weight=0.5,conv1.weight=0, fc1.weight=1,,");
  ASSERT_EQ(m.size(), 3u);
  EXPECT_DOUBLE_EQ(m.at("fc3.weight"), 0.5);
  EXPECT_DOUBLE_EQ(m.at("conv1.weight"), 0.0);
  EXPECT_DOUBLE_EQ(m.at("fc1.weight"), 1.0);  // leading space trimmed from the name
  EXPECT_TRUE(parse_overrides("").empty());
}

TEST(ParseOverrides, RejectsMalformedEntriesNamingThem) {
  for (const std::string bad : {"fc3.weight", "=0.5", "fc3.weight=", "fc3.weight=abc", "fc3.weight=1.5",
                                "fc3.weight=-0.1", "fc3.weight=nan", "a=0.1,fc3.weight:0.2"}) {
    try {
      parse_overrides(bad);
      ADD_FAILURE() << "'" << bad << "' accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_THAT(e.what(), HasSubstr("SPARSITY in [0, 1]")) << bad;
    }
  }
}

// Regression (found by this test, fixed): a value with trailing junk is accepted (std::stod stops at the junk), so
// "fc3.weight=0.5x" silently becomes 0.5, although the header promises std::invalid_argument on a
// malformed entry.
TEST(ParseOverrides, RejectsTrailingJunkAfterTheValue) {
  for (const std::string bad : {"fc3.weight=0.5x", "fc3.weight=0.5 0.7", "fc3.weight=0.1%"}) {
    EXPECT_THROW(parse_overrides(bad), std::invalid_argument) << "'" << bad << "'";
  }
}

// Regression (found by this test, fixed): a name made only of spaces (" =0.5") escapes the empty-name check, and the
// trimming `name.substr(name.find_first_not_of(' '))` then throws std::out_of_range instead of
// the promised std::invalid_argument.
TEST(ParseOverrides, BlankNameIsInvalidArgument) {
  EXPECT_THROW(parse_overrides(" =0.5"), std::invalid_argument);
  EXPECT_THROW(parse_overrides("a.weight=0.1,   =0.2"), std::invalid_argument);
}

// ---- uniform --------------------------------------------------------------------------

TEST(KeepCounts, UniformKeepsTheSameFractionOfEveryLayer) {
  const auto layers = make_layers({{"a", {10, 20}}, {"b", {6, 5}}, {"c", {4, 3, 3, 3}}});  // 200, 30, 108
  AllocationSpec spec;
  EXPECT_EQ(keep_counts(layers, 0.9, spec), (std::vector<int64_t>{20, 3, 11}));  // 10.8 rounds to 11
  EXPECT_EQ(keep_counts(layers, 0.5, spec), (std::vector<int64_t>{100, 15, 54}));
  EXPECT_EQ(keep_counts(layers, 0.0, spec), (std::vector<int64_t>{200, 30, 108}));
  EXPECT_EQ(keep_counts(layers, 1.0, spec), (std::vector<int64_t>{0, 0, 0}));
  EXPECT_TRUE(keep_counts({}, 0.5, spec).empty());
}

TEST(KeepCounts, SparsityOutsideTheUnitIntervalThrows) {
  const auto layers = make_layers({{"a", {10, 20}}});
  AllocationSpec spec;
  EXPECT_THROW(keep_counts(layers, -0.1, spec), std::invalid_argument);
  EXPECT_THROW(keep_counts(layers, 1.1, spec), std::invalid_argument);
  EXPECT_THROW(keep_counts(layers, std::numeric_limits<double>::quiet_NaN(), spec), std::invalid_argument);
}

// ---- ERK ------------------------------------------------------------------------------

TEST(Erk, MatchesTheClosedFormWhenNoLayerOverflows) {
  const auto layers = lenet_layers();
  const double s = 0.9;
  // ε = (1 − s)·Σ n / Σ raw_i·n_i, and raw_i·n_i = Σ dims_i: (6+1+5+5) + (16+6+5+5) + 520 + 204 + 94.
  const double eps = 0.1 * 61470.0 / (17.0 + 32.0 + 520.0 + 204.0 + 94.0);
  const std::vector<double> expected{eps * 17.0 / 150.0, eps * 32.0 / 2400.0, eps * 520.0 / 48000.0,
                                     eps * 204.0 / 10080.0, eps * 94.0 / 840.0};
  const auto d = erk_densities(layers, s);
  ASSERT_EQ(d.size(), layers.size());
  for (size_t i = 0; i < d.size(); ++i) {
    EXPECT_NEAR(d[i], expected[i], 1e-9) << layers[i].name;
    EXPECT_LT(d[i], 1.0) << layers[i].name;  // this case must not exercise the overflow path
  }
  expect_budget(layers, d, s);
  // Bigger layers get lower densities: the point of ERK.
  EXPECT_LT(d[2], d[3]);
  EXPECT_LT(d[3], d[0]);
}

TEST(Erk, SmallLayersOverflowToDenseAndTheRestIsResolved) {
  const auto layers = lenet_layers();
  const double s = 0.8;
  // First solve: ε0 = 0.2·61470/867 = 14.18, so conv1 (ε0·17/150 = 1.61) and fc3 (ε0·94/840 = 1.59)
  // exceed 1. They become dense and ε is re-solved over the rest:
  // ε1 = (0.2·61470 − 150 − 840) / (32 + 520 + 204); the rest stay below 1.
  const double eps1 = (0.2 * 61470.0 - 150.0 - 840.0) / (32.0 + 520.0 + 204.0);
  const std::vector<double> expected{1.0, eps1 * 32.0 / 2400.0, eps1 * 520.0 / 48000.0, eps1 * 204.0 / 10080.0, 1.0};
  const auto d = erk_densities(layers, s);
  for (size_t i = 0; i < d.size(); ++i) EXPECT_NEAR(d[i], expected[i], 1e-9) << layers[i].name;
  expect_budget(layers, d, s);
  const auto ref = erk_by_bisection(layers, s);
  for (size_t i = 0; i < d.size(); ++i) EXPECT_NEAR(d[i], ref[i], 1e-9) << layers[i].name;
}

TEST(Erk, OverflowThatOnlyAppearsAfterTheFirstResolve) {
  // raw·n: a = 51, b = 40, c = 140. At s = 0.63 the budget is 0.37·4350 = 1609.5:
  // ε0 = 1609.5/231 = 6.97 -> a dense (7.1), b at 0.93 still sparse;
  // ε1 = (1609.5 − 50)/180 = 8.66 -> b at 1.16 now dense too;
  // ε2 = (1609.5 − 350)/140 -> c = ε2·140/4000 = 1259.5/4000 = 0.314875.
  const auto layers = make_layers({{"a", {1, 50}}, {"b", {10, 30}}, {"c", {40, 100}}});
  const double s = 0.63;
  const auto d = erk_densities(layers, s);
  EXPECT_NEAR(d[0], 1.0, 1e-9);
  EXPECT_NEAR(d[1], 1.0, 1e-9);
  EXPECT_NEAR(d[2], 0.314875, 1e-9);
  expect_budget(layers, d, s);
}

TEST(Erk, AgreesWithWaterFillingOverManySparsities) {
  const auto layers = make_layers({{"stem", {16, 3, 3, 3}},
                                   {"b1", {16, 16, 3, 3}},
                                   {"b2", {32, 16, 3, 3}},
                                   {"b3", {64, 32, 3, 3}},
                                   {"short", {64, 32, 1, 1}},
                                   {"fc", {10, 64}}});
  for (double s : {0.0, 0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99}) {
    const auto d = erk_densities(layers, s);
    const auto ref = erk_by_bisection(layers, s);
    for (size_t i = 0; i < d.size(); ++i) {
      EXPECT_GE(d[i], 0.0);
      EXPECT_LE(d[i], 1.0);
      EXPECT_NEAR(d[i], ref[i], 1e-9) << layers[i].name << " at sparsity " << s;
    }
    expect_budget(layers, d, s);
  }
}

TEST(KeepCounts, ErkRoundsTheDensities) {
  const auto layers = lenet_layers();
  AllocationSpec spec;
  spec.kind = AllocationKind::Erk;
  for (double s : {0.8, 0.9}) {
    const auto d = erk_densities(layers, s);
    const auto keep = keep_counts(layers, s, spec);
    for (size_t i = 0; i < layers.size(); ++i) {
      EXPECT_EQ(keep[i], std::llround(d[i] * static_cast<double>(layers[i].numel))) << layers[i].name;
    }
  }
  EXPECT_EQ(keep_counts(layers, 0.8, spec)[0], 150);  // conv1 overflowed: dense
}

// ---- global ---------------------------------------------------------------------------

TEST(KeepCounts, GlobalHandCase) {
  const auto layers = make_layers({{"a", {1, 2}}, {"b", {2, 2}}});
  AllocationSpec spec;
  spec.kind = AllocationKind::Global;
  // Budget 3 of 6: 5 (a), then 3, 3 of b.
  EXPECT_EQ(keep_counts(layers, 0.5, spec, {torch::tensor({{5.0f, 1.0f}}), torch::tensor({{3.0f, 3.0f}, {3.0f, 0.0f}})}),
            (std::vector<int64_t>{1, 2}));
  // A tie across layers goes to the earlier layer.
  const auto tied = make_layers({{"a", {1, 2}}, {"b", {1, 2}}});
  EXPECT_EQ(keep_counts(tied, 0.5, spec, {torch::full({1, 2}, 2.0f), torch::full({1, 2}, 2.0f)}),
            (std::vector<int64_t>{2, 0}));
}

TEST(KeepCounts, GlobalIsTheTopKOverAllLayersConcatenated) {
  const auto layers = make_layers({{"a", {4, 5}}, {"b", {3, 4}}, {"c", {2, 2, 2, 2}}, {"d", {7, 3}}});  // 20+12+16+21
  AllocationSpec spec;
  spec.kind = AllocationKind::Global;
  for (uint64_t seed = 0; seed < 5; ++seed) {
    torch::manual_seed(seed);
    std::vector<at::Tensor> scores;
    for (const auto& l : layers) {
      // Few distinct values so ties within and across layers are common; layer c scaled to differ.
      at::Tensor s = torch::randint(0, 5, l.shape, torch::kLong).to(torch::kFloat);
      scores.push_back(l.name == "c" ? s * 1.5 : s);
    }
    for (double s : {0.0, 0.25, 0.5, 0.9, 1.0}) {
      const int64_t budget = std::llround((1.0 - s) * 69.0);
      const auto got = keep_counts(layers, s, spec, scores);
      EXPECT_EQ(got, brute_force_global(scores, {0, 1, 2, 3}, budget)) << "seed " << seed << " sparsity " << s;
      EXPECT_EQ(std::accumulate(got.begin(), got.end(), int64_t{0}), budget);
    }
  }
}

TEST(KeepCounts, GlobalWithAnOverrideRanksOnlyTheFreeLayers) {
  const auto layers = make_layers({{"a", {4, 5}}, {"b", {3, 4}}, {"c", {2, 2, 2, 2}}});
  AllocationSpec spec;
  spec.kind = AllocationKind::Global;
  spec.overrides["b"] = 0.25;
  torch::manual_seed(7);
  std::vector<at::Tensor> scores;
  for (const auto& l : layers) scores.push_back(torch::rand(l.shape));
  scores[1] = scores[1] + 100.0;  // b would win everything if it were ranked
  const auto got = keep_counts(layers, 0.75, spec, scores);
  const auto ref = brute_force_global(scores, {0, 2}, std::llround(0.25 * 36.0));
  EXPECT_EQ(got[0], ref[0]);
  EXPECT_EQ(got[1], 9);  // 0.75 of 12
  EXPECT_EQ(got[2], ref[2]);
  EXPECT_EQ(got[0] + got[2], 9);
}

TEST(KeepCounts, GlobalNeedsOneScorePerLayer) {
  const auto layers = make_layers({{"a", {4, 5}}, {"b", {3, 4}}});
  AllocationSpec spec;
  spec.kind = AllocationKind::Global;
  EXPECT_THROW(keep_counts(layers, 0.5, spec, {torch::rand({4, 5})}), std::invalid_argument);
}

// ---- overrides and exemptions ------------------------------------------------------------

TEST(KeepCounts, OverridesAndExemptionsAreOutsideTheBudget) {
  const auto layers = make_layers({{"first", {10, 10}}, {"mid", {20, 10}}, {"last", {10, 30}}});  // 100, 200, 300
  AllocationSpec spec;
  spec.overrides["mid"] = 0.25;
  EXPECT_EQ(keep_counts(layers, 0.9, spec), (std::vector<int64_t>{10, 150, 30}));

  AllocationSpec exempt;
  exempt.exempt_first = true;
  EXPECT_EQ(keep_counts(layers, 0.9, exempt), (std::vector<int64_t>{100, 20, 30}));
  exempt.exempt_last = true;
  EXPECT_EQ(keep_counts(layers, 0.9, exempt), (std::vector<int64_t>{100, 20, 300}));
  exempt.exempt_first = false;
  EXPECT_EQ(keep_counts(layers, 0.9, exempt), (std::vector<int64_t>{10, 20, 300}));

  // Everything fixed: the target plays no part.
  AllocationSpec all;
  all.overrides = {{"first", 1.0}, {"mid", 0.5}, {"last", 0.0}};
  EXPECT_EQ(keep_counts(layers, 0.9, all), (std::vector<int64_t>{0, 100, 300}));
}

TEST(KeepCounts, ErkWithAnExemptionSolvesOverTheOtherLayersOnly) {
  const auto layers = lenet_layers();
  AllocationSpec spec;
  spec.kind = AllocationKind::Erk;
  spec.exempt_first = true;
  const double s = 0.9;
  const auto keep = keep_counts(layers, s, spec);
  EXPECT_EQ(keep[0], 150);
  // The other four at ERK among themselves: ε = 0.1·(61470 − 150)/(32 + 520 + 204 + 94).
  const double eps = 0.1 * 61320.0 / 850.0;
  const std::vector<double> raw_times_n{0, 32, 520, 204, 94};
  int64_t kept = 0;
  for (size_t i = 1; i < layers.size(); ++i) {
    const double density = std::min(1.0, eps * raw_times_n[i] / static_cast<double>(layers[i].numel));
    EXPECT_EQ(keep[i], std::llround(density * static_cast<double>(layers[i].numel))) << layers[i].name;
    kept += keep[i];
  }
  EXPECT_NEAR(static_cast<double>(kept), 0.1 * 61320.0, 4.0);  // 4 layers, each rounded by at most 0.5
}

TEST(KeepCounts, OverrideOfAnUnknownLayerThrowsListingThePrunedLayers) {
  const auto layers = make_layers({{"conv1.weight", {6, 1, 5, 5}}, {"fc1.weight", {10, 20}}});
  for (AllocationKind kind : {AllocationKind::Uniform, AllocationKind::Erk, AllocationKind::Global}) {
    AllocationSpec spec;
    spec.kind = kind;
    spec.overrides["fc9.weight"] = 0.5;
    try {
      keep_counts(layers, 0.5, spec, {torch::rand({6, 1, 5, 5}), torch::rand({10, 20})});
      ADD_FAILURE() << "override of an unknown layer accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_THAT(e.what(), HasSubstr("'fc9.weight'"));
      EXPECT_THAT(e.what(), HasSubstr("conv1.weight, fc1.weight"));
    }
  }
}
