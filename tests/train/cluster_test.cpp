#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <cmath>
#include <mutex>
#include <thread>

#include "gossamer/comm/communicator.h"
#include "gossamer/comm/gloo_communicator.h"
#include "gossamer/comm/inprocess_communicator.h"
#include "gossamer/config/config.h"
#include "gossamer/data/partition.h"
#include "gossamer/models/model.h"
#include "gossamer/topology/spec.h"
#include "gossamer/train/checkpoint.h"
#include "gossamer/train/trainer.h"
#include "toy_data.h"
#include "train_test_util.h"

using namespace gossamer;
using gossamer::testing::toy_images;
using namespace gossamer::train::testing;
using ::testing::HasSubstr;

namespace {

config::Config cluster_config(int workers, const std::string& algorithm, const std::string& dir) {
  return config::parse_config("", "test",
                              {"model.name=mlp", "model.hidden=[16]", "train.batch_size=16", "train.epochs=1",
                               "train.log_every=5", "train.threads=1", "output.progress=off",
                               "cluster.workers=" + std::to_string(workers), "optimizer.algorithm=" + algorithm,
                               "output.dir=\"" + dir + "\""});
}

}  // namespace

TEST(Cluster, ParallelSgdKeepsReplicasIdenticalAndCountsAllreduceBytes) {
  const auto train = toy_images(320, 1), test = toy_images(80, 2);
  const std::string dir = fresh_dir("cluster_psgd");
  const auto cfg = cluster_config(4, "parallel-sgd", dir);
  const auto s = run_cluster(&comm::run_inprocess, cfg, iid_shards(train, 4), test, ring(4));
  EXPECT_EQ(s.workers, 4);
  EXPECT_EQ(s.steps, 5);  // 320 samples / (4 workers x 16)
  EXPECT_EQ(s.consensus_distance, 0.0);
  EXPECT_EQ(s.worst_worker_accuracy, s.test_accuracy);
  // MLP 784-16-10: 12730 float32 gradients per allreduce; each worker sends what a ring allreduce
  // sends, 2 (n - 1) / n of the buffer.
  const double grad_bytes = 12730 * 4.0;
  EXPECT_NEAR(s.bytes_sent_per_step, 2.0 * 3.0 / 4.0 * grad_bytes, 0.01 * grad_bytes);
  for (int r = 0; r < 4; ++r) EXPECT_TRUE(std::filesystem::exists(dir + "/checkpoint-rank" + std::to_string(r) + ".pt"));
}

TEST(Cluster, DsgdOnARingLeavesReplicasDifferentButClose) {
  const auto train = toy_images(640, 3), test = toy_images(80, 4);
  const auto cfg = cluster_config(4, "dsgd", fresh_dir("cluster_dsgd"));
  const auto s = run_cluster(&comm::run_inprocess, cfg, iid_shards(train, 4), test, ring(4));
  EXPECT_GT(s.consensus_distance, 0.0);
  EXPECT_LT(s.consensus_distance, 1.0);
  // Gossip on a 4-ring: each worker sends its model to 2 neighbours per step.
  EXPECT_NEAR(s.bytes_sent_per_step, 2 * 12730 * 4.0, 1.0);
}

TEST(Cluster, ShardsOfDifferentSizesAgreeOnTheNumberOfSteps) {
  // Dirichlet and class partitions give shards of different sizes; every worker must still plan
  // the same steps (an epoch is one pass over all shards together), or the longer-running workers
  // would wait in collectives for peers that had already finished.
  const auto all = toy_images(170, 11), test = toy_images(40, 12);
  std::vector<data::Dataset> parts;
  int64_t start = 0;
  for (int64_t size : {100, 20, 50}) {
    std::vector<int64_t> idx(static_cast<size_t>(size));
    for (int64_t i = 0; i < size; ++i) idx[static_cast<size_t>(i)] = start + i;
    parts.push_back(all.subset(idx));
    start += size;
  }
  const auto cfg = cluster_config(3, "dsgd", fresh_dir("cluster_unequal"));
  const auto s = run_cluster(&comm::run_inprocess, cfg, parts, test, ring(3));
  EXPECT_EQ(s.steps, 4);  // ceil(170 samples / (3 workers x 16))
  EXPECT_EQ(s.total_steps, 4);
}

