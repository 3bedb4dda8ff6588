// [robust] and [attack] through the Trainer: an attacked run with centered clipping and worker
// momentum resumes to the uninterrupted run's metrics (the rule's state is checkpointed) and sends
// one packet per other worker a step (the attack's oracle round not counted); SafeguardSGD evicts
// a scaled-gradient attacker and says so; the reported models are the honest workers'; gossip
// with ClippedGossip under dissensus gives the same metrics on both backends.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "gossamer/comm/gloo_communicator.h"
#include "gossamer/comm/inprocess_communicator.h"
#include "gossamer/comm/traffic.h"
#include "gossamer/compress/packet.h"
#include "gossamer/config/config.h"
#include "gossamer/data/dataset.h"
#include "gossamer/train/robust_setup.h"
#include "gossamer/train/run.h"
#include "toy_data.h"
#include "train_test_util.h"

using namespace gossamer;
using gossamer::testing::toy_images;
using namespace gossamer::train::testing;

namespace robust_training_test {

constexpr int64_t kMlpValues = 784 * 32 + 32 + 32 * 10 + 10;  // 25 450

config::Config robust_config(const std::string& dir, const std::vector<std::string>& extra) {
  std::vector<std::string> o{"model.name=mlp", "model.hidden=[32]", "train.batch_size=16", "train.epochs=2",
                             "train.log_every=2", "train.threads=1", "output.progress=off", "cluster.workers=4",
                             "optimizer.algorithm=parallel-sgd", "optimizer.momentum=0", "optimizer.nesterov=false",
                             "output.checkpoint_every=4", "output.dir=\"" + dir + "\""};
  o.insert(o.end(), extra.begin(), extra.end());
  return config::parse_config("", "test", o);
}

TEST(RobustTraining, CenteredClippingUnderAlieResumesExactlyAndSendsOnePacketPerWorker) {
  const std::vector<std::string> extra{"robust.aggregator=\"cc\"", "robust.radius=1.0", "robust.worker_momentum=0.9",
                                       "attack.kind=\"alie\"", "attack.ranks=[3]"};
  const auto train_data = toy_images(384, 31), test_data = toy_images(96, 32);
  const auto parts = iid_shards(train_data, 4);
  const auto topo = ring(4);
  const std::string full_dir = fresh_dir("robust_full"), split_dir = fresh_dir("robust_split");
  const auto a = run_cluster(&comm::run_inprocess, robust_config(full_dir, extra), parts, test_data, topo);
  auto cfg = robust_config(split_dir, extra);
  cfg.train.max_steps = 5;
  run_cluster(&comm::run_inprocess, cfg, parts, test_data, topo);
  cfg.train.max_steps = 0;
  const auto b = run_cluster(&comm::run_inprocess, cfg, parts, test_data, topo, /*resume=*/true);
  EXPECT_DOUBLE_EQ(a.test_accuracy, b.test_accuracy);
  expect_same_metrics(full_dir, split_dir, {"loss", "accuracy", "test_loss", "robust/byzantine_share"});
  const auto ma = read_metrics(full_dir + "/metrics.jsonl");
  // Each step every worker sends one packet of the 25 450 floats to each of the 3 others.
  EXPECT_DOUBLE_EQ(a.bytes_sent_per_step, 3.0 * (comm::kExchangeHeaderBytes + compress::kPacketHeaderBytes + 4 * kMlpValues));
  EXPECT_EQ(a.byzantine, std::vector<int>{3});
  EXPECT_NE(a.messages.find("attack alie from rank(s) 3"), std::string::npos) << a.messages;
  ASSERT_GE(ma.size(), 2u);
  EXPECT_EQ(ma[0]["event"], "run");
  EXPECT_EQ(ma[0]["attack"], "alie");
  EXPECT_TRUE(ma[1].contains("robust/share/r3"));
  EXPECT_GT(a.test_accuracy, 0.3);
}

TEST(RobustTraining, SafeguardEvictsAScaledAttackerAndTheSummaryNamesIt) {
  const auto train_data = toy_images(384, 33), test_data = toy_images(96, 34);
  const auto parts = iid_shards(train_data, 4);
  const auto topo = ring(4);
  auto cfg = robust_config(fresh_dir("robust_safeguard"), {"robust.aggregator=\"safeguard\"", "robust.safeguard_window0=4",
                                                           "robust.safeguard_window1=12", "attack.kind=\"scaled\"",
                                                           "attack.scale=-20", "attack.ranks=[2]"});
  const auto s = run_cluster(&comm::run_inprocess, cfg, parts, test_data, topo);
  EXPECT_EQ(s.excluded, std::vector<int>{2});
  const auto m = read_metrics(cfg.output.dir + "/metrics.jsonl");
  // After the eviction the attacker's share of every aggregate is 0.
  double last_share = -1;
  for (const auto& line : m) {
    if (line.contains("robust/share/r2")) last_share = line["robust/share/r2"].get<double>();
  }
  EXPECT_EQ(last_share, 0.0);
  EXPECT_GT(s.test_accuracy, 0.3);
}

TEST(RobustTraining, ReportedModelsAreTheHonestWorkers) {
  // A NaN attacker's own model stays finite (its own true message is its input), but a label-flip
  // attacker's model differs: with one worker flipping, the consensus distance of the honest
  // workers is exactly 0 under parallel SGD (they apply the same aggregate).
  const auto train_data = toy_images(384, 35), test_data = toy_images(96, 36);
  const auto parts = iid_shards(train_data, 4);
  const auto topo = ring(4);
  auto cfg = robust_config(fresh_dir("robust_labelflip"),
                           {"robust.aggregator=\"median\"", "attack.kind=\"label-flip\"", "attack.ranks=[1]"});
  const auto s = run_cluster(&comm::run_inprocess, cfg, parts, test_data, topo);
  EXPECT_EQ(s.byzantine, std::vector<int>{1});
  EXPECT_LT(s.consensus_distance, 1e-10);
  data::Dataset d = toy_images(8, 1);
  const at::Tensor before = d.targets.clone();
  train::flip_labels(d);
  EXPECT_TRUE(d.targets.equal((d.num_classes - 1) - before));
}

TEST(RobustTraining, ClippedGossipUnderDissensusIsTheSameOnBothBackends) {
  const auto train_data = toy_images(384, 37), test_data = toy_images(96, 38);
  const auto parts = iid_shards(train_data, 4);
  const auto topo = ring(4);
  const std::vector<std::string> extra{"optimizer.algorithm=dsgd", "robust.aggregator=\"clipped-gossip\"",
                                       "attack.kind=\"dissensus\"", "attack.ranks=[2]", "train.epochs=1"};
  auto ci = robust_config(fresh_dir("robust_gossip_inproc"), extra);
  auto cg = robust_config(fresh_dir("robust_gossip_gloo"), extra);
  const auto a = run_cluster(&comm::run_inprocess, ci, parts, test_data, topo);
  const auto b = run_cluster(&comm::run_gloo_threads, cg, parts, test_data, topo);
  EXPECT_EQ(a.test_accuracy, b.test_accuracy);
  // The models agree bit for bit; the consensus distance's mean model is an allreduce, summed in
  // another order by Gloo's ring.
  EXPECT_NEAR(a.consensus_distance, b.consensus_distance, 1e-6 * a.consensus_distance);
  // One packet to each of the 2 ring neighbours a step.
  EXPECT_DOUBLE_EQ(a.bytes_sent_per_step, 2.0 * (comm::kExchangeHeaderBytes + compress::kPacketHeaderBytes + 4 * kMlpValues));
}

}  // namespace robust_training_test

