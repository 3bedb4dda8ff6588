#include "gossamer/train/trainer.h"

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstring>
#include <cmath>
#include <filesystem>
#include <mutex>
#include <thread>

#include "gossamer/comm/communicator.h"
#include "gossamer/comm/inprocess_communicator.h"
#include "gossamer/models/model.h"
#include "gossamer/optim/distributed_optimizer.h"
#include "gossamer/sparse/export.h"
#include "gossamer/sparse/pruner.h"
#include "gossamer/sparse/pruner_masks.h"
#include "gossamer/train/batch_stream.h"
#include "gossamer/train/checkpoint.h"
#include "gossamer/train/evaluate.h"
#include "gossamer/train/flat_parameters.h"
#include "gossamer/train/lr_schedule.h"
#include "gossamer/train/metrics_log.h"
#include "gossamer/train/optimizer_setup.h"
#include "gossamer/train/progress.h"
#include "gossamer/train/robust_setup.h"
#include "gossamer/optim/robust_mixing.h"
#include "gossamer/train/sparse_kernels.h"
#include "gossamer/train/sparse_setup.h"
#include "gossamer/train/torch_state_dict.h"
#include "gossamer/util/atomic_file.h"
#include "gossamer/util/blas.h"
#include "gossamer/util/log.h"

namespace gossamer::train {

int configure_threads(int64_t requested, int64_t blas_threads) {
  int n = static_cast<int>(requested);
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(n);
  if (blas_threads > 0 && util::set_blas_threads(static_cast<int>(blas_threads)) < 0) {
    util::log_info("train.blas_threads = " + std::to_string(blas_threads) +
                   " not applied: the BLAS behind libblas.so.3 is not OpenBLAS");
  }
  return n;
}

namespace {

// Loss/accuracy accumulated between two log steps, plus the algorithm's traffic; saved in
// checkpoints so that a resumed run logs the same averages.
struct Window {
  double loss_sum = 0;
  int64_t correct = 0, samples = 0, steps = 0;
};

struct Traffic {
  double bytes_sent = 0, modelled_s = 0;
  double dense_bytes_sent = 0;  // bytes_sent with the optimizer's messages counted dense (seam stats)
  double pack_s = 0;            // time the seam spent packing and unpacking (not checkpointed)
};

}  // namespace

struct Trainer::State {
  config::Config cfg;
  data::Dataset train;
  const data::Dataset& test;
  std::string out_dir;
  WorkerContext ctx;
  int rank = 0, world = 1;
  std::shared_ptr<models::Model> model;
  std::unique_ptr<FlatParameters> flat;
  // One worker is a group of one: its communicator, when the caller passed none (declared before
  // the optimizer, which talks through it).
  std::unique_ptr<comm::InProcessGroup> own_group;
  std::unique_ptr<comm::Communicator> own_comm;
  std::unique_ptr<optim::DistributedOptimizer> distributed;
  int64_t steps_per_epoch = 1, total_steps = 1;
  std::unique_ptr<LrSchedule> schedule;
  std::unique_ptr<sparse::Pruner> pruner;
  std::unique_ptr<sparse::PrunerMasks> message_masks;  // the optimizer's packed message layout
  std::unique_ptr<BatchStream> gradient_samples;  // WoodFisher's mini-batches
  std::unique_ptr<SparseKernelRouter> kernels;    // after model and pruner: destroyed before them
  models::ModelSpec spec;
  at::Tensor scratch;  // [numel] reused for the mean model
  // Byzantine workers ([attack]) are left out of the reported models: the mean model, the
  // consensus distance and the worst worker are the honest workers'.
  bool honest = true;
  int honest_workers = 1;

  State(const config::Config& c, data::Dataset tr, const data::Dataset& te, std::string dir, WorkerContext x)
      : cfg(c), train(std::move(tr)), test(te), out_dir(std::move(dir)), ctx(x) {}

  torch::optim::Optimizer& optimizer() { return distributed->local(); }
  bool logger() const { return rank == 0; }

