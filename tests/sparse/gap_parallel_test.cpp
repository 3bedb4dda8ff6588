// Parallel GaP: during a phase worker r keeps partition (r mod K) dense and the rest at the
// target; at every phase boundary the workers combine the grown partitions into one model and
// agree on one mask, bit for bit; the message seam averages a grown weight over its holders only; the
// same run on the InProcess and Gloo backends gives the same masks and weights.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <mutex>

#include "gossamer/comm/communicator.h"
#include "gossamer/comm/gloo_communicator.h"
#include "gossamer/comm/inprocess_communicator.h"
#include "gossamer/optim/message_seam.h"
#include "gossamer/sparse/pruner_masks.h"
#include "gossamer/sparse/pruner.h"
#include "gossamer/topology/spec.h"
#include "gossamer/topology/topology.h"

using namespace gossamer;
using namespace gossamer::sparse;

namespace {

using Runner = void (*)(int, const std::function<void(comm::Communicator&)>&, std::chrono::milliseconds);

// Four weight layers of 20 and a bias of 4 between the second and third: 84 entries. With K = 4
// each layer is a partition; with K = 2 the partitions are {l0, l1} and {l2, l3}.
std::vector<ParamSlice> four_layers() {
  return {{"l0", 0, 20, {4, 5}}, {"l1", 20, 20, {4, 5}}, {"bias", 40, 4, {4}}, {"l2", 44, 20, {4, 5}},
          {"l3", 64, 20, {4, 5}}};
}
const std::vector<size_t> kWeightSlices{0, 1, 3, 4};  // indices in four_layers() of the pruned layers

at::Tensor slice(const at::Tensor& flat, const ParamSlice& p) { return flat.narrow(0, p.offset, p.numel).view(p.shape); }

PruneSpec parallel_spec(int64_t k, int64_t phase_steps, int64_t end) {
  PruneSpec s;
  s.method = PruneMethod::Gap;
  s.gap_mode = GapMode::Parallel;
  s.sparsity = 0.5;
  s.gap_partitions = k;
  s.gap_phase_steps = phase_steps;
  s.end_step = end;
  return s;
}

struct WorkerEnd {
  at::Tensor mask, values;
};

// Four workers on a ring train ½||x − t_r||² (a different target per worker) with gossip through
// the message seam (per-worker masks) for 12 steps: three phases of 3 steps (the schedule ends at step 9), then 3 steps
// of fine-tuning. Checks the masks inside every phase and the agreement at every boundary.
std::vector<WorkerEnd> run_parallel_gap(Runner runner, int64_t k) {
  constexpr int kWorkers = 4;
  constexpr int64_t kPhase = 3, kEnd = 9, kSteps = 12;
  std::vector<WorkerEnd> out(kWorkers);
  std::mutex mu;
  topology::TopologySpec ts;
  ts.name = "ring";
  ts.workers = kWorkers;
  const topology::Topology topo = topology::make_topology(ts);
  runner(
      kWorkers,
      [&](comm::Communicator& c) {
        const auto layout = four_layers();
        const int r = c.rank();
        at::Tensor values = at::sin(at::arange(84, at::kFloat) * 0.7) * 2.0;  // the same start everywhere
        at::Tensor grads = at::zeros({84});
        at::Tensor target = at::cos(at::arange(84, at::kFloat) * (0.3 + 0.1 * r)) * 3.0;
        PrunerContext ctx;
        ctx.comm = &c;
        Pruner p(parallel_spec(k, kPhase, kEnd), layout, values, grads, ctx);
        PrunerMasks masks(p);
        optim::MessageSeam gossip(c);
        gossip.use_masks(&masks);
        p.start();
        for (int64_t step = 0; step < kSteps; ++step) {
          if (step < kEnd) {
            // Inside a phase: own partition dense, every other pruned layer at the target (10 of 20).
            EXPECT_TRUE(p.masks_differ());
            for (size_t li : kWeightSlices) {
              const auto& l = layout[li];
              const int64_t part = k == 4 ? static_cast<int64_t>(li < 2 ? li : li - 1) : (li < 2 ? 0 : 1);
              const int64_t kept = slice(p.mask(), l).sum().item<int64_t>();
              if (part == r % k) {
                EXPECT_EQ(kept, 20) << "rank " << r << " layer " << l.name << " step " << step;
              } else {
                EXPECT_EQ(kept, 10) << "rank " << r << " layer " << l.name << " step " << step;
              }
            }
            EXPECT_TRUE(p.mask().equal(p.worker_mask(r)));
          }
          grads.copy_(values - target);
          p.after_backward(step);
          values.sub_(grads, 0.2);
          gossip.mix(values, topo, step);
          p.after_step(step, {});
          EXPECT_TRUE(values.masked_select(p.mask().eq(0)).eq(0).all().item<bool>()) << "rank " << r;
          const int64_t done = step + 1;
          if (done % kPhase == 0 && done <= kEnd) {
            // A boundary: one common mask and one model on every worker, bit for bit.
            const at::Tensor common = p.state().at("sparse.gap_common");
            for (const auto& m : c.allgather(common)) EXPECT_TRUE(m.equal(common)) << "rank " << r << " at " << done;
            for (const auto& v : c.allgather(values)) EXPECT_TRUE(v.equal(values)) << "rank " << r << " at " << done;
            EXPECT_TRUE(values.masked_select(common.eq(0)).eq(0).all().item<bool>());
            for (size_t li : kWeightSlices) EXPECT_EQ(slice(common, layout[li]).sum().item<int64_t>(), 10);
            EXPECT_EQ(slice(common, layout[2]).sum().item<int64_t>(), 4);  // the bias is never pruned
          }
        }
        EXPECT_FALSE(p.masks_differ());
        for (const auto& m : c.allgather(p.mask())) EXPECT_TRUE(m.equal(p.mask())) << "rank " << r;
        EXPECT_NEAR(p.report().sparsity(), 0.5, 1e-12);
        std::lock_guard<std::mutex> lock(mu);
        out[static_cast<size_t>(r)] = {p.mask().clone(), values.clone()};
      },
      std::chrono::milliseconds(20000));
  return out;
}

// Worker r's hand-made weights for the combination test: layer a [2,2], bias b [2], layer c [2,2].
// Only a of ranks 0 and 2 (which grow a), c of ranks 1 and 3 (which grow c) and every b count.
at::Tensor hand_weights(int r) {
  static const float a[4][4] = {{4, -1, 0.5, 2}, {9, 9, 9, 9}, {2, -3, 0.5, -4}, {9, 9, 9, 9}};
  static const float c[4][4] = {{9, 9, 9, 9}, {1, 1, 6, -2}, {9, 9, 9, 9}, {-1, 3, 2, -6}};
  at::Tensor v = at::zeros({10});
  for (int i = 0; i < 4; ++i) {
    v[i] = a[r][i];
    v[6 + i] = c[r][i];
  }
  v[4] = 1.0f + 2.0f * r;
  v[5] = 2.0f + 2.0f * r;
  return v;
}

// The hand-made weights after one phase of 1 step, on 4 workers (K = 2), through the boundary.
// `end` is the schedule's end: 1 makes the boundary the last combination, 2 starts a second
// phase in which every worker grows its own partition again. A momentum buffer of ones is passed
// as optimizer state. Returns each worker's mask, weights and momentum right after the boundary.
struct BoundaryEnd {
  at::Tensor mask, values, momentum;
};
std::vector<BoundaryEnd> run_hand_boundary(Runner runner, int64_t end) {
  std::vector<BoundaryEnd> out(4);
  std::mutex mu;
  runner(
      4,
      [&](comm::Communicator& c) {
        std::vector<ParamSlice> layout{{"a", 0, 4, {2, 2}}, {"b", 4, 2, {2}}, {"c", 6, 4, {2, 2}}};
        at::Tensor values = at::ones({10}), grads = at::zeros({10}), momentum = at::ones({10});
        PrunerContext ctx;
        ctx.comm = &c;
        Pruner p(parallel_spec(2, 1, end), layout, values, grads, ctx);
        p.start();
        values.copy_(hand_weights(c.rank()) * p.mask());  // what one phase of training left
        p.after_step(0, {momentum});                      // the phase ends
        std::lock_guard<std::mutex> lock(mu);
        out[static_cast<size_t>(c.rank())] = {p.mask().clone(), values.clone(), momentum.clone()};
      },
      std::chrono::milliseconds(20000));
  return out;
}

}  // namespace

