// Metrics as JSON lines: one object per log step (and one per evaluation) in DIR/metrics.jsonl.
#pragma once

#include <cstdint>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace gossamer::train {

class MetricsLog {
 public:
  // Opens `path` for appending. If `keep_up_to_step` >= 0 (a resume), lines with a larger "step"
  // are dropped first, and so are evaluations made only because a run stopped there ("at_stop"),
  // so the file continues exactly as an uninterrupted run's would.
  MetricsLog(std::string path, int64_t keep_up_to_step = -1);

  // Writes {"event": event, "step": step, <fields...>} as one line and flushes.
  void write(const std::string& event, int64_t step, const std::map<std::string, double>& fields);
  // Writes {"event": "run", "step": 0, <about...>}: what produced the file (algorithm, topology, ...).
  void write_run(const std::map<std::string, std::string>& about);
  // Writes {"event": event, "step": step, <fields...>, list_key: [items...]}: an event whose
  // payload is text, such as the kernel choices ("kernels", list_key "decisions").
  void write_list(const std::string& event, int64_t step, const std::map<std::string, double>& fields,
                  const std::string& list_key, const std::vector<std::string>& items);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ofstream out_;
};

}  // namespace gossamer::train
