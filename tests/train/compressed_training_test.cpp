// [compress] through the Trainer: compressed averages send the packets' bytes (the summary's
// ratio), an interrupted run with error feedback resumes to the uninterrupted run's metrics (the
// error memory and the draw counter are checkpointed), and wrong combinations are config errors.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>

#include "gossamer/comm/inprocess_communicator.h"
#include "gossamer/comm/traffic.h"
#include "gossamer/compress/packet.h"
#include "gossamer/config/config.h"
#include "toy_data.h"
#include "train_test_util.h"

using namespace gossamer;
using gossamer::testing::toy_images;
using namespace gossamer::train::testing;

namespace compressed_training_test {

config::Config compressed_config(const std::string& dir, const std::vector<std::string>& extra) {
  std::vector<std::string> o{"model.name=mlp", "model.hidden=[32]", "train.batch_size=16", "train.epochs=2",
                             "train.log_every=2", "train.threads=1", "output.progress=off", "cluster.workers=4",
                             "optimizer.algorithm=parallel-sgd", "output.checkpoint_every=4",
                             "output.dir=\"" + dir + "\""};
  o.insert(o.end(), extra.begin(), extra.end());
  return config::parse_config("", "test", o);
}

// Runs `extra` whole and split at step 5 (resumed from the checkpoint of step 4); checks the metrics
// agree exactly and returns the whole run's summary.
train::RunSummary expect_exact_resume(const std::vector<std::string>& extra, const std::string& name) {
  const auto train_data = toy_images(384, 31), test_data = toy_images(96, 32);
  const auto parts = iid_shards(train_data, 4);
  const auto topo = ring(4);
  const std::string full_dir = fresh_dir(name + "_full"), split_dir = fresh_dir(name + "_split");
  const auto a = run_cluster(&comm::run_inprocess, compressed_config(full_dir, extra), parts, test_data, topo);
  auto cfg = compressed_config(split_dir, extra);
  cfg.train.max_steps = 5;  // between two checkpoints: the resume restarts from the stop's own checkpoint
  run_cluster(&comm::run_inprocess, cfg, parts, test_data, topo);
  cfg.train.max_steps = 0;
  const auto b = run_cluster(&comm::run_inprocess, cfg, parts, test_data, topo, /*resume=*/true);
  EXPECT_DOUBLE_EQ(a.test_accuracy, b.test_accuracy);
  SCOPED_TRACE(name);
  expect_same_metrics(full_dir, split_dir, {"loss", "accuracy", "test_loss"});
  return a;
}

TEST(CompressedTraining, TopKWithErrorFeedbackResumesExactlyAndSendsThePacketBytes) {
  const auto a = expect_exact_resume(
      {"compress.method=topk", "compress.density=0.05", "compress.error_feedback=true"}, "compress_topk");
  // MLP 784-32-10: 25 450 values, k = round(0.05 * 25 450) = 1273 (4 bytes of index and 4 of value);
  // each step every worker sends its packet to the 3 others, each with an 8-byte size header.
  const double per_step = 3.0 * (comm::kExchangeHeaderBytes + compress::kPacketHeaderBytes + 1273 * 8);
  EXPECT_DOUBLE_EQ(a.bytes_sent_per_step, per_step);
  EXPECT_NE(a.messages.find("compressed (topk, error feedback)"), std::string::npos) << a.messages;
  // Dense: a ring allreduce of 25 450 floats, 2 (n-1)/n of them sent = 152 700 bytes a step, so
  // 30 648 / 152 700 = 20.1% (the packets go to every other worker, n - 1 of them).
  EXPECT_NEAR(a.bytes_sent_per_worker / a.dense_bytes_sent_per_worker, 30648.0 / 152700.0, 1e-9);
}

TEST(CompressedTraining, ChocoResumesExactlyAndSendsOnePacketToEachNeighbour) {
  const auto a = expect_exact_resume({"optimizer.algorithm=choco", "optimizer.consensus_step=0.5",
                                      "compress.method=topk", "compress.density=0.05"},
                                     "compress_choco");
  // One top-k packet (1273 values and indices) to each of the 2 ring neighbours a step.
  EXPECT_DOUBLE_EQ(a.bytes_sent_per_step, 2.0 * (comm::kExchangeHeaderBytes + compress::kPacketHeaderBytes + 1273 * 8));
  EXPECT_NE(a.messages.find("choco (topk, consensus step 0.5)"), std::string::npos) << a.messages;
  EXPECT_GT(a.test_accuracy, 0.0);
}

TEST(CompressedTraining, PowerSgdResumesExactlyAndSendsTwoSmallAllreduces) {
  const auto a = expect_exact_resume({"compress.method=powersgd", "compress.rank=2", "compress.error_feedback=true",
                                      "compress.start_step=2"},
                                     "compress_powersgd");
  EXPECT_NE(a.messages.find("powersgd (rank 2, error feedback, from average 2)"), std::string::npos) << a.messages;
  // MLP 784-32-10: [32, 784] and [10, 32] factored (rank 2: 1632 + 84 values), the 42 biases exact.
  EXPECT_LT(a.bytes_sent_per_worker, 0.25 * a.dense_bytes_sent_per_worker);
}

TEST(CompressedTraining, ErrorFeedbackWithPackedSparseMessagesResumesExactly) {
  // The memory lives at the flat coordinates and follows RigL's moving mask (set_layout).
  const auto a = expect_exact_resume({"compress.method=topk", "compress.density=0.1", "compress.error_feedback=true",
                                      "sparse.method=rigl", "sparse.sparsity=0.8", "sparse.update_every=3",
                                      // timed kernel choice ("auto") could differ between the runs
                                      "sparse.kernels=dense"},
                                     "compress_rigl_ef");
  EXPECT_LT(a.bytes_sent_per_worker, 0.5 * a.dense_bytes_sent_per_worker);
}

TEST(CompressedTraining, LgrecoResumesExactlyWithItsLayerChoiceAndSendsFewerBytesThanUniform) {
  // L-GreCo re-chooses every 3 averages; the split run stops at step 5, between two choices, and
  // must restore the choice made at step 3 (mixing.compressor) to match the whole run.
  const auto a = expect_exact_resume({"compress.method=topk", "compress.density=0.05", "compress.error_feedback=true",
                                      "compress.layerwise=lgreco", "compress.layerwise_every=3"},
                                     "compress_lgreco");
  EXPECT_NE(a.messages.find("compressed (lgreco topk, error feedback)"), std::string::npos) << a.messages;
  // Uniform top-5% sends 3 * (8 + 24 + 1273 * 8) = 30 648 bytes a step; with 4 layers each in its
  // own packet (24-byte header) the uniform choice alone would cost 3 * 3 * 24 more. The choice
  // must at least not send more than uniform plus those headers.
  EXPECT_LE(a.bytes_sent_per_step, 30648.0 + 3 * 3 * 24 + 1e-9);
}

TEST(CompressedTraining, ADivergedCompressedRunNamesTheCompressionKeys) {
  // A NaN batch stands in for a diverging run: the error names the keys to change.
  const auto train_data = toy_images(384, 31), test_data = toy_images(96, 32);
  auto parts = iid_shards(train_data, 4);
  parts[1].inputs.fill_(std::nan(""));
  const auto topo = ring(4);
  for (const auto& [extra, words] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"optimizer.algorithm=choco", "compress.method=topk"}, "optimizer.consensus_step (now 0.5"},
           {{"compress.method=qsgd"}, "gentler compress.method than \"qsgd\""}}) {
    try {
      run_cluster(&comm::run_inprocess, compressed_config(fresh_dir("compress_nan"), extra), parts, test_data, topo);
      ADD_FAILURE() << "a NaN loss did not stop the run";
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find("loss became nan"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  }
}

TEST(CompressedTraining, WrongCombinationsAreConfigErrorsNamingTheKeys) {
  const std::string dir = fresh_dir("compress_bad");
  auto expect_error = [&](const std::vector<std::string>& extra, const std::string& words) {
    try {
      compressed_config(dir, extra);
      ADD_FAILURE() << "accepted: " << extra.front();
    } catch (const config::ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  };
  expect_error({"compress.method=sign", "optimizer.algorithm=dsgd"}, "optimizer.algorithm = \"dsgd\"");
  expect_error({"compress.method=sign", "optimizer.algorithm=dsgd"}, "optimizer.algorithm = \"choco\"");
  expect_error({"optimizer.algorithm=choco"}, "needs a compress.method");
  expect_error({"optimizer.algorithm=choco", "compress.method=sign", "compress.error_feedback=true"},
               "compress.error_feedback");
  expect_error({"optimizer.algorithm=choco", "compress.method=powersgd"}, "compress.method = \"powersgd\"");
  expect_error({"compress.method=powersgd", "sparse.method=rigl"}, "sparse.packed_messages");
  expect_error({"optimizer.consensus_step=0"}, "optimizer.consensus_step");
  EXPECT_NO_THROW(compressed_config(dir, {"compress.method=topk", "compress.error_feedback=true", "sparse.method=rigl"}));
  expect_error({"compress.error_feedback=true"}, "compress.method = \"none\"");
  expect_error({"compress.method=zip"}, "compress.method");
  expect_error({"compress.method=sign", "compress.layerwise=lgreco"}, "compress.method = \"sign\" has none");
  expect_error({"compress.layerwise=lgreco"}, "needs a compress.method");
  expect_error({"compress.method=topk", "compress.layerwise=lgreco", "optimizer.algorithm=choco"},
               "optimizer.algorithm = \"choco\"");
  expect_error({"compress.method=topk", "compress.layerwise=lgreco", "sparse.method=rigl"}, "sparse.packed_messages");
  expect_error({"compress.method=topk", "compress.layerwise=zip"}, "compress.layerwise");
  expect_error({"compress.method=topk", "compress.layerwise=lgreco", "compress.layerwise_every=0"},
               "compress.layerwise_every");
  // Without error feedback, compressed averages of packed sparse messages are fine.
  EXPECT_NO_THROW(compressed_config(dir, {"compress.method=fp16", "sparse.method=rigl"}));
}

}  // namespace compressed_training_test
