#include "gossamer/train/one_shot_prune.h"

#include <torch/torch.h>

#include <chrono>
#include <filesystem>

#include "gossamer/data/fashion_mnist.h"
#include "gossamer/sparse/export.h"
#include "gossamer/train/batch_stream.h"
#include "gossamer/train/checkpoint.h"
#include "gossamer/train/evaluate.h"
#include "gossamer/train/flat_parameters.h"
#include "gossamer/train/run.h"
#include "gossamer/train/sparse_setup.h"

namespace gossamer::train {

void check_one_shot_prune_request(const OneShotPruneRequest& req) {
  check_checkpoint_file(req.checkpoint);
  if (req.overwrite) return;
  std::string found;
  for (const char* name : {"pruned.pt", "model.sparse"}) {
    if (std::filesystem::exists(std::filesystem::path(req.out_dir) / name)) found += (found.empty() ? "" : " and ") + std::string(name);
  }
  if (!found.empty()) throw OutputExistsError(req.out_dir + " already holds " + found + " from an earlier result");
}

OneShotPruneResult one_shot_prune(const OneShotPruneRequest& req) {
  check_one_shot_prune_request(req);
  const config::Config& cfg = req.config;
  data::FashionMnist fm = data::load_fashion_mnist(cfg.data.path);
  const data::Dataset train = first_samples(fm.train, cfg.data.train_limit);
  const data::Dataset test = first_samples(fm.test, cfg.data.test_limit);

  const models::ModelSpec spec = model_spec(cfg, train);
  std::shared_ptr<models::Model> model = models::make_model(spec);
  FlatParameters flat(*model);
  load_checkpoint(req.checkpoint, *model, nullptr, {});

  OneShotPruneResult r;
  const EvalResult before = evaluate(*model, test, cfg.train.eval_batch_size);
  r.accuracy_before = before.accuracy;
  r.loss_before = before.loss;

  config::Config one_shot = cfg;
  one_shot.sparse.method = "oneshot";
  one_shot.sparse.start_epoch = 0;
  sparse::PruneSpec ps = make_prune_spec(one_shot, 1, 1);
  const std::vector<sparse::ParamSlice> slices = parameter_slices(flat, *model);
  sparse::PrunerContext pc;
  pc.uses = prunable_layer_uses(slices, *model);
  BatchStream samples(train, cfg.train.batch_size, static_cast<uint64_t>(cfg.train.seed) * 31u + 17u);
  pc.sample_gradient = [&](int64_t index) {
    Batch b = samples.batch(index);
    flat.zero_grad();
    torch::nn::functional::cross_entropy(model->forward(b.inputs), b.targets).backward();
  };
  const auto t0 = std::chrono::steady_clock::now();
  sparse::Pruner pruner(ps, slices, flat.values(), flat.gradients(), pc);
  {
    // Gradients are sampled in training mode (as during training), the model is evaluated after.
    model->train();
    pruner.start();
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const EvalResult after = evaluate(*model, test, cfg.train.eval_batch_size);
  r.accuracy_after = after.accuracy;
  r.loss_after = after.loss;
  r.sparsity = pruner.report().sparsity();

  std::filesystem::create_directories(req.out_dir);
  r.checkpoint_path = req.out_dir + "/pruned.pt";
  CheckpointExtras ex;
  ex.tensors = pruner.state();
  save_checkpoint(r.checkpoint_path, *model, nullptr, ex);
  std::map<std::string, at::Tensor> masks;
  for (const auto& l : pruner.layers()) masks[l.name] = pruner.mask().narrow(0, l.offset, l.numel).view(l.shape);
  r.sparse_model_path = req.out_dir + "/model.sparse";
  r.sparse_model_bytes = sparse::export_sparse_model(r.sparse_model_path, spec, *model, masks);
  r.dense_model_bytes = 4 * flat.numel();
  return r;
}

}  // namespace gossamer::train
