// `gossamer train CONFIG [--set section.key=value ...] [--resume DIR]`
#include <CLI/CLI.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "errors.h"
#include "gossamer/comm/gloo_communicator.h"
#include "gossamer/config/config.h"
#include "gossamer/data/dataset.h"
#include "gossamer/train/progress.h"
#include "gossamer/train/run.h"

namespace gossamer::cli {

namespace {

std::atomic<bool> g_stop{false};

extern "C" void on_interrupt(int) {
  // Second Ctrl-C: leave at once (the last checkpoint on disk is intact).
  if (g_stop.exchange(true)) std::_Exit(130);
}

// This process's rank as its launcher set it (RANK, OMPI_COMM_WORLD_RANK, PMI_RANK); 0 when none is
// set or it is malformed, in which case the Gloo set-up itself stops the run with the reason.
int launch_rank() {
  try {
    return comm::read_launch_env().rank;
  } catch (const std::exception&) {
    return 0;
  }
}

struct TrainArgs {
  std::string config_path;
  std::vector<std::string> overrides;
  std::string resume_dir;
};

int run_train(const TrainArgs& a) {
  std::string path = a.config_path;
  std::vector<std::string> overrides = a.overrides;
  if (!a.resume_dir.empty()) {
    // The run directory keeps the configuration it was started with.
    if (path.empty()) {
      path = a.resume_dir + "/config.toml";
      if (!std::filesystem::exists(path)) {
        throw config::ConfigError("--resume " + a.resume_dir + ": not a run folder (it has no config.toml); give "
                                  "the output.dir of a run that gossamer train started");
      }
    }
    overrides.push_back("output.dir=\"" + a.resume_dir + "\"");
  }
  if (path.empty()) throw CLI::ValidationError("train", "CONFIG is required unless --resume DIR is given");
  const config::Config cfg = config::load_config(path, overrides);

  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  // One banner and one summary per run: Gloo processes other than rank 0 print neither.
  const bool banner = cfg.cluster.backend != "gloo" || launch_rank() == 0;
  if (banner) {
    std::printf("gossamer train: %s  model=%s  optimizer=%s lr=%g  batch=%lld  epochs=%lld  workers=%lld  -> %s\n",
                path.c_str(), cfg.model.name.c_str(), cfg.optimizer.name.c_str(), cfg.optimizer.lr,
                static_cast<long long>(cfg.train.batch_size), static_cast<long long>(cfg.train.epochs),
                static_cast<long long>(cfg.cluster.workers), cfg.output.dir.c_str());
    if (cfg.sparse.method != "none") {
      std::printf("sparse training: %s to %.0f%% (%s, %s allocation)\n", cfg.sparse.method.c_str(), 100.0 * cfg.sparse.sparsity,
                  cfg.sparse.pattern == "n:m" ? (std::to_string(cfg.sparse.n) + ":" + std::to_string(cfg.sparse.m)).c_str()
                                              : cfg.sparse.pattern.c_str(),
                  cfg.sparse.allocation.c_str());
    }
  }
  std::fflush(stdout);
  const train::RunSummary s = train::run_training(cfg, !a.resume_dir.empty(), &g_stop);
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  // Gloo processes (gossamer launch, torchrun) each return their own summary; rank 0's holds the
  // run's figures (mean model, bytes per worker), so only it prints one for the run.
  if (s.rank != 0) return g_stop.load() ? 130 : 0;

  std::printf("\n== summary ==\n");
  std::printf("steps            %lld / %lld", static_cast<long long>(s.steps), static_cast<long long>(s.total_steps));
  if (s.start_step > 0) std::printf(" (resumed at step %lld)", static_cast<long long>(s.start_step));
  if (s.interrupted) {
    std::printf("\nstopped          interrupted at step %lld; continue with: gossamer train --resume %s\n",
                static_cast<long long>(s.steps), cfg.output.dir.c_str());
  } else if (s.stopped_early) {
    std::printf("\nstopped          at train.max_steps = %lld; continue to the end with: gossamer train --resume %s\n",
                static_cast<long long>(s.max_steps), cfg.output.dir.c_str());
  } else {
    std::printf("\n");
  }
  if (s.workers > 1) {
    std::printf("test accuracy    %.2f%% mean model (loss %.4f), worst worker %.2f%%\n", 100.0 * s.test_accuracy,
                s.test_loss, 100.0 * s.worst_worker_accuracy);
    std::printf("consensus dist.  %.4g  (1/n sum ||x_i - x_mean||^2)\n", s.consensus_distance);
    if (!s.byzantine.empty() || cfg.robust.aggregator != "none") {
      auto list = [](const std::vector<int>& v) {
        std::string t;
        for (int r : v) t += (t.empty() ? "" : " ") + std::to_string(r);
        return t.empty() ? std::string("none") : t;
      };
      std::printf("robustness       attackers: %s (%s; left out of the accuracy and consensus above), aggregator %s\n",
                  list(s.byzantine).c_str(), cfg.attack.kind.c_str(), cfg.robust.aggregator.c_str());
      std::printf("                 evicted: %s; messages rejected by receivers: %lld\n", list(s.excluded).c_str(),
                  static_cast<long long>(s.rejected_messages));
    }
    std::printf("bytes sent       %.1f MB per worker, %.1f kB per worker per step (%s, %s)\n",
                s.bytes_sent_per_worker / 1e6, s.bytes_sent_per_step / 1e3, cfg.optimizer.algorithm.c_str(),
                cfg.cluster.topology.c_str());
    std::printf("vs dense         %.1f%% of the %.1f kB per worker per step that dense messages would send (%s)\n",
                100.0 * s.bytes_sent_per_worker / std::max(1.0, s.dense_bytes_sent_per_worker),
                s.dense_bytes_sent_per_worker / std::max<double>(1.0, static_cast<double>(s.steps)) / 1e3,
                s.messages.c_str());
    if (s.pack_s_per_worker > 0) {
      std::printf("packing          %s per worker packing and unpacking messages (%.2f%% of the wall time)\n",
                  train::format_duration(s.pack_s_per_worker).c_str(), 100.0 * s.pack_s_per_worker / std::max(1e-9, s.wall_s));
    }
    std::printf("modelled comm.   %s per worker on a %g Gbit/s, %g us network (cluster.bandwidth_gbps, latency_us)\n",
                train::format_duration(s.modelled_comm_s).c_str(), cfg.cluster.bandwidth_gbps, cfg.cluster.latency_us);
  } else {
    std::printf("test accuracy    %.2f%%  (loss %.4f)\n", 100.0 * s.test_accuracy, s.test_loss);
  }
  if (s.sparse) {
    std::printf("sparsity         %.1f%% of the weight layers (%s", 100.0 * s.sparsity, cfg.sparse.method.c_str());
    for (const auto& [name, sp] : s.layer_sparsity) std::printf(", %s %.0f%%", name.c_str(), 100.0 * sp);
    std::printf(")\n");
    std::printf("FLOPs per sample %.2f M sparse vs %.2f M dense in those layers (%.1fx fewer)\n", s.sparse_flops / 1e6,
                s.dense_flops / 1e6, s.dense_flops / std::max(1.0, s.sparse_flops));
    for (const auto& d : s.kernel_decisions) std::printf("kernels          %s\n", d.c_str());
    if (!s.sparse_model_path.empty()) {
      std::printf("sparse model     %s: %.1f kB (%.1f%% of the %.1f kB of dense float32 weights)\n",
                  s.sparse_model_path.c_str(), static_cast<double>(s.sparse_model_bytes) / 1e3,
                  100.0 * static_cast<double>(s.sparse_model_bytes) / std::max<double>(1.0, static_cast<double>(s.dense_model_bytes)),
                  static_cast<double>(s.dense_model_bytes) / 1e3);
    }
  }
  std::printf("wall time        %s  (%.0f samples/s over the whole run; %.0f samples/s in training steps, which took "
              "%s: evaluation, checkpoints and logging excluded)\n",
              train::format_duration(s.wall_s).c_str(), s.samples_per_s,
              s.step_s > 0 ? static_cast<double>(s.steps - s.start_step) *
                                 static_cast<double>(cfg.train.batch_size * s.workers) / s.step_s
                           : 0.0,
              train::format_duration(s.step_s).c_str());
  std::printf("metrics          %s\n", s.metrics_path.c_str());
  if (!s.torch_model_path.empty()) {
    std::printf("torch model      %s (a state_dict: python/evaluate.py %s, or torch.load; README \"Loading a run in "
                "Python\")\n",
                s.torch_model_path.c_str(), cfg.output.dir.c_str());
  }
  std::printf("checkpoint       %s\n", s.checkpoint_path.c_str());
  std::fflush(stdout);
  return g_stop.load() ? 130 : 0;
}

}  // namespace

void add_train_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<TrainArgs>();
  auto* cmd = app.add_subcommand("train", "Train a model from a TOML configuration (see examples/)");
  cmd->add_option("config", args->config_path, "TOML configuration file")->check(CLI::ExistingFile);
  cmd->add_option("--set", args->overrides, "Override a key: --set optimizer.lr=0.1 (repeatable)");
  cmd->add_option("--resume", args->resume_dir, "Continue the run in this output directory from its checkpoint")
      ->check(CLI::ExistingDirectory);
  cmd->callback([args, &exit_code] {
    exit_code = run_reported("train", [&] { return run_train(*args); });
  });
}

}  // namespace gossamer::cli
