// Sparse training through the Trainer: the target sparsity is reached, the exported model gives the
// trained model's predictions, resume is exact with masks, and workers share one mask on both backends.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <mutex>

#include "gossamer/comm/communicator.h"
#include "gossamer/comm/gloo_communicator.h"
#include "gossamer/comm/inprocess_communicator.h"
#include "gossamer/config/config.h"
#include "gossamer/data/partition.h"
#include "gossamer/models/model.h"
#include "gossamer/sparse/export.h"
#include "gossamer/topology/spec.h"
#include "gossamer/train/checkpoint.h"
#include "gossamer/train/evaluate.h"
#include "gossamer/train/trainer.h"
#include "toy_data.h"
#include "train_test_util.h"

using namespace gossamer;
using gossamer::testing::toy_images;
using namespace gossamer::train::testing;

namespace {

config::Config sparse_config(const std::string& dir, std::vector<std::string> extra = {}) {
  std::vector<std::string> o{"model.name=mlp", "model.hidden=[32]", "train.batch_size=32", "train.epochs=2",
                             "train.log_every=4", "train.threads=1", "output.checkpoint_every=8", "output.progress=off",
                             "sparse.method=gmp", "sparse.sparsity=0.9", "sparse.start_epoch=0", "sparse.end_epoch=1",
                             "sparse.update_every=3", "output.dir=\"" + dir + "\"",
                             // Exact comparisons below: "auto" would time kernels and could switch the
                             // float summation order between runs (the kernel test sets its own mode).
                             "sparse.kernels=dense"};
  o.insert(o.end(), extra.begin(), extra.end());
  return config::parse_config("", "test", o);
}

}  // namespace

TEST(SparseRun, GmpReachesTheTargetAndTheExportedModelPredictsTheSame) {
  const auto train = toy_images(400, 1), test = toy_images(200, 2);
  const std::string dir = fresh_dir("sparse_gmp");
  train::Trainer t(sparse_config(dir), train, test, dir);
  const auto s = t.run(false);
  ASSERT_TRUE(s.sparse);
  // Two layers (784x32, 32x10), each pruned to 90% with its count rounded.
  EXPECT_NEAR(s.sparsity, 0.9, 1.0 / 25000);
  ASSERT_EQ(s.layer_sparsity.size(), 2u);
  EXPECT_NEAR(s.sparse_flops / s.dense_flops, 0.1, 1e-3);
  EXPECT_GT(s.test_accuracy, 0.3);  // it learned something while being pruned (chance is 0.1)
  // The export holds only non-zeros: several times smaller than the dense float32 weights.
  ASSERT_TRUE(std::filesystem::exists(s.sparse_model_path));
  EXPECT_EQ(static_cast<int64_t>(std::filesystem::file_size(s.sparse_model_path)), s.sparse_model_bytes);
  EXPECT_GT(static_cast<double>(s.dense_model_bytes) / static_cast<double>(s.sparse_model_bytes), 5.0);
  const sparse::SparseModel loaded = sparse::load_sparse_model(s.sparse_model_path);
  const auto eval = train::evaluate(*loaded.model, test, 1000);
  EXPECT_DOUBLE_EQ(eval.accuracy, s.test_accuracy);
  EXPECT_NEAR(eval.loss, s.test_loss, 1e-6);
  // The metrics stream carries sparsity and SAD.
  const auto rows = read_metrics(dir + "/metrics.jsonl");
  bool saw_sad = false;
  for (const auto& r : rows) saw_sad = saw_sad || (r.contains("sad") && r["sad"].get<double>() > 0);
  EXPECT_TRUE(saw_sad);
  EXPECT_NEAR(rows.back()["sparsity"].get<double>(), 0.9, 1.0 / 25000);
}

