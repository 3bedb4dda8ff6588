#include "gossamer/train/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace gossamer::train {

LrSchedule::LrSchedule(LrScheduleSpec spec) : spec_(std::move(spec)) {
  if (spec_.name != "constant" && spec_.name != "step" && spec_.name != "cosine") {
    throw std::invalid_argument("unknown learning-rate schedule '" + spec_.name + "': use constant, step or cosine");
  }
  if (!(spec_.base_lr > 0)) throw std::invalid_argument("learning rate must be > 0");
  if (spec_.warmup_steps < 0 || spec_.total_steps < 1 || spec_.step_every < 1) {
    throw std::invalid_argument("schedule: warmup_steps >= 0, total_steps >= 1 and step_every >= 1 are required");
  }
}

double LrSchedule::at(int64_t step) const {
  if (step < spec_.warmup_steps) {
    return spec_.base_lr * static_cast<double>(step + 1) / static_cast<double>(spec_.warmup_steps);
  }
  if (spec_.name == "step") {
    return spec_.base_lr * std::pow(spec_.gamma, static_cast<double>((step - spec_.warmup_steps) / spec_.step_every));
  }
  if (spec_.name == "cosine") {
    const double span = static_cast<double>(std::max<int64_t>(1, spec_.total_steps - spec_.warmup_steps));
    const double t = std::min(1.0, static_cast<double>(step - spec_.warmup_steps) / span);
    return spec_.min_lr + 0.5 * (spec_.base_lr - spec_.min_lr) * (1.0 + std::cos(M_PI * t));
  }
  return spec_.base_lr;
}

}  // namespace gossamer::train
