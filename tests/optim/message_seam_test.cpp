// The message seam: packed (sparse-aware) messages give bit-identical iterates to dense ones for
// every algorithm, across a mask change; the bytes are the packed ones; per-worker masks average
// each coordinate over its holders, for flat and stacked messages (hand-computed); algorithms
// that need exact linear mixing refuse per-worker masks and non-exact rules; a custom mixing
// rule written against the seam (the docs' example) works on both backends.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <mutex>

#include "gossamer/comm/communicator.h"
#include "gossamer/optim/message_seam.h"
#include "optim_test_util.h"

namespace gossamer::optim::testing {
namespace message_seam_test {

// Masks set by the test: one mask for everyone, or one per rank.
class TestMasks final : public MessageMasks {
 public:
  TestMasks(int world, at::Tensor shared, bool may_differ = false)
      : masks_(static_cast<size_t>(world), shared), may_differ_(may_differ) {}
  void set_all(const at::Tensor& m) {
    for (auto& x : masks_) x = m;
    differ_ = false;
    ++epoch_;
  }
  void set_each(std::vector<at::Tensor> per_rank) {
    masks_ = std::move(per_rank);
    differ_ = true;
    ++epoch_;
  }
  int64_t numel() const override { return masks_[0].numel(); }
  int64_t epoch() const override { return epoch_; }
  bool may_differ() const override { return may_differ_; }
  bool differ() const override { return differ_; }
  at::Tensor mask(int rank) const override { return masks_.at(static_cast<size_t>(rank)); }
  std::string describe() const override { return "the test's masks"; }