TEST(SparseRun, ResumedRunMatchesTheUninterruptedOneWithMasks) {
  const auto train = toy_images(400, 3), test = toy_images(100, 4);
  const std::string full_dir = fresh_dir("sparse_full"), split_dir = fresh_dir("sparse_split");
  for (const std::string method : {"gmp", "rigl"}) {
    // Dense kernels: with "auto" the per-layer choice is timed, and a different choice between
    // the two runs would change float summation order (equal only to ~1e-6, not bit for bit).
    std::vector<std::string> extra{"sparse.method=" + method, "sparse.kernels=dense"};
    train::Trainer full(sparse_config(full_dir, extra), train, test, full_dir);
    const auto a = full.run(false);
    auto cfg = sparse_config(split_dir, extra);
    cfg.train.max_steps = 10;  // between two mask updates and two checkpoints
    train::Trainer(cfg, train, test, split_dir).run(false);
    cfg.train.max_steps = 0;
    const auto b = train::Trainer(cfg, train, test, split_dir).run(true);
    EXPECT_DOUBLE_EQ(a.test_accuracy, b.test_accuracy) << method;
    const auto ma = read_metrics(full_dir + "/metrics.jsonl"), mb = read_metrics(split_dir + "/metrics.jsonl");
    ASSERT_EQ(ma.size(), mb.size()) << method;
    for (size_t i = 0; i < ma.size(); ++i) {
      for (const char* key : {"loss", "sparsity", "sad", "test_loss"}) {
        if (ma[i].contains(key)) {
          EXPECT_EQ(ma[i][key].get<double>(), mb[i][key].get<double>()) << method << " " << key << " line " << i;
        }
      }
    }
  }
}

TEST(SparseRun, GossipWorkersShareOneMaskAndBothBackendsGiveTheSameRun) {
  const auto train = toy_images(480, 5), test = toy_images(80, 6);
  const auto parts = iid_shards(train, 3);
  const auto topo = ring(3);
  const std::string a_dir = fresh_dir("sparse_inproc"), b_dir = fresh_dir("sparse_gloo");
  auto cfg = sparse_config(a_dir, {"cluster.workers=3", "optimizer.algorithm=dsgd", "train.log_every=1",
                                   "sparse.method=rigl", "sparse.sparsity=0.8", "sparse.update_every=2"});
  run_cluster(&comm::run_inprocess, cfg, parts, test, topo);
  cfg.output.dir = b_dir;
  run_cluster(&comm::run_gloo_threads, cfg, parts, test, topo);
  const auto ma = read_metrics(a_dir + "/metrics.jsonl"), mb = read_metrics(b_dir + "/metrics.jsonl");
  ASSERT_EQ(ma.size(), mb.size());
  for (size_t i = 0; i < ma.size(); ++i) {
    if (ma[i]["event"] != "train") continue;
    EXPECT_NEAR(ma[i]["loss"].get<double>(), mb[i]["loss"].get<double>(), 1e-4) << "line " << i;
    EXPECT_EQ(ma[i]["sparsity"].get<double>(), mb[i]["sparsity"].get<double>()) << "line " << i;
  }
  // Every worker's checkpoint holds the same mask, and its pruned weights are exactly zero.
  models::ModelSpec spec;
  spec.name = "mlp";
  spec.hidden = {32};
  at::Tensor first_mask;
  for (int r = 0; r < 3; ++r) {
    auto model = models::make_model(spec);
    const auto ex = train::load_checkpoint(a_dir + "/checkpoint-rank" + std::to_string(r) + ".pt", *model, nullptr,
                                           {"sparse.mask", "sparse.sad_reference"});
    const at::Tensor mask = ex.tensors.at("sparse.mask");
    if (r == 0) first_mask = mask;
    EXPECT_TRUE(mask.equal(first_mask)) << "rank " << r;
    std::vector<at::Tensor> flat;
    for (const auto& p : model->parameters()) flat.push_back(p.detach().reshape({-1}));
    EXPECT_TRUE(at::cat(flat).masked_select(mask.eq(0)).eq(0).all().item<bool>()) << "rank " << r;
  }
  EXPECT_NEAR(1.0 - first_mask.narrow(0, 0, 784 * 32).mean().item<double>(), 0.8, 1e-4);
}

