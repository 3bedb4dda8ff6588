// The Pruner on hand-made flat buffers: masks stay enforced through optimizer steps, SR-STE's
// gradient, RigL/SET drop-and-grow, GaP phases, and mask agreement across workers on both backends.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <mutex>

#include "gossamer/comm/communicator.h"
#include "gossamer/comm/gloo_communicator.h"
#include "gossamer/comm/inprocess_communicator.h"
#include "gossamer/sparse/pruner.h"
#include "gossamer/sparse/schedule.h"

using namespace gossamer;
using namespace gossamer::sparse;

namespace {

// Two weight layers and a bias: w1 [8, 6] at 0, b1 [8] at 48, w2 [4, 8] at 56; 88 entries.
std::vector<ParamSlice> toy_layout() {
  return {{"w1", 0, 48, {8, 6}}, {"b1", 48, 8, {8}}, {"w2", 56, 32, {4, 8}}};
}

at::Tensor arange_weights(int64_t n, double scale = 1.0) {
  // Distinct magnitudes in a scrambled order, so that magnitude ranking is unambiguous.
  at::Tensor idx = at::arange(n, at::kFloat);
  return ((idx * 37).remainder(n) + 1).mul_(scale) * at::where(idx.remainder(2).eq(0), 1.0, -1.0);
}

PruneSpec spec_for(PruneMethod m, double sparsity) {
  PruneSpec s;
  s.method = m;
  s.sparsity = sparsity;
  s.end_step = 100;
  return s;
}

at::Tensor slice(const at::Tensor& flat, const ParamSlice& p) { return flat.narrow(0, p.offset, p.numel).view(p.shape); }

}  // namespace

TEST(Pruner, MaskedWeightsAndMomentaStayExactlyZeroThrough100StepsWithMomentumAndWeightDecay) {
  const auto layout = toy_layout();
  at::Tensor values = at::randn({88}, at::kFloat), grads = at::zeros({88}, at::kFloat);
  at::Tensor leaf = values.detach();
  leaf.set_requires_grad(true);
  leaf.mutable_grad() = grads;
  torch::optim::SGD opt({leaf}, torch::optim::SGDOptions(0.05).momentum(0.9).nesterov(true).weight_decay(5e-4));
  Pruner pruner(spec_for(PruneMethod::OneShot, 0.75), layout, values, grads);
  pruner.start();  // one-shot at step 0
  const at::Tensor mask = pruner.mask().clone();
  EXPECT_EQ(mask.narrow(0, 0, 48).sum().item<int64_t>(), 12);   // 25% of w1 kept
  EXPECT_EQ(mask.narrow(0, 48, 8).sum().item<int64_t>(), 8);    // bias untouched
  EXPECT_EQ(mask.narrow(0, 56, 32).sum().item<int64_t>(), 8);   // 25% of w2 kept
  const at::Tensor target = at::randn({88}, at::kFloat);
  const at::Tensor start = values.clone();
  for (int step = 0; step < 100; ++step) {
    grads.copy_(values - target);  // gradient of ½||x − target||², dense everywhere
    pruner.after_backward(step);
    opt.step();
    std::vector<at::Tensor> state;
    for (auto& [k, st] : opt.state()) state.push_back(static_cast<torch::optim::SGDParamState&>(*st).momentum_buffer());
    pruner.after_step(step, state);
    ASSERT_EQ(state.size(), 1u);
    ASSERT_TRUE(values.masked_select(mask.eq(0)).eq(0).all().item<bool>()) << "step " << step;
    ASSERT_TRUE(state[0].masked_select(mask.eq(0)).eq(0).all().item<bool>()) << "momentum, step " << step;
  }
  // The kept weights did move towards the target (the test exercises real steps).
  const at::Tensor kept = mask.eq(1);
  EXPECT_LT((values - target).masked_select(kept).abs().max().item<double>(),
            0.5 * (start - target).masked_select(kept).abs().max().item<double>());
}