  // Sum of `values` over workers (a copy on one worker). Run by every worker at the same point.
  std::vector<double> sum_over_workers(std::vector<double> values) {
    at::Tensor t = at::tensor(values, at::kDouble);
    ctx.comm->allreduce(t, comm::ReduceOp::Sum);
    return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
  }
  // Mean model of the honest workers into `scratch`; returns (1/h) sum_honest ||x_i - x_mean||^2.
  double mean_model_and_consensus() {
    scratch.copy_(flat->values());
    if (honest_workers == world) {
      ctx.comm->allreduce(scratch, comm::ReduceOp::Mean);
    } else {
      if (!honest) scratch.zero_();
      ctx.comm->allreduce(scratch, comm::ReduceOp::Sum);
      scratch.div_(static_cast<double>(honest_workers));
    }
    const double local = honest ? (flat->values() - scratch).pow(2).sum().item<double>() : 0.0;
    return sum_over_workers({local})[0] / honest_workers;
  }
};

Trainer::Trainer(const config::Config& cfg, data::Dataset train, const data::Dataset& test, std::string out_dir,
                 WorkerContext ctx)
    : s_(std::make_unique<State>(cfg, std::move(train), test, std::move(out_dir), ctx)) {
  check_optimizer_config(cfg);
  if (s_->train.size() == 0) throw std::invalid_argument("Trainer: the training shard is empty");
  if (!ctx.comm) {
    s_->own_group = std::make_unique<comm::InProcessGroup>(1, comm::kDefaultTimeout);
    s_->own_comm = s_->own_group->communicator(0);
    s_->ctx.comm = s_->own_comm.get();
  }
  comm::Communicator& communicator = *s_->ctx.comm;
  s_->rank = communicator.rank();
  s_->world = communicator.size();
  if (s_->world != cfg.cluster.workers) {
    throw std::invalid_argument("Trainer: cluster.workers = " + std::to_string(cfg.cluster.workers) + " but " +
                                std::to_string(s_->world) + " worker(s) are running");
  }
  {
    const std::vector<int> attackers = attacker_ranks(cfg);
    s_->honest = std::find(attackers.begin(), attackers.end(), s_->rank) == attackers.end();
    s_->honest_workers = s_->world - static_cast<int>(attackers.size());
    if (!s_->honest && cfg.attack.kind == "label-flip") flip_labels(s_->train);
  }
  models::ModelSpec& spec = s_->spec;
  spec = model_spec(cfg, s_->train);
  {
    // LibTorch's generator is global: workers that are threads must not interleave their draws, or
    // the initial weights (and so the whole run) would depend on thread timing.
    static std::mutex init_mutex;
    std::lock_guard<std::mutex> lock(init_mutex);
    torch::manual_seed(static_cast<uint64_t>(cfg.train.seed));
    s_->model = models::make_model(spec);
  }
  s_->flat = std::make_unique<FlatParameters>(*s_->model);
  s_->scratch = at::empty_like(s_->flat->values());
  if (!cfg.train.init_from.empty()) {
    // Weights only: the run's own optimizer starts fresh (fine-tuning a trained model).
    load_checkpoint(cfg.train.init_from, *s_->model, nullptr, {});
  }
  {
    // One worker has nobody to talk to: whatever the algorithm, its step is the local optimizer's,
    // which is parallel-sgd over a group of one (the mean of one gradient is that gradient, exactly).
    config::OptimizerConfig oc = cfg.optimizer;
    if (s_->world == 1) oc.algorithm = "parallel-sgd";
    s_->distributed = make_distributed_optimizer(oc, cfg.compress, static_cast<uint64_t>(cfg.train.seed),
                                                 s_->flat->optimizer_parameter(), communicator, ctx.topology);
    // One worker sends nothing: nothing to compress.
    if (s_->world > 1) {
      install_compression(cfg.compress, static_cast<uint64_t>(cfg.train.seed), *s_->flat, *s_->distributed);
      if (robust_enabled(cfg)) install_robustness(cfg, s_->world, s_->flat->numel(), ctx.topology, *s_->distributed);
    }
  }

  // An epoch is one pass over the whole training set by all workers together. Shards can differ
  // in size (Dirichlet or class partitions, or an iid split that does not divide evenly), so the
  // sample count is summed over the workers: every worker must plan the same number of steps, or
  // the collectives of the longer-running workers would wait for peers that have already stopped.
  const int64_t global_batch = cfg.train.batch_size * s_->world;
  const int64_t global_samples =
      static_cast<int64_t>(std::llround(s_->sum_over_workers({static_cast<double>(s_->train.size())})[0]));
  s_->steps_per_epoch = std::max<int64_t>(1, (global_samples + global_batch - 1) / global_batch);
  s_->total_steps = s_->steps_per_epoch * cfg.train.epochs;

  LrScheduleSpec ls;
  ls.name = cfg.schedule.name;
  ls.base_lr = cfg.optimizer.lr;
  ls.warmup_steps = static_cast<int64_t>(std::llround(cfg.schedule.warmup_epochs * static_cast<double>(s_->steps_per_epoch)));
  ls.total_steps = s_->total_steps;
  ls.step_every = cfg.schedule.step_epochs * s_->steps_per_epoch;
  ls.gamma = cfg.schedule.gamma;
  ls.min_lr = cfg.schedule.min_lr;
  s_->schedule = std::make_unique<LrSchedule>(ls);

  if (cfg.sparse.method != "none") {
    const std::vector<sparse::ParamSlice> slices = parameter_slices(*s_->flat, *s_->model);
    sparse::PrunerContext pc;
    pc.comm = &communicator;
    pc.uses = prunable_layer_uses(slices, *s_->model);
    State* st = s_.get();
    // WoodFisher's gradient samples: mini-batches from a stream of their own, so that taking them
    // does not change the training batches.
    pc.sample_gradient = [st](int64_t index) {
      if (!st->gradient_samples) {
        st->gradient_samples = std::make_unique<BatchStream>(
            st->train, st->cfg.train.batch_size, static_cast<uint64_t>(st->cfg.train.seed) * 31u + 17u + st->rank,
            data::SampleOrder::Reshuffle);
      }
      Batch b = st->gradient_samples->batch(index);
      st->flat->zero_grad();
      torch::nn::functional::cross_entropy(st->model->forward(b.inputs), b.targets).backward();
    };
    s_->pruner = std::make_unique<sparse::Pruner>(make_prune_spec(cfg, s_->steps_per_epoch, s_->total_steps), slices,
                                                  s_->flat->values(), s_->flat->gradients(), pc);
    s_->kernels = std::make_unique<SparseKernelRouter>(*s_->model, *s_->pruner, cfg.sparse.kernels);
    // Messages carry only the values the mask keeps (parallel GaP: each worker's own mask, so that
    // a grown weight is averaged over the workers that hold it; config refuses it unpacked).
    // (One worker sends no messages.)
    if (s_->world > 1 && cfg.sparse.packed_messages && sparse::PrunerMasks::supported(*s_->pruner)) {
      s_->message_masks = std::make_unique<sparse::PrunerMasks>(*s_->pruner);
      s_->distributed->use_masks(s_->message_masks.get());
    }
  }
}

Trainer::~Trainer() = default;

int64_t Trainer::steps_per_epoch() const { return s_->steps_per_epoch; }

RunSummary Trainer::run(bool resume, const std::atomic<bool>* stop) {
  State& s = *s_;
  const auto& cfg = s.cfg;
  std::filesystem::create_directories(s.out_dir);
  const std::string ckpt_path =
      s.world == 1 ? s.out_dir + "/checkpoint.pt" : s.out_dir + "/checkpoint-rank" + std::to_string(s.rank) + ".pt";
  const std::string metrics_path = s.out_dir + "/metrics.jsonl";
  std::vector<std::string> checkpoint_tensor_names;
  for (const auto& [k, v] : s.distributed->state()) checkpoint_tensor_names.push_back(k);
  if (s.pruner) {
    for (const auto& n : s.pruner->state_names()) checkpoint_tensor_names.push_back(n);
  }

  int64_t step = 0;
  Window window;
  Traffic traffic;
  double prior_wall_s = 0;
  if (resume) {
    CheckpointExtras ex = load_checkpoint(ckpt_path, *s.model, &s.optimizer(), checkpoint_tensor_names);
    auto meta = nlohmann::json::parse(ex.meta_json);
    step = meta.at("step").get<int64_t>();
    window.loss_sum = meta.at("window_loss_sum").get<double>();
    window.correct = meta.at("window_correct").get<int64_t>();
    window.samples = meta.at("window_samples").get<int64_t>();
    window.steps = meta.at("window_steps").get<int64_t>();
    traffic.bytes_sent = meta.value("bytes_sent", 0.0);
    traffic.modelled_s = meta.value("modelled_comm_s", 0.0);
    traffic.dense_bytes_sent = meta.value("dense_bytes_sent", traffic.bytes_sent);
    prior_wall_s = meta.value("wall_s", 0.0);
    s.distributed->load_state(ex.tensors);
    if (s.pruner) s.pruner->load_state(ex.tensors);
    // Every worker must resume from the same step, or the collectives would not line up.
    const auto agree = s.sum_over_workers({static_cast<double>(step), static_cast<double>(step) * step});
    if (agree[1] * s.world != agree[0] * agree[0]) {
      throw std::runtime_error("resume: the workers' checkpoints in " + s.out_dir +
                               " are from different steps (a crash while they were written); rank " +
                               std::to_string(s.rank) + " is at step " + std::to_string(step));
    }
  } else if (s.logger()) {
    std::filesystem::remove(metrics_path);
  }
  std::unique_ptr<MetricsLog> metrics;
  auto as_text = [](double v) {  // "0.9", as the user wrote it, not std::to_string's "0.900000"
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return std::string(buf);
  };
  if (s.logger()) {
    util::write_text_atomically(s.out_dir + "/config.toml", config::to_toml(cfg));
    metrics = std::make_unique<MetricsLog>(metrics_path, resume ? step : -1);
    // What produced this file, so that two runs' metrics can be told apart without their configs.
    if (!resume) {
      metrics->write_run({{"model", cfg.model.name},
                          {"optimizer", cfg.optimizer.name},
                          {"algorithm", s.world > 1 ? cfg.optimizer.algorithm : "none (one worker)"},
                          {"workers", std::to_string(s.world)},
                          {"topology", s.world > 1 && s.ctx.topology ? cfg.cluster.topology : "none"},
                          {"sparse", cfg.sparse.method == "none" ? "none" : cfg.sparse.method + " " + as_text(cfg.sparse.sparsity)},
                          {"compress", cfg.compress.method},
                          {"robust", cfg.robust.aggregator},
                          {"attack", cfg.attack.kind},
                          {"seed", std::to_string(cfg.train.seed)},
                          {"partition", cfg.data.partition}});
    }
  }
  Progress progress(s.logger() ? parse_progress_mode(cfg.output.progress) : ProgressMode::Off);

  if (!resume) {
    // Same seed gives the same initial weights; the broadcast makes it a guarantee.
    torch::NoGradGuard ng;
    s.ctx.comm->broadcast(s.flat->values(), 0);
  }
  if (s.pruner && !resume) s.pruner->start();

  auto save = [&](double wall_s) {
    nlohmann::json meta{{"step", step},
                        {"window_loss_sum", window.loss_sum},
                        {"window_correct", window.correct},
                        {"window_samples", window.samples},
                        {"window_steps", window.steps},
                        {"bytes_sent", traffic.bytes_sent},
                        {"modelled_comm_s", traffic.modelled_s},
                        {"dense_bytes_sent", traffic.dense_bytes_sent},
                        {"wall_s", wall_s}};
    CheckpointExtras ex;
    ex.meta_json = meta.dump();
    ex.tensors = s.distributed->state();
    if (s.pruner) {
      for (auto& [k, v] : s.pruner->state()) ex.tensors[k] = v;
    }
    save_checkpoint(ckpt_path, *s.model, &s.optimizer(), ex);
  };

  // "epoch 3" at an epoch's end, "step 250 (epoch 3)" for train.eval_every's evaluations.
  auto eval_label = [&](int64_t epoch, bool epoch_end) {
    return epoch_end ? "epoch " + std::to_string(epoch)
                     : "step " + std::to_string(step) + " (epoch " + std::to_string(epoch) + ")";
  };
  // The kernel choices so far (sparse.kernels), as a "kernels" line just before an evaluation's
  // line, so that the evaluation stays a run's last line; `at_stop` as that evaluation's. Every
  // sparse run writes it, with an empty list when nothing is routed (sparse.kernels = dense,
  // SR-STE), so that a run's lines do not depend on the kernels it ran on.
  auto write_kernels = [&](double at_stop) {
    if (!metrics || !s.kernels) return;
    const std::vector<std::string> decisions = s.kernels->decisions();
    std::map<std::string, double> fields;
    if (at_stop != 0.0) fields["at_stop"] = at_stop;
    metrics->write_list("kernels", step, fields, "decisions", decisions);
  };
  // Test accuracy of the mean model (what a user would deploy) and of the worst worker.
  struct Eval {
    EvalResult mean;
    double worst_accuracy = 0, consensus = 0;
  };
  auto evaluate_all = [&]() {
    Eval e;
    e.consensus = s.mean_model_and_consensus();
    torch::NoGradGuard ng;
    // Evaluate what would be deployed: with SR-STE the weights between steps are dense and the
    // N:M mask is applied here (a no-op for the other methods, whose weights are masked).
    at::Tensor mine = s.flat->values().clone();
    if (s.pruner) s.pruner->make_deployable(s.flat->values());
    const EvalResult own = evaluate(*s.model, s.test, cfg.train.eval_batch_size);
    e.worst_accuracy = own.accuracy;
    if (s.world > 1) {
      // The lowest accuracy of an honest worker: allgather (accuracy, honest).
      at::Tensor acc = at::tensor({own.accuracy, s.honest ? 1.0 : 0.0}, at::kDouble);
      e.worst_accuracy = 1.0;
      for (const auto& a : s.ctx.comm->allgather(acc)) {
        if (a[1].item<double>() > 0) e.worst_accuracy = std::min(e.worst_accuracy, a[0].item<double>());
      }
      s.flat->values().copy_(s.scratch);
      if (s.pruner) s.pruner->make_deployable(s.flat->values());
      e.mean = evaluate(*s.model, s.test, cfg.train.eval_batch_size);
    } else {
      e.mean = own;
    }
    s.flat->values().copy_(mine);
    return e;
  };

  BatchStream stream(s.train, cfg.train.batch_size, static_cast<uint64_t>(cfg.train.seed) + 7919u * s.rank,
                     data::parse_sample_order(cfg.data.order));
  // train.max_steps stops a run early; a resumed run that has already reached it continues to the end.
  const bool limit_reached = cfg.train.max_steps > 0 && step >= cfg.train.max_steps && step < s.total_steps;
  const bool limited = cfg.train.max_steps > 0 && cfg.train.max_steps < s.total_steps && !limit_reached;
  const int64_t end_step = limited ? cfg.train.max_steps : s.total_steps;
  if (resume && s.logger()) {
    util::log_info("resuming " + s.out_dir + " from step " + std::to_string(step) + " of " +
                   std::to_string(s.total_steps) + " (epoch " + std::to_string(step / s.steps_per_epoch + 1) + " of " +
                   std::to_string(cfg.train.epochs) + ")" +
                   (limit_reached ? "; train.max_steps = " + std::to_string(cfg.train.max_steps) +
                                        " was reached, so training continues to the end (--set train.max_steps=N "
                                        "stops at step N)"
                    : limited ? "; stopping at train.max_steps = " + std::to_string(end_step)
                              : ""));
  }
  const int64_t ckpt_every = cfg.output.checkpoint_every > 0 ? cfg.output.checkpoint_every : s.steps_per_epoch;
  const auto t0 = std::chrono::steady_clock::now();
  auto window_t0 = t0;
  auto elapsed = [&](std::chrono::steady_clock::time_point since) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
  };
  const int64_t start_step = step;
  s.model->train();
  RunSummary summary;
  summary.workers = s.world;
  summary.rank = s.rank;
  summary.total_steps = s.total_steps;
  Eval last_eval;
  bool evaluated_at_end = false, stop_agreed = false;
  double step_s = 0;  // time in training steps only (not evaluation, checkpoints, logging)
  // What the progress line shows: the last logged window's numbers (the workers' mean, as in
  // metrics.jsonl), refreshed every train.log_every steps.
  double shown_loss = NAN, shown_accuracy = NAN, shown_rate = NAN;

