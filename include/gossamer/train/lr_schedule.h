// Learning-rate schedules as pure functions of the step, so a resumed run gets the same rates.
#pragma once

#include <cstdint>
#include <string>

namespace gossamer::train {

struct LrScheduleSpec {
  std::string name = "constant";  // constant | step | cosine
  double base_lr = 0.1;
  int64_t warmup_steps = 0;       // linear from base_lr/warmup_steps up to base_lr
  int64_t total_steps = 1;        // cosine decays over [warmup_steps, total_steps)
  int64_t step_every = 1;         // step: multiply by gamma every step_every steps
  double gamma = 0.1;
  double min_lr = 0.0;
};

class LrSchedule {
 public:
  explicit LrSchedule(LrScheduleSpec spec);  // throws std::invalid_argument on bad values
  double at(int64_t step) const;             // step counts from 0

 private:
  LrScheduleSpec spec_;
};

}  // namespace gossamer::train
