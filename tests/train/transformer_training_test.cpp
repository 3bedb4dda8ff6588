// ViT and CeiT through the whole trainer: decentralized Adam on a ring gives the same run on both
// backends, N:M sparsity lands on the attention and feed-forward projections, and the class token
// and position embeddings stay dense under every sparse method.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "gossamer/comm/gloo_communicator.h"
#include "gossamer/comm/inprocess_communicator.h"
#include "gossamer/config/config.h"
#include "gossamer/models/model.h"
#include "gossamer/train/checkpoint.h"
#include "gossamer/train/flat_parameters.h"
#include "toy_data.h"
#include "train_test_util.h"

using namespace gossamer;
using gossamer::testing::toy_images;
using namespace gossamer::train::testing;

namespace transformer_training_test {

// A small transformer (width 16, 1 block, 2 heads; ViT: 7x7-pixel patches, 16 tokens; CeiT: 49) on 3 workers.
config::Config transformer_config(const std::string& model, const std::string& dir, std::vector<std::string> extra) {
  std::vector<std::string> o{"model.name=" + model, "model.dim=16", "model.depth=1", "model.heads=2",
                             "model.patch=" + std::string(model == "vit" ? "7" : "4"), "model.stem_channels=4",
                             "train.batch_size=16", "train.epochs=1", "train.log_every=1", "train.threads=1",
                             "output.progress=off", "cluster.workers=3", "optimizer.algorithm=dadam",
                             "optimizer.name=sgd", "optimizer.momentum=0", "optimizer.nesterov=false",
                             "optimizer.weight_decay=0", "optimizer.lr=0.002", "schedule.warmup_epochs=0.3",
                             "sparse.kernels=dense", "output.dir=\"" + dir + "\""};
  o.insert(o.end(), extra.begin(), extra.end());
  return config::parse_config("", "test", o);
}

// Each worker's final mask, cut into the model's parameters.
std::vector<std::map<std::string, at::Tensor>> worker_masks(const config::Config& cfg, const std::string& dir) {
  const int workers = static_cast<int>(cfg.cluster.workers);
  models::ModelSpec spec;
  spec.name = cfg.model.name;
  spec.transformer = {cfg.model.dim, cfg.model.depth, cfg.model.heads, cfg.model.mlp_ratio, cfg.model.patch,
                      cfg.model.stem_channels};
  std::vector<std::map<std::string, at::Tensor>> out;
  for (int r = 0; r < workers; ++r) {
    auto model = models::make_model(spec);
    train::FlatParameters flat(*model);
    const std::string file = workers == 1 ? "/checkpoint.pt" : "/checkpoint-rank" + std::to_string(r) + ".pt";
    const auto ex = train::load_checkpoint(dir + file, *model, nullptr,
                                           {"sparse.mask", "sparse.sad_reference"});
    const at::Tensor mask = ex.tensors.at("sparse.mask");
    std::map<std::string, at::Tensor> per;
    for (const auto& s : flat.slices()) per[s.name] = mask.narrow(0, s.offset, s.numel).view(s.shape);
    out.push_back(per);
  }
  return out;
}

TEST(TransformerTraining, DadamSrSteTwoOfFourGivesTheSameRunOnBothBackendsWithNmOnEveryProjection) {
  const auto train = toy_images(480, 5), test = toy_images(80, 6);
  const auto parts = iid_shards(train, 3);
  const auto topo = ring(3);
  const std::string a_dir = fresh_dir("vit_inproc"), b_dir = fresh_dir("vit_gloo");
  auto cfg = transformer_config("vit", a_dir, {"sparse.method=srste", "sparse.pattern=n:m", "sparse.n=2", "sparse.m=4"});
  const auto a = run_cluster(&comm::run_inprocess, cfg, parts, test, topo);
  cfg.output.dir = b_dir;
  const auto b = run_cluster(&comm::run_gloo_threads, cfg, parts, test, topo);
  const auto ma = read_metrics(a_dir + "/metrics.jsonl"), mb = read_metrics(b_dir + "/metrics.jsonl");
  ASSERT_EQ(ma.size(), mb.size());
  int compared = 0;
  for (size_t i = 0; i < ma.size(); ++i) {
    if (ma[i]["event"] != "train") continue;
    // Tolerance: Gloo sums a neighbourhood in another order than InProcess (float32).
    EXPECT_NEAR(ma[i]["loss"].get<double>(), mb[i]["loss"].get<double>(), 1e-4) << "line " << i;
    ++compared;
  }
  EXPECT_EQ(compared, 10);  // 480 samples / (3 workers x 16)
  EXPECT_NEAR(a.test_accuracy, b.test_accuracy, 0.02);
  EXPECT_GT(a.consensus_distance, 0.0);  // gossip, not an average: the replicas differ

  const auto masks = worker_masks(cfg, a_dir);
  for (int r = 0; r < 3; ++r) {
    for (const char* name : {"block0.attn.qkv.weight", "block0.attn.proj.weight", "block0.fc1.weight",
                             "block0.fc2.weight", "head.weight"}) {
      const at::Tensor m = masks[r].at(name);
      // 2 of every 4 consecutive inputs of each output row.
      const at::Tensor groups = m.reshape({m.size(0), -1, 4}).sum(-1);
      EXPECT_TRUE(groups.eq(2).all().item<bool>()) << "rank " << r << " " << name;
      EXPECT_TRUE(m.equal(masks[0].at(name))) << "rank " << r << " " << name << ": masks differ between workers";
    }
    for (const char* name : {"cls_token", "pos_embed"}) {
      EXPECT_TRUE(masks[r].at(name).eq(1).all().item<bool>()) << "rank " << r << " " << name << " was pruned";
    }
  }
}

TEST(TransformerTraining, CeitGmpReachesItsSparsityOnTheLayersAndLeavesTheEmbeddingsDense) {
  const auto train = toy_images(480, 7), test = toy_images(80, 8);
  const std::string dir = fresh_dir("ceit_gmp");
  auto cfg = transformer_config("ceit", dir, {"sparse.method=gmp", "sparse.sparsity=0.8", "sparse.start_epoch=0",
                                              "sparse.end_epoch=0.6", "sparse.update_every=2"});
  const auto s = run_cluster(&comm::run_inprocess, cfg, iid_shards(train, 3), test, ring(3));
  EXPECT_TRUE(std::isfinite(s.test_accuracy));
  const auto masks = worker_masks(cfg, dir);
  int64_t kept = 0, total = 0;
  for (const auto& [name, m] : masks[0]) {
    if (name == "cls_token" || name == "pos_embed" || name == "pos_layer_embed" || m.dim() < 2) {
      EXPECT_TRUE(m.eq(1).all().item<bool>()) << name << " was pruned";
      continue;
    }
    kept += m.sum().item<int64_t>();
    total += m.numel();
  }
  // Uniform allocation: every layer at 80% (each rounds its own count).
  EXPECT_NEAR(1.0 - static_cast<double>(kept) / static_cast<double>(total), 0.8, 0.01);
}

// Every other sparse method on one ViT worker: the embeddings stay dense whatever the method, and
// the layers are pruned (to the target, where the method ends exactly there).
TEST(TransformerTraining, EverySparseMethodLeavesTheEmbeddingsDense) {
  const auto train = toy_images(320, 9), test = toy_images(40, 10);
  struct Case {
    std::string name;
    std::vector<std::string> keys;
    bool exact;  // every layer ends at sparse.sparsity = 0.7
  };
  const std::vector<Case> cases = {
      {"oneshot", {"sparse.method=oneshot", "sparse.start_epoch=0"}, true},
      {"woodfisher", {"sparse.method=oneshot", "sparse.scorer=woodfisher", "sparse.start_epoch=0",
                      "sparse.woodfisher_samples=8", "sparse.woodfisher_block=32"}, true},
      {"gap", {"sparse.method=gap", "sparse.gap_partitions=2", "sparse.gap_epochs=0.2"}, false},
      {"rigl", {"sparse.method=rigl", "sparse.update_every=3"}, true},
      {"set", {"sparse.method=set", "sparse.update_every=3"}, true},
      {"block", {"sparse.method=gmp", "sparse.pattern=block", "sparse.block_rows=4", "sparse.block_cols=4",
                 "sparse.start_epoch=0", "sparse.end_epoch=0.5", "sparse.update_every=2"}, false},
  };
  for (const auto& c : cases) {
    const std::string dir = fresh_dir("vit_" + c.name);
    std::vector<std::string> keys{"cluster.workers=1", "optimizer.algorithm=parallel-sgd", "optimizer.name=adamw",
                                  "sparse.sparsity=0.7"};
    keys.insert(keys.end(), c.keys.begin(), c.keys.end());
    auto cfg = transformer_config("vit", dir, keys);
    train::Trainer trainer(cfg, train, test, dir);
    const auto s = trainer.run(false);
    EXPECT_TRUE(std::isfinite(s.test_accuracy)) << c.name;
    const auto masks = worker_masks(cfg, dir);
    for (const auto& [name, m] : masks[0]) {
      if (name == "cls_token" || name == "pos_embed" || m.dim() < 2) {
        EXPECT_TRUE(m.eq(1).all().item<bool>()) << c.name << ": " << name << " was pruned";
        continue;
      }
      const double sparsity = 1.0 - m.mean().item<double>();
      if (c.exact) EXPECT_NEAR(sparsity, 0.7, 0.02) << c.name << " " << name;
      else EXPECT_GT(sparsity, 0.0) << c.name << " " << name;
    }
  }
}

}  // namespace transformer_training_test
