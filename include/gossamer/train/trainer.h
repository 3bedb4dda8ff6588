// One worker's training loop: batches -> forward/backward -> optimizer step, with a learning-rate
// schedule, periodic metrics (JSON lines), evaluation, atomic checkpoints and exact resume.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "gossamer/config/config.h"
#include "gossamer/data/dataset.h"

namespace gossamer::train {

struct RunSummary {
  int64_t steps = 0;           // completed optimizer steps
  int64_t total_steps = 0;     // planned
  double test_accuracy = 0;    // in [0, 1], at the end
  double test_loss = 0;
  double wall_s = 0;           // this invocation's training time (evaluation included)
  double samples_per_s = 0;    // training samples per second, this invocation
  bool stopped_early = false;  // interrupted or train.max_steps reached
  std::string metrics_path, checkpoint_path;
};

class Trainer {
 public:
  // `train` is this worker's shard; `test` is evaluated at the end of every epoch. Results go to
  // `out_dir` (created): metrics.jsonl, checkpoint.pt, config.toml.
  Trainer(const config::Config& config, data::Dataset train, const data::Dataset& test, std::string out_dir);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // Trains until the planned number of steps, train.max_steps, or until *stop becomes true (then
  // it finishes the current step and writes a checkpoint). With resume = true it continues from
  // out_dir/checkpoint.pt, producing the same metrics the uninterrupted run would have.
  RunSummary run(bool resume, const std::atomic<bool>* stop = nullptr);

  int64_t steps_per_epoch() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// Sets LibTorch's intra-op threads (0 = every core); returns the number set.
int configure_threads(int64_t requested);

}  // namespace gossamer::train