  while (step < end_step && !stop_agreed) {
    if (s.world == 1 && stop && stop->load()) break;
    // Parallel GaP re-warms the lr after each combination (Pruner::lr_factor).
    const double lr = s.schedule->at(step) * (s.pruner ? s.pruner->lr_factor(step) : 1.0);

    const auto step_t0 = std::chrono::steady_clock::now();
    Batch b = stream.batch(step);
    s.flat->zero_grad();
    // The step's traffic: the algorithm's messages plus any mask agreement of the pruner.
    const comm::CommStats before = s.ctx.comm->stats();
    const optim::SeamStats seam_before = s.distributed->seam().stats();
    if (s.pruner) s.pruner->before_forward(step);
    at::Tensor logits = s.model->forward(b.inputs);
    at::Tensor loss = torch::nn::functional::cross_entropy(logits, b.targets);
    loss.backward();
    if (s.pruner) s.pruner->after_backward(step);
    const double loss_v = loss.item<double>();
    if (!std::isfinite(loss_v)) {
      // No checkpoint here: the last one written holds finite parameters.
      // Compression is a common cause: name its keys when it is on (docs/compress.md's frontier).
      std::string hint = "lower optimizer.lr or add schedule.warmup_epochs";
      if (s.cfg.optimizer.algorithm == "choco") {
        hint += ", or change optimizer.consensus_step (now " + std::to_string(s.cfg.optimizer.consensus_step) +
                "; CHOCO needs a contractive compress.method such as topk or sign, and top-k a small step)";
      } else if (s.cfg.compress.method != "none") {
        hint += ", or choose a gentler compress.method than \"" + s.cfg.compress.method + "\"";
      }
      throw std::runtime_error("loss became " + std::to_string(loss_v) + " at step " + std::to_string(step) +
                               " on rank " + std::to_string(s.rank) + " (lr " + std::to_string(lr) + "); " + hint);
    }
    s.distributed->set_lr(lr);
    s.distributed->step();
    if (s.pruner) s.pruner->after_step(step, s.distributed->state_tensors());
    {
      const comm::CommStats& after = s.ctx.comm->stats();
      const optim::SeamStats& seam_after = s.distributed->seam().stats();
      // An attack's oracle round simulates the attacker's knowledge: not the algorithm's traffic.
      const double simulated = static_cast<double>(seam_after.simulation_bytes - seam_before.simulation_bytes);
      const double sent = static_cast<double>(after.bytes_sent - before.bytes_sent) - simulated;
      traffic.bytes_sent += sent;
      traffic.dense_bytes_sent += sent - static_cast<double>(seam_after.bytes_sent - seam_before.bytes_sent) +
                                  static_cast<double>(seam_after.dense_bytes_sent - seam_before.dense_bytes_sent);
      traffic.pack_s += seam_after.pack_seconds - seam_before.pack_seconds;
      traffic.modelled_s += after.modelled_seconds - before.modelled_seconds -
                            (seam_after.simulation_seconds - seam_before.simulation_seconds);
    }
    {
      torch::NoGradGuard ng;
      window.correct += logits.argmax(1).eq(b.targets).sum().item<int64_t>();
    }
    window.loss_sum += loss_v;
    window.samples += b.targets.size(0);
    window.steps += 1;
    ++step;
    step_s += elapsed(step_t0);

    const int64_t epoch = (step - 1) / s.steps_per_epoch + 1;
    // Not at a max_steps stop: a resumed run must log the same windows as an uninterrupted one.
    const bool log_step = step % cfg.train.log_every == 0 || step == s.total_steps;
    const double done_s = elapsed(t0);
    if (log_step) {
      // One small reduction makes the logged numbers global and lets workers agree on stopping.
      const bool want_stop = stop && stop->load();
      const auto g = s.sum_over_workers({window.loss_sum, static_cast<double>(window.correct),
                                         static_cast<double>(window.samples), static_cast<double>(window.steps),
                                         traffic.bytes_sent, traffic.modelled_s, want_stop ? 1.0 : 0.0,
                                         traffic.dense_bytes_sent});
      stop_agreed = g[6] > 0;
      const double window_s = elapsed(window_t0);
      std::map<std::string, double> fields{{"epoch", static_cast<double>(epoch)},
                                           {"loss", g[0] / g[3]},
                                           {"accuracy", g[1] / g[2]},
                                           {"lr", lr},
                                           {"samples_per_s", g[2] / std::max(window_s, 1e-9)},
                                           {"wall_s", prior_wall_s + done_s}};
      if (s.world > 1) {
        fields["bytes_sent_per_worker"] = g[4] / s.world;
        fields["bytes_sent_per_step"] = g[4] / s.world / static_cast<double>(step);
        fields["dense_bytes_sent_per_worker"] = g[7] / s.world;
        fields["modelled_comm_s"] = g[5] / s.world;
        fields["consensus_distance"] = s.mean_model_and_consensus();
      }
      // The mixing rule's own measurements (robust aggregation: shares, rejections), rank 0's view;
      // every rank takes them so that each one's window restarts here.
      for (const auto& [k, v] : s.distributed->take_mixing_metrics()) fields[k] = v;
      if (s.pruner) {
        // SAD since the previous log line, normalised by the pruned layers' size. The per-layer
        // sparsity at every log step draws the report's sparsity-over-time plot (gossamer report).
        const sparse::SparsityReport rep = s.pruner->report();
        fields["sparsity"] = rep.sparsity();
        for (const auto& l : rep.layers) fields["sparsity/" + l.name] = l.sparsity();
        fields["sad"] = static_cast<double>(s.pruner->take_flips()) /
                        static_cast<double>(std::max<int64_t>(1, s.pruner->pruned_layer_numel()));
      }
      if (metrics) metrics->write("train", step, fields);
      shown_loss = fields["loss"];
      shown_accuracy = fields["accuracy"];
      shown_rate = fields["samples_per_s"];
    }
    ProgressState ps;
    ps.epoch = epoch;
    ps.epochs = cfg.train.epochs;
    ps.step = step;
    ps.total_steps = end_step;
    ps.stop_reason = limited ? "train.max_steps" : "";
    ps.loss = shown_loss;
    ps.accuracy = shown_accuracy;
    ps.samples_per_s = shown_rate;
    // Remaining steps at this invocation's pace so far (evaluations and checkpoints included).
    ps.eta_s = static_cast<double>(end_step - step) * done_s / static_cast<double>(std::max<int64_t>(1, step - start_step));
    progress.update(ps, log_step);
    if (log_step) {
      window = Window{};
      window_t0 = std::chrono::steady_clock::now();
    }

    const bool epoch_end = step % s.steps_per_epoch == 0 || step == s.total_steps;
    const bool eval_step = cfg.train.eval_every > 0 && step % cfg.train.eval_every == 0;
    if (epoch_end || eval_step) {
      last_eval = evaluate_all();
      evaluated_at_end = true;
      std::map<std::string, double> fields{{"epoch", static_cast<double>(epoch)},
                                           {"test_loss", last_eval.mean.loss},
                                           {"test_accuracy", last_eval.mean.accuracy},
                                           {"wall_s", prior_wall_s + elapsed(t0)}};
      char buf[200];
      if (s.world > 1) {
        fields["worst_worker_accuracy"] = last_eval.worst_accuracy;
        fields["consensus_distance"] = last_eval.consensus;
        std::snprintf(buf, sizeof buf, "%s: test accuracy %.2f%% (mean model), worst worker %.2f%%, consensus distance %.3g",
                      eval_label(epoch, epoch_end).c_str(), 100.0 * last_eval.mean.accuracy,
                      100.0 * last_eval.worst_accuracy, last_eval.consensus);
      } else {
        std::snprintf(buf, sizeof buf, "%s: test accuracy %.2f%%, test loss %.4f", eval_label(epoch, epoch_end).c_str(),
                      100.0 * last_eval.mean.accuracy, last_eval.mean.loss);
      }
      if (s.pruner) {
        const sparse::SparsityReport rep = s.pruner->report();
        fields["sparsity"] = rep.sparsity();
        fields["sparse_flops"] = rep.sparse_flops;
        fields["dense_flops"] = rep.dense_flops;
        for (const auto& l : rep.layers) fields["sparsity/" + l.name] = l.sparsity();
        const size_t used = std::strlen(buf);
        std::snprintf(buf + used, sizeof buf - used, ", sparsity %.1f%%", 100.0 * rep.sparsity());
      }
      write_kernels(0.0);
      if (metrics) metrics->write("eval", step, fields);
      progress.message(buf);
    } else {
      evaluated_at_end = false;
    }
    if (step % ckpt_every == 0 || step == end_step || stop_agreed) save(prior_wall_s + elapsed(t0));
  }
  progress.finish_line();
  if (s.pruner && step == s.total_steps) {
    // The run's end: the final mask becomes permanent (also when sparse.end_epoch lies beyond the
    // run). Not on an interrupted or max_steps run, which may resume with its schedule.
    const at::Tensor before_finish = s.pruner->mask().clone();
    s.pruner->finish(step, s.distributed->state_tensors());
    // Re-evaluate if any worker's mask changed. The decision must be the same on every rank
    // (evaluation runs collectives): with SR-STE each worker held its own mask until now.
    at::Tensor changed = at::tensor({s.pruner->mask().equal(before_finish) ? 0.0 : 1.0}, at::kDouble);
    s.ctx.comm->allreduce(changed, comm::ReduceOp::Sum);
    if (changed.item<double>() > 0) evaluated_at_end = false;
    save(prior_wall_s + elapsed(t0));
  }
  if (step < s.total_steps) {
    summary.stopped_early = true;
    summary.interrupted = step < end_step;
    summary.max_steps = summary.interrupted ? 0 : end_step;
    save(prior_wall_s + elapsed(t0));
  }
  if (!evaluated_at_end) {
    last_eval = evaluate_all();
    if (metrics && step > start_step) {
      // The accuracy the summary prints, also in the metrics. "at_stop": made because the run
      // stopped here; a resumed run drops it (MetricsLog), keeping its file equal to an
      // uninterrupted run's.
      std::map<std::string, double> fields{{"epoch", static_cast<double>((step - 1) / s.steps_per_epoch + 1)},
                                           {"test_loss", last_eval.mean.loss},
                                           {"test_accuracy", last_eval.mean.accuracy},
                                           {"wall_s", prior_wall_s + elapsed(t0)},
                                           {"at_stop", step < s.total_steps ? 1.0 : 0.0}};
      if (s.world > 1) {
        fields["worst_worker_accuracy"] = last_eval.worst_accuracy;
        fields["consensus_distance"] = last_eval.consensus;
      }
      if (s.pruner) fields["sparsity"] = s.pruner->report().sparsity();
      write_kernels(fields["at_stop"]);
      metrics->write("eval", step, fields);
    }
  }
  if (s.pruner) {
    const sparse::SparsityReport rep = s.pruner->report();
    summary.sparse = true;
    summary.sparsity = rep.sparsity();
    summary.dense_flops = rep.dense_flops;
    summary.sparse_flops = rep.sparse_flops;
    for (const auto& l : rep.layers) summary.layer_sparsity.emplace_back(l.name, l.sparsity());
    summary.dense_model_bytes = 4 * s.flat->numel();
    if (s.kernels) summary.kernel_decisions = s.kernels->decisions();
  }
  {
    // The deployed model: the mean of the workers' models with the final mask. Rank 0 writes it as
    // model.pt (a plain state_dict: Python's model.load_state_dict(torch.load(path)) takes it),
    // model_masks.pt (the pruned layers' masks, bool, in each weight's shape) and, when
    // sparse.export_model, model.sparse for gossamer infer. Every worker takes part in the mean.
    torch::NoGradGuard ng;
    s.mean_model_and_consensus();
    at::Tensor mine = s.flat->values().clone();
    s.flat->values().copy_(s.scratch);
    if (s.pruner) s.pruner->make_deployable(s.flat->values());
    if (s.pruner && cfg.sparse.export_model) summary.sparse_model_path = s.out_dir + "/model.sparse";
    if (s.logger()) {
      std::map<std::string, at::Tensor> masks;
      if (s.pruner) {
        // The deployed model's mask, not this worker's (parallel GaP mid-phase keeps more).
        const at::Tensor deployed = s.pruner->deployable_mask(s.flat->values());
        for (size_t i = 0; i < s.pruner->layers().size(); ++i) {
          const auto& l = s.pruner->layers()[i];
          masks[l.name] = deployed.narrow(0, l.offset, l.numel).view(l.shape);
        }
        if (cfg.sparse.export_model) {
          summary.sparse_model_bytes = sparse::export_sparse_model(summary.sparse_model_path, s.spec, *s.model, masks);
        }
        NamedTensors bool_masks;
        for (const auto& [name, m] : masks) bool_masks.emplace_back(name, m.ne(0));
        save_torch_file(s.out_dir + "/model_masks.pt", tensor_dict(bool_masks));
      }
      summary.torch_model_path = s.out_dir + "/model.pt";
      save_torch_file(summary.torch_model_path, tensor_dict(state_dict_of(*s.model)));
    }
    s.flat->values().copy_(mine);
  }

