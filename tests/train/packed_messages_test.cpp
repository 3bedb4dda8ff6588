// Sparse-aware messages through the Trainer: for every algorithm and every schedule, the same seed
// gives identical metrics and weights with packed and with dense messages (sparse.kernels =
// dense); the summary counts the bytes dense messages would have sent; the algorithms' own state
// is masked (a pruned weight holds no stale tracker, correction or moment that would come back
// with it when RigL regrows it).
#include <gtest/gtest.h>

#include <algorithm>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "gossamer/comm/inprocess_communicator.h"
#include "gossamer/config/config.h"
#include "gossamer/models/model.h"
#include "gossamer/optim/factory.h"
#include "gossamer/train/checkpoint.h"
#include "toy_data.h"
#include "train_test_util.h"

using namespace gossamer;
using gossamer::testing::toy_images;
using namespace gossamer::train::testing;

namespace packed_messages_test {

constexpr int kWorkers = 4;

config::Config packed_config(const std::string& dir, const std::vector<std::string>& extra) {
  std::vector<std::string> o{"model.name=mlp", "model.hidden=[32]", "train.batch_size=16", "train.epochs=2",
                             "train.log_every=2", "train.threads=1", "output.progress=off", "sparse.sparsity=0.9",
                             "sparse.update_every=3", "sparse.start_epoch=0", "sparse.end_epoch=1.5",
                             "sparse.kernels=dense", "sparse.export=false", "cluster.workers=4",
                             "output.dir=\"" + dir + "\""};
  o.insert(o.end(), extra.begin(), extra.end());
  return config::parse_config("", "test", o);
}

// What a run leaves: its metrics without the timing and traffic fields, and rank 0's weights.
struct RunResult {
  std::vector<nlohmann::json> metrics;
  at::Tensor weights;
  train::RunSummary summary;
};

RunResult run(const config::Config& cfg) {
  static const auto train_data = toy_images(384, 21), test_data = toy_images(96, 22);
  const auto parts = iid_shards(train_data, kWorkers);
  const auto topo = ring(kWorkers);
  RunResult r;
  r.summary = run_cluster(&comm::run_inprocess, cfg, parts, test_data, topo);
  for (auto row : read_metrics(cfg.output.dir + "/metrics.jsonl")) {
    for (const char* k : {"wall_s", "samples_per_s", "bytes_sent_per_worker", "bytes_sent_per_step",
                          "modelled_comm_s", "dense_bytes_sent_per_worker"}) {
      row.erase(k);
    }
    r.metrics.push_back(row);
  }
  models::ModelSpec spec;
  spec.name = "mlp";
  spec.hidden = {32};
  auto model = models::make_model(spec);
  train::load_checkpoint(cfg.output.dir + "/checkpoint-rank0.pt", *model, nullptr);
  std::vector<at::Tensor> flat;
  for (const auto& p : model->parameters()) flat.push_back(p.detach().reshape({-1}));
  r.weights = at::cat(flat);
  return r;
}

std::vector<std::string> algorithm_settings(const std::string& algorithm) {
  std::vector<std::string> o{"optimizer.algorithm=" + algorithm, "optimizer.period=3", "optimizer.global_period=3",
                             "optimizer.nesterov=false"};
  // The algorithms with their own update rule take plain SGD.
  if (algorithm == "d2" || algorithm == "gradient-tracking" || algorithm == "dadam") {
    o.push_back("optimizer.momentum=0");
  }
  if (algorithm == "dadam") o.push_back("optimizer.tracking=true");
  // fp16 rounds each value alone, so choco's packed and dense runs must agree bit for bit too.
  if (algorithm == "choco") o.push_back("compress.method=fp16");
  return o;
}

void expect_same_run(const std::vector<std::string>& settings, const std::string& what) {
  std::vector<std::string> dense_settings = settings, packed_settings = settings;
  dense_settings.push_back("sparse.packed_messages=false");
  const RunResult dense = run(packed_config(fresh_dir("packed_dense"), dense_settings));
  const RunResult packed = run(packed_config(fresh_dir("packed_packed"), packed_settings));
  ASSERT_EQ(dense.metrics.size(), packed.metrics.size()) << what;
  for (size_t i = 0; i < dense.metrics.size(); ++i) {
    EXPECT_EQ(dense.metrics[i], packed.metrics[i]) << what << ", metrics line " << i;
  }
  EXPECT_TRUE(at::equal(dense.weights, packed.weights)) << what << ": the final weights differ";
  // Dense messages send what they would send; packed ones less, and the summary says both.
  // (Compressed messages, choco's fp16, send less than that even dense.)
  const bool compressed = std::any_of(settings.begin(), settings.end(), [](const std::string& o) {
    return o.rfind("compress.method=", 0) == 0;
  });
  if (compressed) {
    EXPECT_LT(dense.summary.bytes_sent_per_worker, dense.summary.dense_bytes_sent_per_worker) << what;
  } else {
    EXPECT_DOUBLE_EQ(dense.summary.bytes_sent_per_worker, dense.summary.dense_bytes_sent_per_worker) << what;
  }
  EXPECT_DOUBLE_EQ(packed.summary.dense_bytes_sent_per_worker, dense.summary.dense_bytes_sent_per_worker) << what;
  EXPECT_LT(packed.summary.bytes_sent_per_worker, dense.summary.bytes_sent_per_worker) << what;
  EXPECT_NE(packed.summary.messages.find("packed"), std::string::npos) << packed.summary.messages;
  EXPECT_NE(dense.summary.messages.find("dense"), std::string::npos) << dense.summary.messages;
}

TEST(PackedMessagesInTraining, EveryAlgorithmWithRiglGivesTheSameRunPackedAndDense) {
  for (const auto& algorithm : optim::algorithm_names()) {
    auto s = algorithm_settings(algorithm);
    s.push_back("sparse.method=rigl");
    expect_same_run(s, algorithm + " with rigl");
  }
}

TEST(PackedMessagesInTraining, EverySharedMaskScheduleGivesTheSameRunPackedAndDense) {
  for (const std::string method : {"oneshot", "gmp", "gap", "set"}) {
    for (const std::string algorithm : {"dsgd", "parallel-sgd"}) {
      auto s = algorithm_settings(algorithm);
      s.push_back("sparse.method=" + method);
      if (method == "gap") {
        s.push_back("sparse.gap_partitions=2");
        s.push_back("sparse.gap_epochs=0.5");
      }
      expect_same_run(s, algorithm + " with " + method);
    }
  }
}

TEST(PackedMessagesInTraining, SrsteSendsDenseMessagesAndSaysSo) {
  // SR-STE's pruned weights stay live between steps (straight-through), so its messages stay dense.
  auto cfg = packed_config(fresh_dir("packed_srste"),
                           {"optimizer.algorithm=dsgd", "sparse.method=srste", "sparse.pattern=n:m", "sparse.n=1",
                            "sparse.m=4"});
  const RunResult r = run(cfg);
  EXPECT_DOUBLE_EQ(r.summary.bytes_sent_per_worker, r.summary.dense_bytes_sent_per_worker);
  EXPECT_NE(r.summary.messages.find("dense messages"), std::string::npos) << r.summary.messages;
}

TEST(PackedMessagesInTraining, ParallelGapWithPackingOffIsRefusedByTheConfig) {
  EXPECT_THROW(packed_config(fresh_dir("packed_pgap"), {"sparse.method=gap", "sparse.gap_mode=parallel",
                                                         "sparse.gap_partitions=2", "sparse.packed_messages=false"}),
               config::ConfigError);
}

// A pruned weight must hold zero algorithm state: otherwise RigL, SET or GaP, regrowing it, brings
// back a stale tracker (gradient tracking), correction (D²) or moment (DAdam). The checkpoint holds
// every worker's algorithm state at the end of a RigL run.
TEST(PackedMessagesInTraining, PrunedWeightsHoldZeroAlgorithmStateSoARegrownWeightStartsClean) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases{
      {"d2", {"d2.psi.0"}},
      {"gradient-tracking", {"gradient-tracking.y_mixed.0", "gradient-tracking.g_prev.0"}},
      {"dadam", {"dadam.m.0", "dadam.v.0", "dadam.y_mixed.0", "dadam.g_prev.0"}}};
  for (const auto& [algorithm, keys] : cases) {
    const std::string dir = fresh_dir("packed_state_" + algorithm);
    auto s = algorithm_settings(algorithm);
    s.push_back("sparse.method=rigl");
    s.push_back("sparse.sparsity=0.5");
    s.push_back("sparse.drop_fraction=0.5");
    // Updates at steps 3 and 6 (update_every 3, end at step 9); stopping right after step 6 leaves
    // the weights that update dropped with whatever state the step gave them, unless it is masked
    // (D² rewrites ψ at every step, so only the step of a drop shows its stale ψ).
    s.push_back("train.max_steps=7");
    run(packed_config(dir, s));
    models::ModelSpec spec;
    spec.name = "mlp";
    spec.hidden = {32};
    for (int r = 0; r < kWorkers; ++r) {
      auto model = models::make_model(spec);
      std::vector<std::string> names = keys;
      names.push_back("sparse.mask");
      const auto ex = train::load_checkpoint(dir + "/checkpoint-rank" + std::to_string(r) + ".pt", *model, nullptr, names);
      const at::Tensor pruned = ex.tensors.at("sparse.mask").eq(0);
      ASSERT_GT(pruned.sum().item<int64_t>(), 1000) << algorithm;
      for (const auto& k : keys) {
        const at::Tensor t = ex.tensors.at(k);
        EXPECT_EQ(t.masked_select(pruned).abs().max().item<double>(), 0.0)
            << algorithm << " rank " << r << ": '" << k << "' is not zero on the pruned weights";
        EXPECT_GT(t.abs().max().item<double>(), 0.0) << algorithm << ": '" << k << "' is all zero (did it run?)";
      }
    }
  }
}

}  // namespace packed_messages_test