namespace robust_training_test {

TEST(RobustTraining, ANeighbourhoodTooSmallForTheRuleIsRefusedBeforeTraining) {
  const auto train_data = toy_images(64, 39), test_data = toy_images(32, 40);
  const auto parts = iid_shards(train_data, 4);
  const auto topo = ring(4);
  auto cfg = robust_config(fresh_dir("robust_krum_ring"), {"optimizer.algorithm=dsgd", "robust.aggregator=\"krum\""});
  try {
    run_cluster(&comm::run_inprocess, cfg, parts, test_data, topo);
    FAIL() << "krum on a ring (3 inputs per neighbourhood) ran";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("needs 5 inputs per neighbourhood"), std::string::npos) << e.what();
  }
}

}  // namespace robust_training_test

namespace robust_training_test {

TEST(RobustTraining, TheNeighbourhoodCheckComesBeforeTheDataLoads) {
  // No data at this path: the robust refusal must come first, as a ConfigError (exit status 2).
  auto cfg = robust_config(fresh_dir("robust_krum_ring_early"),
                           {"optimizer.algorithm=dsgd", "robust.aggregator=\"krum\"", "data.path=\"/nonexistent\""});
  try {
    train::run_training(cfg, false, nullptr);
    FAIL() << "ran";
  } catch (const config::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("per neighbourhood"), std::string::npos) << e.what();
  } catch (const std::exception& e) {
    FAIL() << "not a config error: " << e.what();
  }
}

}  // namespace robust_training_test
