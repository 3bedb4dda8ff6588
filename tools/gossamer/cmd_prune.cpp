// `gossamer prune CHECKPOINT --method woodfisher --sparsity 0.9`: one-shot pruning of a trained model.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "errors.h"
#include "gossamer/config/config.h"
#include "gossamer/data/dataset.h"
#include "gossamer/train/checkpoint.h"
#include "gossamer/train/one_shot_prune.h"
#include "gossamer/train/progress.h"
#include "gossamer/train/trainer.h"

namespace gossamer::cli {

namespace {

// No default method or sparsity: a user comparing methods must get the one they asked for.
struct PruneArgs {
  std::string checkpoint, config_path, method, out_dir;
  double sparsity = 0;
  bool have_method = false, have_sparsity = false, force = false;
  std::vector<std::string> overrides;
};

int run_prune(const PruneArgs& a) {
  namespace fs = std::filesystem;
  std::string missing;
  if (!a.have_method) missing += "gossamer prune: --method is required: magnitude or woodfisher\n";
  if (!a.have_sparsity) missing += "gossamer prune: --sparsity is required: the fraction of weights to remove, in [0, 1]\n";
  if (!missing.empty()) {
    std::cerr << missing << "e.g. gossamer prune " << (a.checkpoint.empty() ? "RUN/checkpoint.pt" : a.checkpoint)
              << " --method woodfisher --sparsity 0.9  (see gossamer prune --help)\n";
    return 2;
  }
  train::check_checkpoint_file(a.checkpoint);  // before looking for config.toml next to it
  const fs::path ckpt(a.checkpoint);
  const std::string cfg_path = a.config_path.empty() ? (ckpt.parent_path() / "config.toml").string() : a.config_path;
  if (!fs::exists(cfg_path)) {
    throw config::ConfigError("prune: no configuration at " + cfg_path +
                              " (the run's config.toml); name one with --config");
  }
  std::vector<std::string> overrides = a.overrides;
  overrides.push_back("sparse.scorer=" + a.method);
  overrides.push_back("sparse.sparsity=" + std::to_string(a.sparsity));
  train::OneShotPruneRequest req;
  req.checkpoint = a.checkpoint;
  req.config = config::load_config(cfg_path, overrides);
  train::configure_threads(req.config.train.threads, req.config.train.blas_threads);
  char dir[256];
  std::snprintf(dir, sizeof dir, "pruned-%s-%02d", a.method.c_str(), static_cast<int>(a.sparsity * 100 + 0.5));
  req.out_dir = a.out_dir.empty() ? (ckpt.parent_path() / dir).string() : a.out_dir;
  req.overwrite = a.force;
  train::check_one_shot_prune_request(req);
  const auto& s = req.config.sparse;
  std::printf("gossamer prune: %s -> %s  (%s, %.0f%%, %s allocation", a.checkpoint.c_str(), req.out_dir.c_str(),
              a.method.c_str(), 100 * a.sparsity, s.allocation.c_str());
  if (a.method == "woodfisher") {
    std::printf(", %lld gradient samples of batch %lld, blocks of %lld, damping %g",
                static_cast<long long>(s.woodfisher_samples), static_cast<long long>(req.config.train.batch_size),
                static_cast<long long>(s.woodfisher_block), s.woodfisher_damping);
  }
  std::printf(")\n");
  std::fflush(stdout);
  const auto r = train::one_shot_prune(req);
  std::printf("test accuracy    %.2f%% before, %.2f%% after pruning (loss %.4f -> %.4f)\n", 100 * r.accuracy_before,
              100 * r.accuracy_after, r.loss_before, r.loss_after);
  std::printf("sparsity         %.1f%% of the weight layers, pruned in %s\n", 100 * r.sparsity,
              train::format_duration(r.seconds).c_str());
  std::printf("sparse model     %s: %.1f kB (dense float32 weights: %.1f kB)\n", r.sparse_model_path.c_str(),
              r.sparse_model_bytes / 1e3, r.dense_model_bytes / 1e3);
  std::printf("checkpoint       %s  (fine-tune: gossamer train CONFIG --set train.init_from=%s --set "
              "sparse.method=oneshot --set sparse.sparsity=%g)\n",
              r.checkpoint_path.c_str(), r.checkpoint_path.c_str(), a.sparsity);
  return 0;
}

}  // namespace

void add_prune_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<PruneArgs>();
  auto* cmd = app.add_subcommand("prune", "One-shot pruning of a trained checkpoint (magnitude or WoodFisher)");
  cmd->add_option("checkpoint", args->checkpoint,
                  "checkpoint.pt (or checkpoint-rank0.pt) of a finished run, as gossamer train writes it")
      ->required();
  auto* method = cmd->add_option("--method", args->method, "required: magnitude | woodfisher")
                     ->check(CLI::IsMember({"magnitude", "woodfisher"}));
  auto* sparsity = cmd->add_option("--sparsity", args->sparsity, "required: fraction of weights to remove, e.g. 0.9")
                       ->check(CLI::Range(0.0, 1.0));
  // No defaults to show: both must be given (checked in the callback, so that one message names both).
  method->default_str("");
  sparsity->default_str("");
  cmd->add_option("--config", args->config_path, "the run's configuration (default: config.toml next to CHECKPOINT)");
  cmd->add_option("--out", args->out_dir, "output directory (default: pruned-METHOD-SPARSITY next to CHECKPOINT)");
  cmd->add_flag("--force", args->force, "replace pruned.pt and model.sparse already in the output directory");
  cmd->add_option("--set", args->overrides,
                  "Override a key, e.g. --set sparse.allocation=global --set sparse.woodfisher_samples=128");
  cmd->callback([args, method, sparsity, &exit_code] {
    args->have_method = method->count() > 0;
    args->have_sparsity = sparsity->count() > 0;
    exit_code = run_reported("prune", [&] { return run_prune(*args); });
  });
}

}  // namespace gossamer::cli
