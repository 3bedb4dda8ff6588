// The live progress line of a training run: rewritten in place on a terminal, plain periodic
// lines otherwise (logs, CI), or nothing.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace gossamer::train {

enum class ProgressMode { Auto, Bar, Lines, Off };
ProgressMode parse_progress_mode(const std::string& name);  // auto | bar | lines | off

struct ProgressState {
  int64_t epoch = 0, epochs = 0;     // 1-based epoch for display
  int64_t step = 0, total_steps = 0;  // total_steps: where this invocation stops
  std::string stop_reason;           // why total_steps is not the planned end (e.g. "train.max_steps"); empty if it is
  // The last logged window (train.log_every steps): the workers' mean loss and accuracy and the
  // samples/s of all workers together, the same numbers as metrics.jsonl's last "train" line. NaN
  // before the first log step.
  double loss = 0, accuracy = 0;     // accuracy in [0, 1]
  double samples_per_s = 0;
  double eta_s = 0;                  // to total_steps
};

class Progress {
 public:
  explicit Progress(ProgressMode mode);
  // Called every step; a terminal line is redrawn at most ~8 times a second. `log_step` marks the
  // steps at which Lines mode prints.
  void update(const ProgressState& s, bool log_step);
  // Ends the current terminal line (before other output such as an evaluation result).
  void finish_line();
  // Prints a message on its own line (keeps the bar tidy).
  void message(const std::string& text);
  static std::string format(const ProgressState& s);

 private:
  ProgressMode mode_;
  bool line_open_ = false;
  std::chrono::steady_clock::time_point last_draw_{};
};

std::string format_duration(double seconds);  // "1h02m03s", "4m05s", "12.3s", "8.5ms"

}  // namespace gossamer::train