TEST(SparseRun, SparseKernelsTrainTheSameModelAsTheDensePath) {
  // LeNet-5 (two convolutions, three linear layers) pruned by GMP: forcing every pruned layer onto
  // the sparse kernels must give the dense path's losses up to float summation order.
  const auto train = toy_images(256, 7), test = toy_images(64, 8);
  std::vector<std::vector<nlohmann::json>> runs;
  for (const std::string kernels : {"dense", "sparse"}) {
    const std::string dir = fresh_dir("sparse_kernels_" + kernels);
    auto cfg = sparse_config(dir, {"model.name=lenet5", "train.log_every=2", "sparse.sparsity=0.8",
                                   "sparse.kernels=" + kernels});
    const auto s = train::Trainer(cfg, train, test, dir).run(false);
    if (kernels == "sparse") {
      ASSERT_FALSE(s.kernel_decisions.empty());
      for (const auto& d : s.kernel_decisions) EXPECT_NE(d.find(": sparse"), std::string::npos) << d;
    } else {
      EXPECT_TRUE(s.kernel_decisions.empty());
    }
    runs.push_back(read_metrics(dir + "/metrics.jsonl"));
  }
  ASSERT_EQ(runs[0].size(), runs[1].size());
  ASSERT_GT(runs[0].size(), 5u);
  for (size_t i = 0; i < runs[0].size(); ++i) {
    for (const char* key : {"loss", "test_loss"}) {
      if (runs[0][i].contains(key)) {
        EXPECT_NEAR(runs[0][i][key].get<double>(), runs[1][i][key].get<double>(), 1e-4) << key << " line " << i;
      }
    }
    if (runs[0][i].contains("sparsity")) {
      EXPECT_EQ(runs[0][i]["sparsity"], runs[1][i]["sparsity"]) << i;
    }
  }
}

TEST(SparseRun, SrSteAcrossWorkersEndsWithOneEvaluationOnEveryRank) {
  // SR-STE keeps one mask per worker until the end, where they agree on one. Whether a worker's
  // mask changed there is local; the re-evaluation it triggers runs collectives, so every rank
  // must make the same decision. This setting (8 ring workers, LeNet-5, the masks of some workers
  // but not all differing from the agreed one) failed before the fix with "rank 7 called
  // allreduce while rank 0 called allgather".
  const auto train = toy_images(1024, 9), test = toy_images(64, 10);
  const auto parts = iid_shards(train, 8);
  const auto topo = ring(8);
  const std::string dir = fresh_dir("srste_workers");
  auto cfg = sparse_config(dir, {"model.name=lenet5", "sparse.method=srste", "sparse.pattern=n:m", "train.epochs=1",
                                 "train.batch_size=16", "cluster.workers=8", "optimizer.algorithm=dsgd"});
  train::RunSummary s;
  ASSERT_NO_THROW(s = run_cluster(&comm::run_inprocess, cfg, parts, test, topo));
  // 2:4 along the input channels; a conv1 group of 25 inputs ends in a partial group of one,
  // which keeps its weight, so LeNet-5 lands just under 50%.
  EXPECT_GT(s.sparsity, 0.48);
  EXPECT_LE(s.sparsity, 0.5);
}