TEST(Pruner, OneShotMagnitudeKeepsTheLargestWeightsOfEachLayer) {
  const auto layout = toy_layout();
  at::Tensor values = arange_weights(88), grads = at::zeros({88});
  const at::Tensor original = values.clone();
  Pruner pruner(spec_for(PruneMethod::OneShot, 0.5), layout, values, grads);
  pruner.start();
  for (const auto& p : {layout[0], layout[2]}) {
    at::Tensor mags = slice(original, p).abs().reshape({-1});
    const double threshold = std::get<0>(mags.sort(0, /*descending=*/true))[p.numel / 2 - 1].item<double>();
    EXPECT_TRUE(slice(pruner.mask(), p).reshape({-1}).eq(mags.ge(threshold).to(at::kFloat)).all().item<bool>()) << p.name;
  }
  EXPECT_TRUE(values.equal(original * pruner.mask()));
}

TEST(Pruner, SrSteGradientIsTheStraightThroughGradientPlusLambdaTimesThePrunedWeights) {
  // One 2:4 layer W [2, 4]; the forward pass must see E ⊙ W, and after backward the dense W is back
  // and the gradient is G + λ (1 − E) ⊙ W (Zhou et al. 2021, eq. 4).
  std::vector<ParamSlice> layout{{"w", 0, 8, {2, 4}}};
  at::Tensor w = at::tensor({0.5f, -2.0f, 0.1f, 1.5f, -0.3f, 0.2f, -0.9f, 0.4f});
  at::Tensor values = w.clone(), grads = at::zeros({8});
  PruneSpec s = spec_for(PruneMethod::SrSte, 0.5);
  s.pattern.kind = PatternKind::NM;
  s.srste_lambda = 0.25;
  Pruner pruner(s, layout, values, grads);
  pruner.start();
  pruner.before_forward(0);
  const at::Tensor e = at::tensor({0.f, 1.f, 0.f, 1.f, 0.f, 0.f, 1.f, 1.f});  // top-2 |w| of each group of 4
  EXPECT_TRUE(values.equal(w * e));
  const at::Tensor g = at::tensor({1.f, 2.f, 3.f, 4.f, 5.f, 6.f, 7.f, 8.f});
  grads.copy_(g);
  pruner.after_backward(0);
  EXPECT_TRUE(values.equal(w));
  EXPECT_TRUE(at::allclose(grads, g + 0.25 * (1 - e) * w, 0, 1e-7)) << grads;
  // λ = 0 is plain STE: the gradient passes unchanged.
  s.srste_lambda = 0;
  at::Tensor values2 = w.clone(), grads2 = at::zeros({8});
  Pruner ste(s, layout, values2, grads2);
  ste.before_forward(0);
  grads2.copy_(g);
  ste.after_backward(0);
  EXPECT_TRUE(grads2.equal(g));
  // The deployed weights are N:M.
  at::Tensor deployed = w.clone();
  pruner.make_deployable(deployed);
  EXPECT_TRUE(deployed.equal(w * e));
}

TEST(Pruner, RigLDropsTheSmallestAndRegrowsTheLargestGradientsAtZero) {
  std::vector<ParamSlice> layout{{"w", 0, 10, {2, 5}}};
  at::Tensor values = at::zeros({10}), grads = at::zeros({10});
  PruneSpec s = spec_for(PruneMethod::Rigl, 0.5);
  s.start_step = 0;
  s.end_step = 1000;
  s.update_every = 10;
  s.drop_fraction = 0.4;  // at step 10 of 1000 the cosine decay gives ~0.39996: floor(0.39996 * 5) = 1
  Pruner pruner(s, layout, values, grads);
  pruner.start();
  const at::Tensor m0 = pruner.mask().clone();
  ASSERT_EQ(m0.sum().item<int64_t>(), 5);
  // Live weights with distinct magnitudes; the smallest live one must go.
  values.copy_(m0 * at::arange(1, 11, at::kFloat));
  const int64_t smallest_live = at::argmin(values.masked_fill(m0.eq(0), 1e9)).item<int64_t>();
  // Gradients: the largest |g| among the inactive weights must come in.
  grads.copy_(at::arange(10, at::kFloat).remainder(7));
  const int64_t best_inactive = at::argmax(grads.abs().masked_fill(m0.eq(1), -1)).item<int64_t>();
  pruner.after_backward(10);
  const at::Tensor m1 = pruner.mask();
  EXPECT_EQ(m1.sum().item<int64_t>(), 5);
  EXPECT_EQ(m1[smallest_live].item<float>(), 0.f);
  EXPECT_EQ(m1[best_inactive].item<float>(), 1.f);
  EXPECT_EQ(pruner.take_flips(), 2);  // one dropped and one grown since start()
  EXPECT_EQ(values[best_inactive].item<float>(), 0.f);  // regrown weights start at zero
  EXPECT_TRUE(grads.masked_select(m1.eq(0)).eq(0).all().item<bool>());
  // Not an update step: nothing changes.
  pruner.after_backward(11);
  EXPECT_TRUE(pruner.mask().equal(m1));
}