class ParallelGap : public ::testing::TestWithParam<int64_t> {};

TEST_P(ParallelGap, EachWorkerGrowsItsPartitionAndAllAgreeAtEveryBoundaryOnBothBackends) {
  const auto inproc = run_parallel_gap(&comm::run_inprocess, GetParam());
  const auto gloo = run_parallel_gap(&comm::run_gloo_threads, GetParam());
  for (size_t r = 0; r < 4; ++r) {
    EXPECT_TRUE(inproc[r].mask.equal(inproc[0].mask)) << "rank " << r;
    EXPECT_TRUE(gloo[r].mask.equal(inproc[0].mask)) << "gloo rank " << r;
    // Gossip sums in the same order on both backends; the boundary's allreduce may round differently.
    EXPECT_TRUE(at::allclose(gloo[r].values, inproc[r].values, 1e-5, 1e-6)) << "gloo weights, rank " << r;
  }
}

INSTANTIATE_TEST_SUITE_P(Partitions, ParallelGap, ::testing::Values(2, 4));

TEST(ParallelGapCombination, EqualsTheHandComputedCombinationOnBothBackends) {
  // a = mean of ranks 0, 2 = {3, -2, 0.5, -1} -> keep the 2 largest: {3, -2, 0, 0}
  // b = mean of all ranks = {4, 5} (never pruned)
  // c = mean of ranks 1, 3 = {0, 2, 4, -4}   -> keep the 2 largest: {0, 0, 4, -4}
  const at::Tensor expected = at::tensor({3.f, -2.f, 0.f, 0.f, 4.f, 5.f, 0.f, 0.f, 4.f, -4.f});
  const at::Tensor expected_mask = at::tensor({1.f, 1.f, 0.f, 0.f, 1.f, 1.f, 0.f, 0.f, 1.f, 1.f});
  for (Runner runner : {&comm::run_inprocess, &comm::run_gloo_threads}) {
    const auto out = run_hand_boundary(runner, /*end=*/1);
    for (size_t r = 0; r < 4; ++r) {
      EXPECT_TRUE(out[r].values.equal(expected)) << "rank " << r << ": " << out[r].values;
      EXPECT_TRUE(out[r].mask.equal(expected_mask)) << "rank " << r << ": " << out[r].mask;
    }
  }
}