TEST(Cluster, SameIteratesOnInProcessAndGloo) {
  const auto train = toy_images(480, 5), test = toy_images(80, 6);
  for (const std::string algorithm : {"parallel-sgd", "dsgd"}) {
    const std::string a_dir = fresh_dir("cluster_inproc_" + algorithm), b_dir = fresh_dir("cluster_gloo_" + algorithm);
    auto cfg = cluster_config(3, algorithm, a_dir);
    cfg.train.log_every = 1;
    const auto a = run_cluster(&comm::run_inprocess, cfg, iid_shards(train, 3), test, ring(3));
    cfg.output.dir = b_dir;
    const auto b = run_cluster(&comm::run_gloo_threads, cfg, iid_shards(train, 3), test, ring(3));
    const auto ma = read_metrics(a_dir + "/metrics.jsonl"), mb = read_metrics(b_dir + "/metrics.jsonl");
    ASSERT_EQ(ma.size(), mb.size());
    for (size_t i = 0; i < ma.size(); ++i) {
      if (ma[i]["event"] != "train") continue;
      // Tolerance: Gloo's ring sums in another order than InProcess's rank order (float32).
      EXPECT_NEAR(ma[i]["loss"].get<double>(), mb[i]["loss"].get<double>(), 1e-4) << algorithm << " line " << i;
      EXPECT_DOUBLE_EQ(ma[i]["bytes_sent_per_step"].get<double>(), mb[i]["bytes_sent_per_step"].get<double>());
    }
    EXPECT_NEAR(a.test_accuracy, b.test_accuracy, 0.02) << algorithm;
  }
}

TEST(Cluster, AWorkerThatDiesMidRunStopsTheOthersAndTheLastCheckpointIsIntact) {
  const auto train = toy_images(640, 7), test = toy_images(40, 8);
  const std::string dir = fresh_dir("cluster_dead");
  auto cfg = cluster_config(3, "parallel-sgd", dir);
  cfg.output.checkpoint_every = 2;
  cfg.data.order = "cyclic";  // batch k of a worker is samples [16k, 16k + 16) of its shard
  auto parts = iid_shards(train, 3);
  parts[2].inputs.narrow(0, 64, parts[2].size() - 64).fill_(std::nan(""));  // rank 2's 5th batch is NaN
  const auto topo = ring(3);
  const auto t0 = std::chrono::steady_clock::now();
  try {
    comm::run_inprocess(
        3,
        [&](comm::Communicator& c) {
          train::Trainer t(cfg, parts[static_cast<size_t>(c.rank())], test, dir, train::WorkerContext{&c, &topo});
          t.run(false);
        },
        std::chrono::milliseconds(5000));
    FAIL() << "expected the run to fail";
  } catch (const std::exception& e) {
    EXPECT_THAT(e.what(), HasSubstr("rank 2")) << e.what();
    EXPECT_THAT(e.what(), HasSubstr("loss became nan at step 4")) << e.what();
  }
  // The others did not wait for the timeout: the failure aborted the group.
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 4.0);
  // Every worker's checkpoint of the last completed step (4) is intact and loadable.
  models::ModelSpec spec;
  spec.name = "mlp";
  spec.hidden = {16};
  for (int r = 0; r < 3; ++r) {
    auto model = models::make_model(spec);
    const auto extras = train::load_checkpoint(dir + "/checkpoint-rank" + std::to_string(r) + ".pt", *model, nullptr);
    EXPECT_EQ(nlohmann::json::parse(extras.meta_json)["step"].get<int64_t>(), 4) << "rank " << r;
  }
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << e.path();
  }
}

TEST(Cluster, AWorkerThatStopsAnsweringTimesTheOthersOutNamingIt) {
  const auto train = toy_images(320, 9), test = toy_images(40, 10);
  auto cfg = cluster_config(3, "parallel-sgd", fresh_dir("cluster_silent"));
  const auto parts = iid_shards(train, 3);
  const auto topo = ring(3);
  const auto t0 = std::chrono::steady_clock::now();
  try {
    comm::run_inprocess(
        3,
        [&](comm::Communicator& c) {
          if (c.rank() == 2) {  // alive but silent: never joins the run
            std::this_thread::sleep_for(std::chrono::milliseconds(2500));
            return;
          }
          train::Trainer t(cfg, parts[static_cast<size_t>(c.rank())], test, cfg.output.dir, train::WorkerContext{&c, &topo});
          t.run(false);
        },
        std::chrono::milliseconds(800));
    FAIL() << "expected a timeout";
  } catch (const comm::CommTimeout& e) {
    EXPECT_THAT(e.what(), HasSubstr("rank(s) 2 did not reach")) << e.what();
    std::printf("the others stopped with: %s\n", e.what());
  }
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 6.0);
}
