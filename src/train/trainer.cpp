#include "gossamer/train/trainer.h"

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <thread>

#include "gossamer/models/model.h"
#include "gossamer/train/batch_stream.h"
#include "gossamer/train/checkpoint.h"
#include "gossamer/train/evaluate.h"
#include "gossamer/train/flat_parameters.h"
#include "gossamer/train/lr_schedule.h"
#include "gossamer/train/metrics_log.h"
#include "gossamer/train/progress.h"
#include "gossamer/util/atomic_file.h"

namespace gossamer::train {

int configure_threads(int64_t requested) {
  int n = static_cast<int>(requested);
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(n);
  return n;
}

namespace {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const config::OptimizerConfig& c, at::Tensor flat) {
  std::vector<at::Tensor> params{flat};
  if (c.name == "sgd") {
    return std::make_unique<torch::optim::SGD>(
        params, torch::optim::SGDOptions(c.lr).momentum(c.momentum).nesterov(c.nesterov).weight_decay(c.weight_decay));
  }
  if (c.name == "adamw") {
    return std::make_unique<torch::optim::AdamW>(
        params, torch::optim::AdamWOptions(c.lr).betas({c.beta1, c.beta2}).eps(c.eps).weight_decay(c.weight_decay));
  }
  throw std::invalid_argument("unknown optimizer '" + c.name + "': use sgd or adamw");
}

// Loss/accuracy/throughput accumulated between two log steps; saved in checkpoints so a resumed
// run logs the same averages.
struct Window {
  double loss_sum = 0;
  int64_t correct = 0, samples = 0, steps = 0;
};

}  // namespace

struct Trainer::State {
  config::Config cfg;
  data::Dataset train;
  const data::Dataset& test;
  std::string out_dir;
  std::shared_ptr<models::Model> model;
  std::unique_ptr<FlatParameters> flat;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  int64_t steps_per_epoch = 1, total_steps = 1;
  std::unique_ptr<LrSchedule> schedule;

  State(const config::Config& c, data::Dataset tr, const data::Dataset& te, std::string dir)
      : cfg(c), train(std::move(tr)), test(te), out_dir(std::move(dir)) {}
};

Trainer::Trainer(const config::Config& cfg, data::Dataset train, const data::Dataset& test, std::string out_dir)
    : s_(std::make_unique<State>(cfg, std::move(train), test, std::move(out_dir))) {
  if (s_->train.size() == 0) throw std::invalid_argument("Trainer: the training shard is empty");
  torch::manual_seed(static_cast<uint64_t>(cfg.train.seed));  // same initial weights for the same seed
  models::ModelSpec spec;
  spec.name = cfg.model.name;
  spec.input_shape = s_->train.inputs.sizes().slice(1).vec();
  spec.num_classes = s_->train.num_classes;
  spec.hidden = cfg.model.hidden;
  spec.width = cfg.model.width;
  s_->model = models::make_model(spec);
  s_->flat = std::make_unique<FlatParameters>(*s_->model);
  s_->optimizer = make_optimizer(cfg.optimizer, s_->flat->values());

  const int64_t global_batch = cfg.train.batch_size * cfg.cluster.workers;
  const int64_t global_samples = s_->train.size() * cfg.cluster.workers;
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
}

Trainer::~Trainer() = default;

int64_t Trainer::steps_per_epoch() const { return s_->steps_per_epoch; }

