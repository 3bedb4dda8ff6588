#include "gossamer/train/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace gossamer::train {

ProgressMode parse_progress_mode(const std::string& name) {
  if (name == "auto") return ProgressMode::Auto;
  if (name == "bar") return ProgressMode::Bar;
  if (name == "lines") return ProgressMode::Lines;
  if (name == "off") return ProgressMode::Off;
  throw std::invalid_argument("unknown progress mode '" + name + "': use auto, bar, lines or off");
}

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  char buf[32];
  if (s < 1) std::snprintf(buf, sizeof buf, "%.1fms", s * 1e3);
  else if (s < 60) std::snprintf(buf, sizeof buf, "%.1fs", s);
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
  else std::snprintf(buf, sizeof buf, "%dh%02dm%02ds", static_cast<int>(s) / 3600, (static_cast<int>(s) / 60) % 60,
                     static_cast<int>(s) % 60);
  return buf;
}

Progress::Progress(ProgressMode mode) : mode_(mode) {
  if (mode_ == ProgressMode::Auto) mode_ = ::isatty(STDOUT_FILENO) ? ProgressMode::Bar : ProgressMode::Lines;
}

std::string Progress::format(const ProgressState& s) {
  char buf[320];
  const std::string target = std::to_string(s.total_steps) + (s.stop_reason.empty() ? "" : " (" + s.stop_reason + ")");
  if (std::isnan(s.loss)) {
    std::snprintf(buf, sizeof buf, "epoch %lld/%lld  step %lld/%s  ETA %s", static_cast<long long>(s.epoch),
                  static_cast<long long>(s.epochs), static_cast<long long>(s.step), target.c_str(),
                  format_duration(s.eta_s).c_str());
  } else {
    std::snprintf(buf, sizeof buf, "epoch %lld/%lld  step %lld/%s  loss %.4f  acc %.2f%%  %.0f samples/s  ETA %s",
                  static_cast<long long>(s.epoch), static_cast<long long>(s.epochs), static_cast<long long>(s.step),
                  target.c_str(), s.loss, 100.0 * s.accuracy, s.samples_per_s, format_duration(s.eta_s).c_str());
  }
  return buf;
}

void Progress::update(const ProgressState& s, bool log_step) {
  if (mode_ == ProgressMode::Off) return;
  if (mode_ == ProgressMode::Lines) {
    if (log_step) std::printf("%s\n", format(s).c_str()), std::fflush(stdout);
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(125) && s.step != s.total_steps) return;
  last_draw_ = now;
  std::printf("\r\033[K%s", format(s).c_str());
  std::fflush(stdout);
  line_open_ = true;
}

void Progress::finish_line() {
  if (line_open_) std::printf("\n"), std::fflush(stdout);
  line_open_ = false;
}

void Progress::message(const std::string& text) {
  if (mode_ == ProgressMode::Off) return;
  finish_line();
  std::printf("%s\n", text.c_str());
  std::fflush(stdout);
}

}  // namespace gossamer::train