  summary.steps = step;
  summary.test_accuracy = last_eval.mean.accuracy;
  summary.test_loss = last_eval.mean.loss;
  summary.worst_worker_accuracy = last_eval.worst_accuracy;
  summary.consensus_distance = last_eval.consensus;
  const auto totals =
      s.sum_over_workers({traffic.bytes_sent, traffic.modelled_s, traffic.dense_bytes_sent, traffic.pack_s});
  summary.bytes_sent_per_worker = totals[0] / s.world;
  summary.dense_bytes_sent_per_worker = totals[2] / s.world;
  summary.pack_s_per_worker = totals[3] / s.world;
  summary.messages = s.distributed->seam().describe();
  summary.byzantine = attacker_ranks(cfg);
  if (const auto* r = dynamic_cast<const optim::RobustMixing*>(&s.distributed->seam().mixing())) {
    summary.excluded = r->excluded();
    summary.rejected_messages = static_cast<int64_t>(
        std::llround(s.sum_over_workers({static_cast<double>(r->rejected_total())})[0]));
  }
  summary.bytes_sent_per_step = step > 0 ? summary.bytes_sent_per_worker / static_cast<double>(step) : 0.0;
  summary.modelled_comm_s = totals[1] / s.world;
  summary.wall_s = elapsed(t0);
  summary.step_s = step_s;
  summary.start_step = start_step;
  summary.samples_per_s = static_cast<double>(step - start_step) * static_cast<double>(cfg.train.batch_size * s.world) /
                          std::max(summary.wall_s, 1e-9);
  summary.metrics_path = metrics_path;
  summary.checkpoint_path = ckpt_path;
  return summary;
}

}  // namespace gossamer::train