TEST(SparseRun, ParallelGapGivesOneMaskOnBothBackendsAndResumesExactly) {
  // Four ring workers, K = 2 (the MLP's two layers): ranks 0, 2 grow the first layer, 1, 3 the
  // second. 8 steps, phases of 2 steps until step 4, then fine-tuning.
  const auto train = toy_images(480, 9), test = toy_images(80, 10);
  const auto parts = iid_shards(train, 4);
  const auto topo = ring(4);
  const std::string a_dir = fresh_dir("pgap_inproc"), b_dir = fresh_dir("pgap_gloo"), c_dir = fresh_dir("pgap_split");
  auto cfg = sparse_config(a_dir, {"cluster.workers=4", "optimizer.algorithm=dsgd", "train.log_every=1",
                                   "sparse.method=gap", "sparse.gap_mode=parallel", "sparse.gap_partitions=2",
                                   "sparse.gap_epochs=0.5", "sparse.sparsity=0.8"});
  run_cluster(&comm::run_inprocess, cfg, parts, test, topo);
  cfg.output.dir = b_dir;
  run_cluster(&comm::run_gloo_threads, cfg, parts, test, topo);
  // Stopped inside the second phase (step 3) and resumed.
  cfg.output.dir = c_dir;
  cfg.train.max_steps = 3;
  run_cluster(&comm::run_inprocess, cfg, parts, test, topo);
  {
    // Stopped mid-phase, rank 0 still grows the first layer (its own mask keeps all of it); the
    // exported model is the deployed one, with the common mask.
    models::ModelSpec mspec;
    mspec.name = "mlp";
    mspec.hidden = {32};
    auto model = models::make_model(mspec);
    const auto ex = train::load_checkpoint(c_dir + "/checkpoint-rank0.pt", *model, nullptr,
                                           {"sparse.mask", "sparse.sad_reference", "sparse.gap_common"});
    const int64_t first = 784 * 32;
    ASSERT_EQ(ex.tensors.at("sparse.mask").narrow(0, 0, first).sum().item<int64_t>(), first) << "not mid-phase";
    const int64_t common_kept = ex.tensors.at("sparse.gap_common").narrow(0, 0, first).sum().item<int64_t>();
    ASSERT_LT(common_kept, first);
    const sparse::SparseModel exported = sparse::load_sparse_model(c_dir + "/model.sparse");
    int64_t exported_kept = -1;
    for (const auto& [name, csr] : exported.sparse) {
      if (csr.rows * csr.cols == first) exported_kept = csr.nnz();
    }
    EXPECT_EQ(exported_kept, common_kept);
  }
  cfg.train.max_steps = 0;
  run_cluster(&comm::run_inprocess, cfg, parts, test, topo, /*resume=*/true);
  const auto ma = read_metrics(a_dir + "/metrics.jsonl"), mb = read_metrics(b_dir + "/metrics.jsonl"),
             mc = read_metrics(c_dir + "/metrics.jsonl");
  ASSERT_EQ(ma.size(), mb.size());
  ASSERT_EQ(ma.size(), mc.size());
  for (size_t i = 0; i < ma.size(); ++i) {
    if (ma[i]["event"] != "train") continue;
    EXPECT_NEAR(ma[i]["loss"].get<double>(), mb[i]["loss"].get<double>(), 1e-4) << "line " << i;
    EXPECT_EQ(ma[i]["sparsity"].get<double>(), mb[i]["sparsity"].get<double>()) << "line " << i;
    EXPECT_EQ(ma[i]["loss"].get<double>(), mc[i]["loss"].get<double>()) << "resumed, line " << i;
  }
  models::ModelSpec spec;
  spec.name = "mlp";
  spec.hidden = {32};
  for (const std::string& dir : {a_dir, b_dir, c_dir}) {
    at::Tensor first_mask;
    for (int r = 0; r < 4; ++r) {
      auto model = models::make_model(spec);
      const auto ex = train::load_checkpoint(dir + "/checkpoint-rank" + std::to_string(r) + ".pt", *model, nullptr,
                                             {"sparse.mask", "sparse.sad_reference", "sparse.gap_common"});
      const at::Tensor mask = ex.tensors.at("sparse.mask");
      if (r == 0) first_mask = mask;
      EXPECT_TRUE(mask.equal(first_mask)) << dir << " rank " << r;
      EXPECT_TRUE(mask.equal(ex.tensors.at("sparse.gap_common"))) << dir << " rank " << r;
    }
    EXPECT_NEAR(1.0 - first_mask.narrow(0, 0, 784 * 32).mean().item<double>(), 0.8, 1e-4) << dir;
  }
}

TEST(SparseRun, ParallelGapNeedsSeveralWorkersAndOneWorkerPerPartition) {
  const std::string dir = fresh_dir("pgap_bad");
  try {
    sparse_config(dir, {"sparse.method=gap", "sparse.gap_mode=parallel", "sparse.gap_partitions=2"});
    FAIL() << "one worker was accepted";
  } catch (const config::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("cluster.workers >= 2"), std::string::npos) << e.what();
  }
  try {
    sparse_config(dir, {"cluster.workers=2", "sparse.method=gap", "sparse.gap_mode=parallel", "sparse.gap_partitions=4"});
    FAIL() << "4 partitions on 2 workers were accepted";
  } catch (const config::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("gap_partitions = 4"), std::string::npos) << e.what();
  }
  EXPECT_THROW(sparse_config(dir, {"cluster.workers=2", "sparse.method=rigl", "sparse.gap_mode=parallel"}),
               config::ConfigError);
  try {
    sparse_config(dir, {"cluster.workers=2", "sparse.method=gap", "sparse.gap_rewarm=0.5"});
    FAIL() << "gap_rewarm with cyclic GaP was accepted";
  } catch (const config::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("sparse.gap_rewarm"), std::string::npos) << e.what();
  }
  EXPECT_THROW(sparse_config(dir, {"cluster.workers=2", "sparse.method=gap", "sparse.gap_mode=parallel",
                                   "sparse.gap_rewarm=2"}),
               config::ConfigError);
}