TEST(PerWorkerMaskMessages, AGrownWeightIsAveragedOverItsHoldersOnlyAndTheRestAsUsual) {
  // Four workers, K = 2 (ranks 0, 2 grow a; ranks 1, 3 grow c), complete graph with weights 1/4.
  // Worker r holds r + 1 on every coordinate of its own mask.
  std::vector<WorkerEnd> out(4), out_mean(4);
  std::vector<at::Tensor> masks(4);
  std::mutex mu;
  topology::TopologySpec ts;
  ts.name = "complete";
  ts.workers = 4;
  const topology::Topology topo = topology::make_topology(ts);
  comm::run_inprocess(4, [&](comm::Communicator& c) {
    std::vector<ParamSlice> layout{{"a", 0, 8, {2, 4}}, {"b", 8, 2, {2}}, {"c", 10, 8, {2, 4}}};
    at::Tensor values = at::ones({18}), grads = at::zeros({18});
    PrunerContext ctx;
    ctx.comm = &c;
    Pruner p(parallel_spec(2, 5, 10), layout, values, grads, ctx);
    PrunerMasks own_masks(p);
    optim::MessageSeam gossip(c);
    gossip.use_masks(&own_masks);
    p.start();
    const at::Tensor own = p.mask().clone() * static_cast<float>(c.rank() + 1);
    at::Tensor x = own.clone();
    gossip.mix(x, topo, 0);
    at::Tensor y = own.clone();
    gossip.average(y);
    std::lock_guard<std::mutex> lock(mu);
    out[static_cast<size_t>(c.rank())].values = x;
    out_mean[static_cast<size_t>(c.rank())].values = y;
    masks[static_cast<size_t>(c.rank())] = p.mask().clone();
  });
  for (int r = 0; r < 4; ++r) {
    const at::Tensor m = masks[static_cast<size_t>(r)];
    const at::Tensor common = masks[0] * masks[1];  // the two groups' masks share exactly the common one
    const float grown = r % 2 == 0 ? (1.f + 3.f) / 2 : (2.f + 4.f) / 2;
    at::Tensor expected = at::where(common.eq(1), at::full_like(m, 2.5f), at::where(m.eq(1), at::full_like(m, grown), at::zeros_like(m)));
    EXPECT_TRUE(at::allclose(out[static_cast<size_t>(r)].values, expected, 1e-6, 1e-6)) << "rank " << r;
    EXPECT_TRUE(at::allclose(out_mean[static_cast<size_t>(r)].values, expected, 1e-6, 1e-6)) << "rank " << r;
  }
}