 private:
  std::vector<at::Tensor> masks_;
  bool may_differ_ = false, differ_ = false;
  int64_t epoch_ = 0;
};

constexpr int kWorkers = 4;
constexpr int64_t kDim = 30;
constexpr int kSteps = 12, kSwitch = 6;

// 20 of 30 kept, then (from step kSwitch) 22 of 30 with a different pattern.
at::Tensor mask_a() { return at::arange(kDim).remainder(3).ne(0).to(at::kDouble); }
at::Tensor mask_b() { return at::arange(kDim).remainder(4).ne(1).to(at::kDouble); }

struct SparseRun {
  at::Tensor trajectory;           // [steps + 1, n, dim]
  std::vector<SeamStats> stats;    // per rank
};

// Runs `spec` the way the trainer runs a sparse model: the gradient is masked before the step,
// the weights and every state tensor after it; the mask switches (as RigL's does) at kSwitch.
SparseRun run_sparse(Backend backend, const Problem& pb, const at::Tensor& X0, const RunSpec& spec, bool packed) {
  SparseRun out;
  out.trajectory = at::zeros({spec.steps + 1, kWorkers, kDim}, at::kDouble);
  out.stats.resize(kWorkers);
  out.trajectory[0].copy_(X0 * mask_a());
  run_backend(backend, kWorkers, [&](comm::Communicator& comm) {
    const int r = comm.rank();
    TestMasks masks(kWorkers, mask_a());
    at::Tensor x = (X0[r] * mask_a()).contiguous().requires_grad_(true);
    auto opt = make_distributed_optimizer(spec.algorithm, spec.options, {x}, comm, spec.topology, spec.local(x, spec.lr));
    if (packed) opt->use_masks(&masks);
    at::Tensor mask = mask_a();
    for (int k = 0; k < spec.steps; ++k) {
      opt->set_lr(spec.lr);
      torch::NoGradGuard no_grad;
      if (k == kSwitch) {
        mask = mask_b();
        masks.set_all(mask);
      }
      x.mutable_grad() = pb.grad(r, x.detach()) * mask;
      opt->step();
      x.mul_(mask);
      for (auto& t : opt->state_tensors()) {
        if (t.defined() && t.numel() == kDim) t.mul_(mask.view(t.sizes()));
      }
      out.trajectory[k + 1][r].copy_(x.detach());
    }
    out.stats[static_cast<size_t>(r)] = opt->seam().stats();
  });
  return out;
}

std::vector<RunSpec> every_algorithm(const topology::Topology& ring) {
  std::vector<RunSpec> specs;
  for (const auto& name : algorithm_names()) {
    // choco gossips float32 compressed packets (this problem is float64); its packed layout is
    // tested in compressed_gossip_test and, packed against dense, in tests/train/packed_messages_test.
    if (name == "choco") continue;
    RunSpec s;
    s.algorithm = name;
    s.topology = algorithm_needs_topology(name) ? &ring : nullptr;
    s.lr = 0.02;
    s.steps = kSteps;
    s.options.gossip_pga.period = 3;
    s.options.local_sgd.period = 3;
    s.options.diloco.period = 3;
    s.options.wagma.global_period = 3;
    s.options.dadam.tracking = name == "dadam";
    // The algorithms with their own update take plain SGD; the others get momentum, whose buffer
    // is state the mask must reach.
    const bool own_update = name == "d2" || name == "gradient-tracking" || name == "dadam";
    s.local = own_update ? plain_sgd() : momentum_sgd(0.9);
    specs.push_back(s);
  }
  return specs;
}

TEST(PackedMessages, EveryAlgorithmGivesTheDenseIteratesBitForBitAcrossAMaskChange) {
  const Problem pb = make_problem(kWorkers, kDim, 1.0);
  const at::Tensor X0 = initial_points(kWorkers, kDim);
  const auto ring = topo("ring", kWorkers);
  for (const RunSpec& spec : every_algorithm(ring)) {
    const SparseRun dense = run_sparse(Backend::InProcess, pb, X0, spec, false);
    const SparseRun packed = run_sparse(Backend::InProcess, pb, X0, spec, true);
    EXPECT_TRUE(at::equal(dense.trajectory, packed.trajectory))
        << spec.algorithm << ": max difference " << (dense.trajectory - packed.trajectory).abs().max().item<double>();
    // The run moved, and the packed one sent fewer bytes than its dense messages would have.
    EXPECT_GT((dense.trajectory[kSteps] - dense.trajectory[0]).abs().max().item<double>(), 1e-3) << spec.algorithm;
    for (int r = 0; r < kWorkers; ++r) {
      const SeamStats& d = dense.stats[static_cast<size_t>(r)];
      const SeamStats& p = packed.stats[static_cast<size_t>(r)];
      EXPECT_EQ(d.bytes_sent, d.dense_bytes_sent) << spec.algorithm << " rank " << r;
      EXPECT_EQ(p.dense_bytes_sent, d.dense_bytes_sent) << spec.algorithm << " rank " << r;
      EXPECT_GT(p.calls, 0u) << spec.algorithm;
      EXPECT_LT(p.bytes_sent, d.bytes_sent) << spec.algorithm << " rank " << r;
    }
  }
}

TEST(PackedMessages, DsgdSendsFourBytesPerKeptFloatAndEightPerKeptDouble) {
  // dsgd on a ring of 4: 2 out-neighbours per step. float64 messages: 8 bytes per kept value.
  const Problem pb = make_problem(kWorkers, kDim, 1.0);
  const at::Tensor X0 = initial_points(kWorkers, kDim);
  const auto ring = topo("ring", kWorkers);
  RunSpec s = every_algorithm(ring)[1];
  ASSERT_EQ(s.algorithm, "dsgd");
  const SparseRun packed = run_sparse(Backend::InProcess, pb, X0, s, true);
  const uint64_t kept_a = 20, kept_b = 22;  // mask_a and mask_b, counted by hand
  for (int r = 0; r < kWorkers; ++r) {
    const SeamStats& st = packed.stats[static_cast<size_t>(r)];
    EXPECT_EQ(st.bytes_sent, kSwitch * 2 * kept_a * 8 + (kSteps - kSwitch) * 2 * kept_b * 8) << "rank " << r;
    EXPECT_EQ(st.dense_bytes_sent, kSteps * 2 * kDim * 8u) << "rank " << r;
    EXPECT_EQ(st.values_sent, kSwitch * kept_a + (kSteps - kSwitch) * kept_b) << "rank " << r;
  }
}

TEST(PackedMessages, InProcessAndGlooGiveTheSameIterates) {
  const Problem pb = make_problem(kWorkers, kDim, 1.0);
  const at::Tensor X0 = initial_points(kWorkers, kDim);
  const auto ring = topo("ring", kWorkers);
  for (const RunSpec& spec : every_algorithm(ring)) {
    if (spec.algorithm != "gradient-tracking" && spec.algorithm != "gossip-pga" && spec.algorithm != "wagma") continue;
    const SparseRun a = run_sparse(Backend::InProcess, pb, X0, spec, true);
    const SparseRun g = run_sparse(Backend::Gloo, pb, X0, spec, true);
    EXPECT_LE(relative_error(g.trajectory, a.trajectory), 1e-12) << spec.algorithm;
    for (int r = 0; r < kWorkers; ++r) {
      EXPECT_EQ(a.stats[static_cast<size_t>(r)].bytes_sent, g.stats[static_cast<size_t>(r)].bytes_sent) << spec.algorithm;
    }
  }
}

// Per-worker masks: rank r holds the 4 common coordinates plus those with (c + r) even. Messages
// [2, 10] (a stacked buffer, as gradient tracking's) and [10], on a complete graph (1/4 each).
TEST(PerWorkerMasks, EveryRowOfAStackedMessageIsAveragedOverTheHoldersOnly) {
  constexpr int64_t n = 10;
  auto mask_of = [](int r) {
    at::Tensor c = at::arange(n);
    return at::logical_or(c.lt(4), (c + r).remainder(2).eq(0)).to(at::kDouble);
  };
  const auto complete = topo("complete", kWorkers);
  auto value = [&](int r, int row) { return mask_of(r) * (static_cast<double>(r + 1) * (row == 0 ? 1.0 : 10.0)); };
  std::vector<at::Tensor> mixed(kWorkers), averaged(kWorkers), flat(kWorkers);
  std::vector<SeamStats> stats(kWorkers);
  std::mutex mu;
  for (Backend b : {Backend::InProcess, Backend::Gloo}) {
    run_backend(b, kWorkers, [&](comm::Communicator& c) {
      const int r = c.rank();
      std::vector<at::Tensor> per_rank;
      for (int j = 0; j < kWorkers; ++j) per_rank.push_back(mask_of(j));
      TestMasks masks(kWorkers, mask_of(0), /*may_differ=*/true);
      masks.set_each(per_rank);
      MessageSeam seam(c);
      seam.use_masks(&masks);
      EXPECT_FALSE(seam.exact_linear());
      at::Tensor stacked = at::stack({value(r, 0), value(r, 1)}).contiguous();
      seam.mix(stacked, complete, 0);
      const SeamStats after_mix = seam.stats();
      at::Tensor avg = at::stack({value(r, 0), value(r, 1)}).contiguous();
      seam.average(avg);
      at::Tensor one = value(r, 0).contiguous();
      seam.mix(one, complete, 1);
      std::lock_guard<std::mutex> lock(mu);
      mixed[static_cast<size_t>(r)] = stacked;
      averaged[static_cast<size_t>(r)] = avg;
      flat[static_cast<size_t>(r)] = one;
      stats[static_cast<size_t>(r)] = after_mix;
    });
    for (int i = 0; i < kWorkers; ++i) {
      // By hand: x_i[c] = m_i[c] * (sum_j x_j[c] / 4) / (sum_j m_j[c] / 4) = m_i[c] * mean of the holders.
      at::Tensor expect = at::zeros({2, n}, at::kDouble);
      for (int row = 0; row < 2; ++row) {
        for (int64_t c = 0; c < n; ++c) {
          double sum = 0, holders = 0;
          for (int j = 0; j < kWorkers; ++j) {
            const double m = mask_of(j)[c].item<double>();
            sum += value(j, row)[c].item<double>();
            holders += m;
          }
          expect[row][c] = mask_of(i)[c].item<double>() * sum / holders;
        }
      }
      const std::string what = backend_name(b) + " rank " + std::to_string(i);
      EXPECT_TRUE(at::allclose(mixed[static_cast<size_t>(i)], expect, 1e-12, 1e-12)) << what << "\n" << mixed[static_cast<size_t>(i)] << "\n" << expect;
      EXPECT_TRUE(at::allclose(averaged[static_cast<size_t>(i)], expect, 1e-12, 1e-12)) << what;
      EXPECT_TRUE(at::allclose(flat[static_cast<size_t>(i)], expect[0], 1e-12, 1e-12)) << what;
      // Each neighbour got one packet of this rank's own values: 2 rows x its kept count, 8 bytes
      // each, plus the 8-byte size header.
      const uint64_t kept = static_cast<uint64_t>(mask_of(i).sum().item<double>());
      EXPECT_EQ(stats[static_cast<size_t>(i)].bytes_sent, 3 * (8 + 2 * kept * 8)) << what;
      EXPECT_EQ(stats[static_cast<size_t>(i)].dense_bytes_sent, 3 * 2 * n * 8u) << what;
    }
  }
}

TEST(PerWorkerMasks, AreRefusedByEveryAlgorithmThatNeedsExactMixingNamingBoth) {
  const auto ring = topo("ring", 2);
  comm::run_inprocess(2, [&](comm::Communicator& c) {
    for (const RunSpec& spec : every_algorithm(topo("ring", kWorkers))) {
      at::Tensor x = at::zeros({kDim}, at::kDouble).requires_grad_(true);
      RunSpec s = spec;
      if (s.topology) s.topology = &ring;
      if (s.algorithm == "wagma") continue;  // group sizes are for 4 workers; no exactness need anyway
      auto opt = make_distributed_optimizer(s.algorithm, s.options, {x}, c, s.topology, s.local(x, 0.1));
      TestMasks differing(2, mask_a(), /*may_differ=*/true);
      TestMasks shared(2, mask_a());
      const bool needs = s.algorithm == "d2" || s.algorithm == "gradient-tracking" || s.algorithm == "decentlam" ||
                         s.algorithm == "dadam";  // dadam with tracking = true (every_algorithm sets it)
      EXPECT_EQ(!opt->exact_mixing_need().empty(), needs) << s.algorithm;
      EXPECT_NO_THROW(opt->use_masks(&shared)) << s.algorithm;
      if (needs) {
        try {
          opt->use_masks(&differing);
          ADD_FAILURE() << s.algorithm << " accepted per-worker masks";
        } catch (const std::invalid_argument& e) {
          const std::string m = e.what();
          EXPECT_NE(m.find(opt->name()), std::string::npos) << m;
          EXPECT_NE(m.find("the test's masks"), std::string::npos) << m;
          EXPECT_NE(m.find("exact linear mixing"), std::string::npos) << m;
        }
      } else {
        EXPECT_NO_THROW(opt->use_masks(&differing)) << s.algorithm;
      }
    }
  });
}

TEST(PackedMessages, AMessageThatIsNotTheParameterVectorIsRefused) {
  comm::run_inprocess(2, [&](comm::Communicator& c) {
    TestMasks masks(2, mask_a());
    MessageSeam seam(c);
    seam.use_masks(&masks);
    at::Tensor odd = at::zeros({kDim + 1}, at::kDouble);
    try {
      seam.average(odd);
      ADD_FAILURE() << "a [31] message was accepted with masks of 30";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("[31]"), std::string::npos) << e.what();
    }
  });
  // The optimizer checks the parameter count when the masks are installed.
  comm::run_inprocess(1, [&](comm::Communicator& c) {
    at::Tensor a = at::zeros({kDim}, at::kDouble).requires_grad_(true);
    at::Tensor b = at::zeros({3}, at::kDouble).requires_grad_(true);
    auto local = std::make_unique<torch::optim::SGD>(std::vector<at::Tensor>{a, b}, torch::optim::SGDOptions(0.1));
    auto opt = make_distributed_optimizer("parallel-sgd", {}, {a, b}, c, nullptr, std::move(local));
    TestMasks masks(1, mask_a());
    EXPECT_THROW(opt->use_masks(&masks), std::invalid_argument);
  });
}

// The docs' example (docs/optimizers.md): a mixing rule of one's own, the coordinate-wise median
// of the in-neighbours' models and one's own, from the individual messages of neighbor_gather.
class MedianMixing final : public Mixing {
 public:
  void mix(comm::Communicator& comm, at::Tensor& x, const topology::Topology& topo, int64_t step) override {
    std::vector<at::Tensor> all = comm.neighbor_gather(x, topo, step);
    all.push_back(x.clone());
    x.copy_(std::get<0>(at::stack(all).median(0)));
  }
  void average(comm::Communicator& comm, at::Tensor& x) override { comm.allreduce(x, comm::ReduceOp::Mean); }
  void group_average(comm::Communicator& comm, at::Tensor& x, const std::vector<int>& group) override {
    comm.group_allreduce(x, group, comm::ReduceOp::Mean);
  }
  bool exact_linear() const override { return false; }
  std::string name() const override { return "median"; }
};

TEST(CustomMixing, AMedianRuleRunsInDsgdOnBothBackendsAndExactAlgorithmsRefuseIt) {
  constexpr int n = 5;
  const auto ring = topo("ring", n);
  for (Backend b : {Backend::InProcess, Backend::Gloo}) {
    std::vector<at::Tensor> got(n);
    std::mutex mu;
    run_backend(b, n, [&](comm::Communicator& c) {
      const int r = c.rank();
      // Worker r holds (r^2, -r): the median of {r-1, r, r+1} (mod 5) per coordinate.
      at::Tensor x = at::tensor({static_cast<double>(r * r), static_cast<double>(-r)}, at::kDouble).requires_grad_(true);
      auto opt = make_distributed_optimizer("dsgd", {}, {x}, c, &ring,
                                            std::make_unique<torch::optim::SGD>(std::vector<at::Tensor>{x},
                                                                                torch::optim::SGDOptions(0.0)));
      opt->set_mixing(std::make_unique<MedianMixing>());
      x.mutable_grad() = at::zeros_like(x);
      opt->step();
      std::lock_guard<std::mutex> lock(mu);
      got[static_cast<size_t>(r)] = x.detach().clone();
      // An algorithm whose correctness needs exact mixing refuses the rule.
      at::Tensor y = at::zeros({2}, at::kDouble).requires_grad_(true);
      auto gt = make_distributed_optimizer("gradient-tracking", {}, {y}, c, &ring,
                                           std::make_unique<torch::optim::SGD>(std::vector<at::Tensor>{y},
                                                                               torch::optim::SGDOptions(0.1)));
      EXPECT_THROW(gt->set_mixing(std::make_unique<MedianMixing>()), std::invalid_argument);
    });
    for (int r = 0; r < n; ++r) {
      std::vector<double> sq, neg;
      for (int j : {(r + n - 1) % n, r, (r + 1) % n}) {
        sq.push_back(static_cast<double>(j * j));
        neg.push_back(static_cast<double>(-j));
      }
      std::sort(sq.begin(), sq.end());
      std::sort(neg.begin(), neg.end());
      EXPECT_DOUBLE_EQ(got[static_cast<size_t>(r)][0].item<double>(), sq[1]) << backend_name(b) << " rank " << r;
      EXPECT_DOUBLE_EQ(got[static_cast<size_t>(r)][1].item<double>(), neg[1]) << backend_name(b) << " rank " << r;
    }
  }
}

}  // namespace message_seam_test
}  // namespace gossamer::optim::testing