TEST(Pruner, GmpFollowsTheCubicScheduleAndNeverRevivesPrunedWeights) {
  const auto layout = toy_layout();
  at::Tensor values = arange_weights(88), grads = at::zeros({88});
  PruneSpec s = spec_for(PruneMethod::Gmp, 0.8);
  s.start_step = 10;
  s.end_step = 50;
  s.update_every = 10;
  Pruner pruner(s, layout, values, grads);
  pruner.start();
  at::Tensor previous = pruner.mask().clone();
  for (int64_t step = 0; step < 60; ++step) {
    pruner.after_step(step, {});
    const int64_t done = step + 1;
    if (done >= 10 && done <= 50 && done % 10 == 0) {
      const double expected = gmp_sparsity(done, 10, 50, 0.0, 0.8);
      for (const auto& p : {layout[0], layout[2]}) {
        EXPECT_EQ(slice(pruner.mask(), p).sum().item<int64_t>(), std::llround((1 - expected) * p.numel)) << done;
      }
    }
    EXPECT_TRUE(pruner.mask().le(previous).all().item<bool>()) << "a pruned weight came back at step " << done;
    previous = pruner.mask().clone();
  }
  EXPECT_NEAR(pruner.report().sparsity(), 0.8, 1.0 / 80);
}

TEST(Pruner, GapKeepsOnePartitionDenseAndPrunesItWhenThePhaseEnds) {
  // Three layers of equal size, K = 3, phases of 5 steps, schedule ending at step 15.
  std::vector<ParamSlice> layout{{"a", 0, 20, {4, 5}}, {"b", 20, 20, {4, 5}}, {"c", 40, 20, {4, 5}}};
  at::Tensor values = arange_weights(60), grads = at::zeros({60});
  PruneSpec s = spec_for(PruneMethod::Gap, 0.5);
  s.gap_partitions = 3;
  s.gap_phase_steps = 5;
  s.end_step = 15;
  Pruner pruner(s, layout, values, grads);
  pruner.start();
  auto kept = [&](int i) { return slice(pruner.mask(), layout[i]).sum().item<int64_t>(); };
  EXPECT_EQ(kept(0), 20);
  EXPECT_EQ(kept(1), 10);
  EXPECT_EQ(kept(2), 10);
  for (int64_t step = 0; step < 5; ++step) pruner.after_step(step, {});
  EXPECT_EQ(kept(0), 10);  // pruned back by magnitude...
  EXPECT_EQ(kept(1), 20);  // ...and the next partition is dense
  // The pruned partition kept its largest weights.
  at::Tensor a_vals = slice(values, layout[0]).abs().reshape({-1});
  at::Tensor a_mask = slice(pruner.mask(), layout[0]).reshape({-1});
  EXPECT_GT(a_vals.masked_select(a_mask.eq(1)).min().item<double>(), 0.0);
  for (int64_t step = 5; step < 15; ++step) pruner.after_step(step, {});
  EXPECT_EQ(kept(0), 10);
  EXPECT_EQ(kept(1), 10);
  EXPECT_EQ(kept(2), 10);  // the schedule ended: every partition is at the target
  EXPECT_NEAR(pruner.report().sparsity(), 0.5, 1e-12);
}