RunSummary Trainer::run(bool resume, const std::atomic<bool>* stop) {
  State& s = *s_;
  const auto& cfg = s.cfg;
  std::filesystem::create_directories(s.out_dir);
  const std::string ckpt_path = s.out_dir + "/checkpoint.pt";
  const std::string metrics_path = s.out_dir + "/metrics.jsonl";

  int64_t step = 0;
  Window window;
  double prior_wall_s = 0;
  if (resume) {
    CheckpointExtras ex = load_checkpoint(ckpt_path, *s.model, s.optimizer.get());
    auto meta = nlohmann::json::parse(ex.meta_json);
    step = meta.at("step").get<int64_t>();
    window.loss_sum = meta.at("window_loss_sum").get<double>();
    window.correct = meta.at("window_correct").get<int64_t>();
    window.samples = meta.at("window_samples").get<int64_t>();
    window.steps = meta.at("window_steps").get<int64_t>();
    prior_wall_s = meta.value("wall_s", 0.0);
  } else {
    std::filesystem::remove(metrics_path);
  }
  util::write_text_atomically(s.out_dir + "/config.toml", config::to_toml(cfg));
  MetricsLog metrics(metrics_path, resume ? step : -1);
  Progress progress(parse_progress_mode(cfg.output.progress));

  auto save = [&](double wall_s) {
    nlohmann::json meta{{"step", step},
                        {"window_loss_sum", window.loss_sum},
                        {"window_correct", window.correct},
                        {"window_samples", window.samples},
                        {"window_steps", window.steps},
                        {"wall_s", wall_s}};
    CheckpointExtras ex;
    ex.meta_json = meta.dump();
    save_checkpoint(ckpt_path, *s.model, s.optimizer.get(), ex);
  };

  BatchStream stream(s.train, cfg.train.batch_size, static_cast<uint64_t>(cfg.train.seed),
                     data::parse_sample_order(cfg.data.order));
  const int64_t end_step = cfg.train.max_steps > 0 ? std::min(s.total_steps, cfg.train.max_steps) : s.total_steps;
  const int64_t ckpt_every = cfg.output.checkpoint_every > 0 ? cfg.output.checkpoint_every : s.steps_per_epoch;
  const auto t0 = std::chrono::steady_clock::now();
  auto window_t0 = t0;
  auto elapsed = [&](std::chrono::steady_clock::time_point since) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
  };
  const int64_t start_step = step;
  s.model->train();
  RunSummary summary;
  summary.total_steps = s.total_steps;
  double last_samples_per_s = 0;
  EvalResult last_eval;
  bool evaluated_at_end = false;

  while (step < end_step) {
    if (stop && stop->load()) {
      summary.stopped_early = true;
      break;
    }
    const double lr = s.schedule->at(step);
    for (auto& group : s.optimizer->param_groups()) group.options().set_lr(lr);

    Batch b = stream.batch(step);
    s.flat->zero_grad();
    at::Tensor logits = s.model->forward(b.inputs);
    at::Tensor loss = torch::nn::functional::cross_entropy(logits, b.targets);
    loss.backward();
    const double loss_v = loss.item<double>();
    if (!std::isfinite(loss_v)) {
      // No checkpoint here: the last one written holds finite parameters.
      throw std::runtime_error("loss became " + std::to_string(loss_v) + " at step " + std::to_string(step) +
                               " (lr " + std::to_string(lr) + "); lower optimizer.lr or add warm-up");
    }
    s.optimizer->step();
    {
      torch::NoGradGuard ng;
      window.correct += logits.argmax(1).eq(b.targets).sum().item<int64_t>();
    }
    window.loss_sum += loss_v;
    window.samples += b.targets.size(0);
    window.steps += 1;
    ++step;

    const int64_t epoch = (step - 1) / s.steps_per_epoch + 1;
    const bool log_step = step % cfg.train.log_every == 0 || step == s.total_steps;
    const double done_s = elapsed(t0);
    const double rate = static_cast<double>(step - start_step) * static_cast<double>(cfg.train.batch_size) / done_s;
    if (log_step) {
      const double window_s = elapsed(window_t0);
      last_samples_per_s = static_cast<double>(window.samples) / std::max(window_s, 1e-9);
      metrics.write("train", step,
                    {{"epoch", static_cast<double>(epoch)},
                     {"loss", window.loss_sum / static_cast<double>(window.steps)},
                     {"accuracy", static_cast<double>(window.correct) / static_cast<double>(window.samples)},
                     {"lr", lr},
                     {"samples_per_s", last_samples_per_s},
                     {"wall_s", prior_wall_s + done_s}});
    }
    ProgressState ps;
    ps.epoch = epoch;
    ps.epochs = cfg.train.epochs;
    ps.step = step;
    ps.total_steps = s.total_steps;
    ps.loss = window.loss_sum / static_cast<double>(std::max<int64_t>(1, window.steps));
    ps.accuracy = static_cast<double>(window.correct) / static_cast<double>(std::max<int64_t>(1, window.samples));
    ps.samples_per_s = rate;
    ps.eta_s = static_cast<double>(end_step - step) * static_cast<double>(cfg.train.batch_size) / std::max(rate, 1e-9);
    progress.update(ps, log_step);
    if (log_step) {
      window = Window{};
      window_t0 = std::chrono::steady_clock::now();
    }

    if (step % s.steps_per_epoch == 0 || step == s.total_steps) {
      last_eval = evaluate(*s.model, s.test, cfg.train.eval_batch_size);
      evaluated_at_end = true;
      metrics.write("eval", step,
                    {{"epoch", static_cast<double>(epoch)},
                     {"test_loss", last_eval.loss},
                     {"test_accuracy", last_eval.accuracy},
                     {"wall_s", prior_wall_s + elapsed(t0)}});
      char buf[160];
      std::snprintf(buf, sizeof buf, "epoch %lld: test accuracy %.2f%%, test loss %.4f",
                    static_cast<long long>(epoch), 100.0 * last_eval.accuracy, last_eval.loss);
      progress.message(buf);
    } else {
      evaluated_at_end = false;
    }
    if (step % ckpt_every == 0 || step == end_step) save(prior_wall_s + elapsed(t0));
  }
  progress.finish_line();
  if (step < s.total_steps) {
    summary.stopped_early = true;
    save(prior_wall_s + elapsed(t0));
  }
  if (!evaluated_at_end) last_eval = evaluate(*s.model, s.test, cfg.train.eval_batch_size);

  summary.steps = step;
  summary.test_accuracy = last_eval.accuracy;
  summary.test_loss = last_eval.loss;
  summary.wall_s = elapsed(t0);
  summary.samples_per_s = static_cast<double>(step - start_step) * static_cast<double>(cfg.train.batch_size) /
                          std::max(summary.wall_s, 1e-9);
  summary.metrics_path = metrics_path;
  summary.checkpoint_path = ckpt_path;
  return summary;
}

}  // namespace gossamer::train
