#include "gossamer/train/metrics_log.h"

#include <nlohmann/json.hpp>

#include <sstream>
#include <stdexcept>
#include <vector>

#include "gossamer/util/atomic_file.h"

namespace gossamer::train {

MetricsLog::MetricsLog(std::string path, int64_t keep_up_to_step) : path_(std::move(path)) {
  if (keep_up_to_step >= 0) {
    std::ifstream in(path_);
    std::ostringstream kept;
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded() || !j.contains("step")) continue;  // a torn last line from a crash
      if (j.value("at_stop", 0.0) != 0.0) continue;
      if (j["step"].get<int64_t>() <= keep_up_to_step) kept << line << "\n";
    }
    util::write_text_atomically(path_, kept.str());
  }
  out_.open(path_, std::ios::app);
  if (!out_) throw std::runtime_error("cannot open metrics file " + path_ + " for writing");
}

void MetricsLog::write(const std::string& event, int64_t step, const std::map<std::string, double>& fields) {
  nlohmann::ordered_json j;
  j["event"] = event;
  j["step"] = step;
  for (const auto& [k, v] : fields) j[k] = v;
  out_ << j.dump() << "\n";
  out_.flush();
}

void MetricsLog::write_run(const std::map<std::string, std::string>& about) {
  nlohmann::ordered_json j;
  j["event"] = "run";
  j["step"] = 0;
  for (const auto& [k, v] : about) j[k] = v;
  out_ << j.dump() << "\n";
  out_.flush();
}

void MetricsLog::write_list(const std::string& event, int64_t step, const std::map<std::string, double>& fields,
                            const std::string& list_key, const std::vector<std::string>& items) {
  nlohmann::ordered_json j;
  j["event"] = event;
  j["step"] = step;
  for (const auto& [k, v] : fields) j[k] = v;
  j[list_key] = items;
  out_ << j.dump() << "\n";
  out_.flush();
}

}  // namespace gossamer::train