TEST(Pruner, StateRoundTripsAndRejectsAWrongSize) {
  const auto layout = toy_layout();
  at::Tensor values = arange_weights(88), grads = at::zeros({88});
  Pruner a(spec_for(PruneMethod::OneShot, 0.5), layout, values, grads);
  a.start();
  at::Tensor v2 = arange_weights(88), g2 = at::zeros({88});
  Pruner b(spec_for(PruneMethod::OneShot, 0.5), layout, v2, g2);
  b.load_state(a.state());
  EXPECT_TRUE(b.mask().equal(a.mask()));
  auto bad = a.state();
  bad["sparse.mask"] = at::ones({3});
  EXPECT_THROW(b.load_state(bad), std::runtime_error);
}

TEST(Pruner, InvalidCombinationsAreRejectedWithTheSettingNamed) {
  const auto layout = toy_layout();
  at::Tensor values = at::zeros({88}), grads = at::zeros({88});
  PruneSpec rigl_nm = spec_for(PruneMethod::Rigl, 0.5);
  rigl_nm.pattern.kind = PatternKind::NM;
  EXPECT_THROW(Pruner(rigl_nm, layout, values, grads), std::invalid_argument);
  PruneSpec gap_global = spec_for(PruneMethod::Gap, 0.5);
  gap_global.allocation.kind = AllocationKind::Global;
  try {
    Pruner p(gap_global, layout, values, grads);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("global"), std::string::npos) << e.what();
  }
  PruneSpec wf = spec_for(PruneMethod::OneShot, 0.5);
  wf.scorer = PruneScorer::WoodFisher;  // no gradient sampler given
  EXPECT_THROW(Pruner(wf, layout, values, grads), std::invalid_argument);
  PruneSpec unknown = spec_for(PruneMethod::OneShot, 0.5);
  unknown.allocation.overrides["nope"] = 0.1;
  EXPECT_THROW(Pruner(unknown, layout, values, grads), std::invalid_argument);
}

namespace {

// Four workers with different weights prune with GMP and RigL; returns every rank's mask and weights.
std::vector<std::pair<at::Tensor, at::Tensor>> decentralized_masks(bool gloo) {
  std::vector<std::pair<at::Tensor, at::Tensor>> out(4);
  std::mutex mu;
  auto body = [&](comm::Communicator& c) {
    const auto layout = toy_layout();
    at::Tensor values = arange_weights(88) + 0.3 * static_cast<double>(c.rank()) * at::cos(at::arange(88, at::kFloat));
    at::Tensor grads = at::zeros({88});
    PruneSpec s = spec_for(PruneMethod::Gmp, 0.6);
    s.start_step = 0;
    s.end_step = 4;
    s.update_every = 2;
    PrunerContext ctx;
    ctx.comm = &c;
    Pruner p(s, layout, values, grads, ctx);
    p.start();
    for (int64_t step = 0; step < 4; ++step) p.after_step(step, {});
    std::lock_guard<std::mutex> lock(mu);
    out[static_cast<size_t>(c.rank())] = {p.mask().clone(), values.clone()};
  };
  if (gloo) comm::run_gloo_threads(4, body);
  else comm::run_inprocess(4, body);
  return out;
}

}  // namespace

TEST(Pruner, WorkersAgreeOnTheMaskOfTheMeanModelOnBothBackends) {
  const auto inproc = decentralized_masks(false);
  const auto gloo = decentralized_masks(true);
  // Reference: the mean of the four initial models, pruned to 60% per layer by magnitude.
  at::Tensor mean = at::zeros({88});
  for (int r = 0; r < 4; ++r) mean += arange_weights(88) + 0.3 * r * at::cos(at::arange(88, at::kFloat));
  mean /= 4;
  const auto layout = toy_layout();
  for (int r = 0; r < 4; ++r) {
    EXPECT_TRUE(inproc[r].first.equal(inproc[0].first)) << "rank " << r;
    EXPECT_TRUE(gloo[r].first.equal(inproc[0].first)) << "gloo rank " << r;
    EXPECT_TRUE(gloo[r].second.equal(inproc[r].second)) << "gloo weights, rank " << r;
  }
  for (const auto& p : {layout[0], layout[2]}) {
    const int64_t keep = std::llround(0.4 * p.numel);
    at::Tensor expected = topk_mask(slice(mean, p).abs(), keep);
    EXPECT_TRUE(slice(inproc[0].first, p).equal(expected)) << p.name;
  }
}
