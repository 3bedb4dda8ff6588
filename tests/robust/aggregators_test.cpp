// The aggregation rules against hand-computed cases and their defining properties: invariance to
// input order, identical inputs returned unchanged, reduction to the mean (f = 0 / infinite
// radius), breakdown (f inputs at 1e6), SafeguardSGD's eviction, and the attacks' formulas.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <numeric>

#include "gossamer/robust/aggregator.h"
#include "gossamer/robust/attack.h"

namespace gossamer::robust {
namespace aggregators_test {

std::vector<int> ranks(int64_t n) {
  std::vector<int> r(static_cast<size_t>(n));
  std::iota(r.begin(), r.end(), 0);
  return r;
}

at::Tensor run(Aggregator& a, const at::Tensor& x, AggregateReport* report = nullptr) {
  at::Tensor out = at::empty({x.size(1)}, at::kFloat);
  AggregateReport r;
  a.aggregate(x.contiguous(), ranks(x.size(0)), out, r);
  if (report) *report = r;
  return out;
}

std::unique_ptr<Aggregator> make(const std::string& rule, int64_t f = 1, const std::string& pre = "none") {
  AggregatorOptions o;
  o.rule = rule;
  o.f = f;
  o.pre = pre;
  o.safeguard.world = 9;
  return make_aggregator(o);
}

at::Tensor honest(int64_t n, int64_t d, uint64_t seed = 1) {
  auto g = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::normal(0.0, 1.0, {n, d}, g);
}

const std::vector<std::string> kStateless = {"mean", "median", "trimmed-mean", "krum", "multi-krum", "geomed"};

TEST(Aggregators, InvariantToInputOrder) {
  const at::Tensor x = honest(9, 13);
  const at::Tensor perm = at::tensor({4, 2, 8, 0, 6, 1, 3, 7, 5}, at::kLong);
  for (const auto& rule : kStateless) {
    auto a = make(rule, 2);
    auto b = make(rule, 2);
    EXPECT_TRUE(at::allclose(run(*a, x), run(*b, x.index_select(0, perm)), 1e-5, 1e-6)) << rule;
  }
  // Centered clipping (stateful): the same previous aggregate, permuted inputs.
  auto a = make("cc"), b = make("cc");
  EXPECT_TRUE(at::allclose(run(*a, x * 20), run(*b, (x * 20).index_select(0, perm)), 1e-5, 1e-5));
}

TEST(Aggregators, IdenticalInputsComeBackUnchanged) {
  const at::Tensor v = honest(1, 17, 4)[0];
  const at::Tensor x = v.unsqueeze(0).repeat({9, 1});
  for (const auto& rule : kStateless) {
    auto a = make(rule, 2);
    EXPECT_TRUE(at::allclose(run(*a, x), v, 1e-6, 1e-6)) << rule;
  }
  for (const std::string pre : {"nnm", "bucketing"}) {
    auto a = make("median", 2, pre);
    EXPECT_TRUE(at::allclose(run(*a, x), v, 1e-6, 1e-6)) << pre;
  }
  // Centered clipping moves from v0 = 0 at most L tau: with v inside the radius it lands on v.
  auto cc = make("cc");
  EXPECT_TRUE(at::allclose(run(*cc, x), v, 1e-6, 1e-6));
}

TEST(Aggregators, ReduceToTheMean) {
  const at::Tensor x = honest(7, 11, 2);
  const at::Tensor mean = x.mean(0);
  EXPECT_TRUE(at::allclose(run(*make("mean"), x), mean, 1e-6, 1e-6));
  EXPECT_TRUE(at::allclose(run(*make("trimmed-mean", 0), x), mean, 1e-6, 1e-6));
  EXPECT_TRUE(at::allclose(run(*make("multi-krum", 0), x), mean, 1e-6, 1e-6));  // m = n - 0
  AggregatorOptions o;
  o.rule = "cc";
  o.radius = 1e30;
  o.cc_iterations = 1;
  EXPECT_TRUE(at::allclose(run(*make_aggregator(o), x), mean, 1e-6, 1e-6));
  o.rule = "mean";
  o.pre = "nnm";
  o.f = 0;  // NNM with f = 0 replaces every input by the mean of all
  EXPECT_TRUE(at::allclose(run(*make_aggregator(o), x), mean, 1e-6, 1e-6));
}

TEST(Aggregators, MedianAndTrimmedMeanByHand) {
  // Columns: (1, 5, 2, 9, 3) and (0, -1, 4, 4, 10).
  const at::Tensor x = at::tensor({1.f, 0.f, 5.f, -1.f, 2.f, 4.f, 9.f, 4.f, 3.f, 10.f}).view({5, 2});
  AggregateReport r;
  EXPECT_TRUE(run(*make("median"), x, &r).equal(at::tensor({3.f, 4.f})));
  // Coordinate 0's median came from row 4 (value 3), coordinate 1's from row 2 (the first 4 after sorting).
  EXPECT_DOUBLE_EQ(std::accumulate(r.share.begin(), r.share.end(), 0.0), 1.0);
  EXPECT_DOUBLE_EQ(r.share[4] + r.share[2] + r.share[3], 1.0);
  // Trimmed mean, b = 1: (2+3+5)/3 and (0+4+4)/3.
  EXPECT_TRUE(at::allclose(run(*make("trimmed-mean", 1), x), at::tensor({10.f / 3, 8.f / 3})));
  // Even n: the mean of the two middle values.
  const at::Tensor y = at::tensor({1.f, 2.f, 3.f, 10.f}).view({4, 1});
  EXPECT_TRUE(run(*make("median"), y).equal(at::tensor({2.5f})));
}

TEST(Aggregators, KrumByHand) {
  // n = 5, f = 1: each score sums the n - f - 2 = 2 nearest squared distances.
  // Points on a line: 0, 1, 3, 4, 20. Scores: 0 -> 1+9=10; 1 -> 1+4=5; 3 -> 1+4=5; 4 -> 1+9=10;
  // 20 -> 256+289. Krum: the lowest score, ties to the lower row: the point 1.
  const at::Tensor x = at::tensor({0.f, 1.f, 3.f, 4.f, 20.f}).view({5, 1});
  AggregateReport r;
  EXPECT_TRUE(run(*make("krum", 1), x, &r).equal(at::tensor({1.f})));
  EXPECT_EQ(r.share, (std::vector<double>{0, 1, 0, 0, 0}));
  // Multi-Krum with m = n - f = 4 averages the four lowest: 0, 1, 3, 4 -> 2.
  EXPECT_TRUE(run(*make("multi-krum", 1), x, &r).equal(at::tensor({2.f})));
  EXPECT_DOUBLE_EQ(r.share[4], 0.0);
  // 2-d: an equilateral-ish cluster and an outlier; Krum returns one of the cluster exactly.
  const at::Tensor y = at::tensor({0.f, 0.f, 1.f, 0.f, 0.f, 1.f, 1.f, 1.f, 0.5f, 0.5f, 50.f, 50.f, 40.f, -40.f}).view({7, 2});
  EXPECT_TRUE(run(*make("krum", 2), y).equal(at::tensor({0.5f, 0.5f})));
  // Krum needs n > 2f + 2.
  EXPECT_THROW(run(*make("krum", 2), y.narrow(0, 0, 6)), std::invalid_argument);
}

TEST(Aggregators, BreakdownWithFInputsAtAMillion) {
  const int64_t n = 10, f = 3, d = 20;
  at::Tensor x = honest(n, d, 7);
  x.narrow(0, n - f, f).fill_(1e6);
  const at::Tensor good = x.narrow(0, 0, n - f);
  const at::Tensor lo = std::get<0>(good.min(0)), hi = std::get<0>(good.max(0));
  for (const std::string rule : {"median", "trimmed-mean"}) {
    const at::Tensor out = run(*make(rule, f), x);
    EXPECT_TRUE(out.ge(lo - 1e-6).all().item<bool>() && out.le(hi + 1e-6).all().item<bool>()) << rule;
  }
  for (const std::string rule : {"krum", "multi-krum"}) {
    AggregateReport r;
    run(*make(rule, f), x, &r);
    for (int64_t k = n - f; k < n; ++k) EXPECT_EQ(r.share[static_cast<size_t>(k)], 0.0) << rule;
  }
  // Geometric median and NNM + median stay near the honest inputs (within their spread).
  const double spread = (good - good.mean(0)).norm(2, 1).max().item<double>();
  for (auto* a : {make("geomed").release(), make("median", f, "nnm").release()}) {
    std::unique_ptr<Aggregator> own(a);
    EXPECT_LT((run(*own, x) - good.mean(0)).norm().item<double>(), 2 * spread) << own->name();
  }
  // Centered clipping from v = honest mean: the attackers' pull is at most (f/n) tau per iteration.
  AggregatorOptions o;
  o.rule = "cc";
  o.radius = 1.0;
  o.cc_iterations = 1;
  auto cc = make_aggregator(o);
  std::map<std::string, at::Tensor> st{{"previous", good.mean(0)}};
  cc->load_state(st);
  const at::Tensor out = run(*cc, x);
  EXPECT_LE((out - good.mean(0)).norm().item<double>(), 1.0 + 1e-5);
  // Plain mean breaks.
  EXPECT_GT(run(*make("mean"), x).abs().min().item<double>(), 1e5);
}

TEST(Aggregators, SharesSumToOne) {
  const at::Tensor x = honest(9, 6, 3);
  for (const auto& rule : kStateless) {
    for (const std::string pre : {"none", "nnm", "bucketing"}) {
      AggregateReport r;
      run(*make(rule, 1, pre), x, &r);
      ASSERT_EQ(r.share.size(), 9u);
      EXPECT_NEAR(std::accumulate(r.share.begin(), r.share.end(), 0.0), 1.0, 1e-9) << rule << " " << pre;
    }
  }
}

TEST(Aggregators, BucketingIsTheSameOnEveryRankAndChangesPerCall) {
  auto a = make("median", 1, "bucketing"), b = make("median", 1, "bucketing");
  const at::Tensor x = honest(8, 5, 9);
  const at::Tensor first = run(*a, x);
  EXPECT_TRUE(first.equal(run(*b, x)));
  bool differs = false;
  for (int k = 0; k < 5; ++k) differs = differs || !run(*a, x).equal(first);
  EXPECT_TRUE(differs);
}

TEST(Aggregators, OptionsAreValidated) {
  AggregatorOptions o;
  o.rule = "krum2";
  EXPECT_THROW(make_aggregator(o), std::invalid_argument);
  o.rule = "cc";
  o.radius = 0;
  EXPECT_THROW(make_aggregator(o), std::invalid_argument);
  o = AggregatorOptions{};
  o.rule = "safeguard";  // needs the number of senders
  EXPECT_THROW(make_aggregator(o), std::invalid_argument);
  o = AggregatorOptions{};
  o.rule = "trimmed-mean";
  o.trim = 2;
  auto t = make_aggregator(o);
  EXPECT_EQ(t->min_inputs(), 5);
  EXPECT_THROW(run(*t, honest(4, 3)), std::invalid_argument);
}

// SafeguardSGD over i.i.d. honest messages g_i = mu + sigma xi: with thresholds above their
// concentration bound nobody is evicted; a constant-bias attacker is evicted within a window.
struct SafeguardRun {
  std::vector<int> evicted_at;  // call at which each sender was evicted (-1: never)
};

SafeguardRun run_safeguard(double bias, double threshold, int64_t calls, bool automatic) {
  const int world = 9;
  const int64_t d = 200;
  AggregatorOptions o;
  o.rule = "safeguard";
  o.safeguard.world = world;
  o.safeguard.window0 = 10;
  o.safeguard.window1 = 50;
  o.safeguard.threshold0 = automatic ? 0 : threshold * std::sqrt(10.0);
  o.safeguard.threshold1 = automatic ? 0 : threshold * std::sqrt(50.0);
  auto a = make_aggregator(o);
  auto g = at::make_generator<at::CPUGeneratorImpl>(21);
  SafeguardRun r;
  r.evicted_at.assign(world, -1);
  const at::Tensor mu = at::ones({d});
  for (int64_t t = 0; t < calls; ++t) {
    at::Tensor x = mu.unsqueeze(0) + at::normal(0.0, 1.0, {world, d}, g);
    x[world - 1].add_(bias);
    at::Tensor out = at::empty({d});
    AggregateReport rep;
    a->aggregate(x, ranks(world), out, rep);
    for (int s : rep.evicted) r.evicted_at[static_cast<size_t>(s)] = static_cast<int>(t);
  }
  return r;
}

TEST(Safeguard, KeepsHonestWorkersAndEvictsABiasedOne) {
  // ||A_i - A_j|| for two honest senders over T calls: about sqrt(2 T d) / m = sqrt(2 T 200) / 9
  // (each message divided by m = 9 good senders); the thresholds below are 3x that.
  const double per_sqrt_call = 3.0 * std::sqrt(2.0 * 200.0) / 9.0;
  const SafeguardRun clean = run_safeguard(0.0, per_sqrt_call, 200, false);
  for (int e : clean.evicted_at) EXPECT_EQ(e, -1);
  // A bias of 3 per coordinate: ||B_bad - B_med|| grows like 3 T sqrt(d) / m = 4.7 T against
  // 2 threshold0 = 42.2: evicted after about 9 calls, within the first window0 = 10.
  const SafeguardRun biased = run_safeguard(3.0, per_sqrt_call, 60, false);
  for (int s = 0; s < 8; ++s) EXPECT_EQ(biased.evicted_at[static_cast<size_t>(s)], -1) << s;
  EXPECT_GE(biased.evicted_at[8], 0);
  EXPECT_LE(biased.evicted_at[8], 10);
  // Automatic thresholds do the same.
  const SafeguardRun autoclean = run_safeguard(0.0, 0, 200, true);
  for (int e : autoclean.evicted_at) EXPECT_EQ(e, -1);
  const SafeguardRun autobiased = run_safeguard(3.0, 0, 60, true);
  EXPECT_GE(autobiased.evicted_at[8], 0);
  EXPECT_LE(autobiased.evicted_at[8], 10);
}

TEST(Attacks, FormulasByHand) {
  AttackOptions o;
  o.world = 25;
  o.byzantine = 5;
  // ALIE's z for n = 25, f = 5: s = 13 - 5 = 8, Phi^-1(12/20 = 0.6) = 0.2533.
  EXPECT_NEAR(alie_z(25, 5), 0.253347, 1e-5);
  AttackView v;
  v.own = at::tensor({1.f, 2.f});
  v.honest = at::tensor({1.f, 0.f, 3.f, 4.f}).view({2, 2});  // mean (2, 2), std (sqrt 2, 2 sqrt 2)
  o.kind = AttackKind::SignFlip;
  EXPECT_TRUE(forge(o, v).equal(at::tensor({-2.f, -2.f})));
  o.kind = AttackKind::Ipm;
  EXPECT_TRUE(at::allclose(forge(o, v), at::tensor({-0.2f, -0.2f})));
  o.kind = AttackKind::Alie;
  o.z = 1.0;
  EXPECT_TRUE(at::allclose(forge(o, v), at::tensor({2.f - std::sqrt(2.f), 2.f - 2 * std::sqrt(2.f)})));
  o.kind = AttackKind::Scaled;
  o.scale = -3;
  EXPECT_TRUE(forge(o, v).equal(at::tensor({-3.f, -6.f})));
  // Dissensus: target (1, 0), one honest neighbour (3, 4) of weight 0.25, Byzantine weight 0.5,
  // epsilon 1.5: x_i - 1.5 * 0.25 * (2, 4) / 0.5 = (1 - 1.5, 0 - 3).
  o.kind = AttackKind::Dissensus;
  v.honest_weights = {0.25};
  v.byzantine_weight = 0.5;
  EXPECT_TRUE(at::allclose(forge(o, v), at::tensor({-0.5f, -3.f})));
  o.kind = AttackKind::WrongSize;
  EXPECT_EQ(forge(o, v).numel(), 1);
  EXPECT_THROW(parse_attack("sign_flip"), std::invalid_argument);
  EXPECT_EQ(parse_attack("sign-flip"), AttackKind::SignFlip);
}

}  // namespace aggregators_test
}  // namespace gossamer::robust