TEST(ParallelGapValidation, OneWorkerAndMorePartitionsThanWorkersAreRejected) {
  std::vector<ParamSlice> layout{{"a", 0, 4, {2, 2}}, {"c", 4, 4, {2, 2}}};
  at::Tensor values = at::ones({8}), grads = at::zeros({8});
  try {
    Pruner p(parallel_spec(2, 1, 4), layout, values, grads);  // no communicator: one worker
    FAIL() << "a single worker was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("workers >= 2"), std::string::npos) << e.what();
  }
  comm::run_inprocess(2, [&](comm::Communicator& c) {
    at::Tensor v = at::ones({8}), g = at::zeros({8});
    PrunerContext ctx;
    ctx.comm = &c;
    try {
      Pruner p(parallel_spec(3, 1, 4), layout, v, g, ctx);
      ADD_FAILURE() << "3 partitions on 2 workers were accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("gap_partitions = 3"), std::string::npos) << e.what();
    }
  });
  PruneSpec wrong = parallel_spec(2, 1, 4);
  wrong.method = PruneMethod::Gmp;
  EXPECT_THROW(wrong.validate(), std::invalid_argument);
}

TEST(ParallelGapCombination, AWeightPrunedAtTheBoundaryAndGrownAgainRestartsWithZeroMomentum) {
  // Combined mask (as in the hand-computed case): a keeps {0, 1}, c keeps {2, 3}. Right after the
  // boundary ranks 0 and 2 grow a again and ranks 1 and 3 grow c: the grown weights are zero, and
  // so must be their momentum (it belonged to weights the combination removed); the momentum of
  // the weights that survived is kept.
  const at::Tensor expected = at::tensor({1.f, 1.f, 0.f, 0.f, 1.f, 1.f, 0.f, 0.f, 1.f, 1.f});
  const auto out = run_hand_boundary(&comm::run_inprocess, /*end=*/2);
  for (size_t r = 0; r < 4; ++r) {
    // The own layer dense again (4), the other at the combined mask (2), the bias (2).
    const int64_t own_first = r % 2 == 0 ? 0 : 6;
    EXPECT_TRUE(out[r].mask.narrow(0, own_first, 4).eq(1).all().item<bool>()) << "rank " << r;
    EXPECT_EQ(out[r].mask.sum().item<int64_t>(), 8) << "rank " << r;
    EXPECT_TRUE(out[r].momentum.equal(expected)) << "momentum on rank " << r << ": " << out[r].momentum;
  }
}

TEST(ParallelGapRewarm, LrFactorClimbsLinearlyAfterEveryCombinationAndIsOneOtherwise) {
  // Phases of 10 steps, schedule over at step 25, re-warm over half a phase (R = 5 steps).
  // Combinations happen before steps 10, 20 and 25; the first phase starts from the random mask.
  std::vector<ParamSlice> layout{{"a", 0, 4, {2, 2}}, {"c", 4, 4, {2, 2}}};
  comm::run_inprocess(2, [&](comm::Communicator& c) {
    at::Tensor v = at::ones({8}), g = at::zeros({8});
    PrunerContext ctx;
    ctx.comm = &c;
    PruneSpec spec = parallel_spec(2, 10, 25);
    spec.gap_rewarm = 0.5;
    Pruner p(spec, layout, v, g, ctx);
    const std::vector<std::pair<int64_t, double>> expected{
        {0, 1.0}, {9, 1.0}, {10, 0.2}, {11, 0.4}, {13, 0.8}, {14, 1.0}, {19, 1.0}, {20, 0.2},
        {24, 1.0}, {25, 0.2}, {28, 0.8}, {29, 1.0}, {100, 1.0}};
    for (const auto& [step, factor] : expected) EXPECT_DOUBLE_EQ(p.lr_factor(step), factor) << "step " << step;
    spec.gap_rewarm = 0.0;
    Pruner off(spec, layout, v, g, ctx);
    for (const auto& [step, factor] : expected) EXPECT_EQ(off.lr_factor(step), 1.0) << "step " << step;
    spec.gap_mode = GapMode::Cyclic;
    spec.gap_rewarm = 1.0;
    Pruner cyclic(spec, layout, v, g, ctx);
    for (const auto& [step, factor] : expected) EXPECT_EQ(cyclic.lr_factor(step), 1.0) << "step " << step;
  });
  PruneSpec bad = parallel_spec(2, 10, 25);
  bad.gap_rewarm = 1.5;
  EXPECT_THROW(bad.validate(), std::invalid_argument);
}
