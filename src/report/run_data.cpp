#include "gossamer/report/run_data.h"

#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace gossamer::report {

namespace {

namespace fs = std::filesystem;

// The shortest text that reads back as the same double: 0.1 stays "0.1" (not 0.10000000000000001)
// and 100.0 "100" (not 1e+02).
std::string shortest_double(double v) {
  char buf[40];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

// A config value as a legend shows it: strings bare, arrays as [300, 100].
std::string value_text(const toml::node& node) {
  if (const auto* s = node.as_string()) return s->get();
  if (const auto* d = node.as_floating_point()) return shortest_double(d->get());
  if (const auto* i = node.as_integer()) return std::to_string(i->get());
  if (const auto* b = node.as_boolean()) return b->get() ? "true" : "false";
  if (const auto* a = node.as_array()) {
    std::string out = "[";
    for (size_t k = 0; k < a->size(); ++k) out += (k ? ", " : "") + value_text(*a->get(k));
    return out + "]";
  }
  std::ostringstream os;  // dates, times, inline tables: TOML's own spelling
  if (const auto* t = node.as_table()) os << *t;
  else os << node.type();
  return os.str();
}

void flatten(const toml::table& table, const std::string& prefix, std::map<std::string, std::string>& out) {
  for (const auto& [key, node] : table) {
    const std::string name = prefix + std::string(key.str());
    if (const auto* t = node.as_table()) flatten(*t, name + ".", out);
    else out[name] = value_text(node);
  }
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

// "metrics.jsonl:7: " for messages.
std::string at_line(const std::string& path, size_t line) { return path + ":" + std::to_string(line) + ": "; }

MetricsRow numeric_fields(const nlohmann::json& j) {
  MetricsRow row;
  for (const auto& [k, v] : j.items()) {
    if (v.is_number()) row[k] = v.get<double>();
  }
  return row;
}

void read_metrics(const std::string& path, RunData& run) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw NotARunError(path + " cannot be opened for reading; check its permissions");
  std::string line;
  size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) {
      throw RunDataError(at_line(path, number) + "empty line; every line of metrics.jsonl is one JSON object "
                                                 "(delete the line to report the rest)");
    }
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
      const std::string shown = line.size() > 60 ? line.substr(0, 60) + "..." : line;
      throw RunDataError(at_line(path, number) + "not JSON: '" + shown +
                         "' (truncated or garbled; a run killed while writing can leave such a last line: "
                         "delete it to report the rest)");
    }
    if (!j.is_object()) throw RunDataError(at_line(path, number) + "not a JSON object: " + j.dump());
    if (!j.contains("event") || !j["event"].is_string()) {
      throw RunDataError(at_line(path, number) + "no \"event\" (run, train, eval or kernels); not a gossamer metrics line");
    }
    const std::string event = j["event"].get<std::string>();
    const bool plotted = event == "train" || event == "eval" || event == "kernels";
    if (plotted && !(j.contains("step") && j["step"].is_number())) {
      throw RunDataError(at_line(path, number) + "a \"" + event + "\" line without a numeric \"step\"");
    }
    if (event == "run") {
      for (const auto& [k, v] : j.items()) {
        if (k != "event" && k != "step") run.about[k] = v.is_string() ? v.get<std::string>() : v.dump();
      }
    } else if (event == "train") {
      run.train.push_back(numeric_fields(j));
    } else if (event == "eval") {
      run.eval.push_back(numeric_fields(j));
    } else if (event == "kernels") {
      if (!j.contains("decisions") || !j["decisions"].is_array()) {
        throw RunDataError(at_line(path, number) + "a \"kernels\" line without a \"decisions\" list");
      }
      run.kernel_decisions.clear();
      for (const auto& d : j["decisions"]) run.kernel_decisions.push_back(d.is_string() ? d.get<std::string>() : d.dump());
      run.kernels_step = j["step"].get<int64_t>();
    }
    // Other events (from later versions) are not plotted.
  }
  if (number == 0) {
    throw RunDataError(path + " is empty: the run wrote no line (did it start? `gossamer train` writes the first "
                              "line before its first step)");
  }
}

}  // namespace

RunData read_run(const std::string& dir) {
  RunData run;
  run.dir = dir;
  const fs::path folder(dir);
  std::error_code ec;
  if (!fs::exists(folder, ec)) {
    throw NotARunError("run folder '" + dir + "' does not exist; give the output.dir of a run of `gossamer train`");
  }
  if (!fs::is_directory(folder, ec)) {
    throw NotARunError("'" + dir + "' is not a folder; give a run's output.dir (the folder holding metrics.jsonl)");
  }
  run.name = fs::weakly_canonical(folder, ec).filename().string();
  if (run.name.empty()) run.name = dir;
  const fs::path metrics = folder / "metrics.jsonl";
  if (!fs::exists(metrics, ec)) {
    throw NotARunError("'" + dir + "' holds no metrics.jsonl, so it is not a run's output.dir (has the run started? "
                       "`gossamer train` writes it there)");
  }
  read_metrics(metrics.string(), run);
  if (run.about.empty()) run.notes.push_back("metrics.jsonl has no \"run\" line (a run from an older gossamer)");

  const fs::path config = folder / "config.toml";
  if (fs::exists(config, ec)) {
    run.config_toml = read_file(config);
    try {
      flatten(toml::parse(run.config_toml, config.string()), "", run.config);
    } catch (const toml::parse_error& e) {
      std::ostringstream os;
      os << config.string() << ":" << e.source().begin.line << ": not TOML: " << e.description()
         << " (the run writes this file whole; was it edited?)";
      throw RunDataError(os.str());
    }
  } else {
    run.notes.push_back("no config.toml: the configuration and the topology are unknown");
  }
  return run;
}

std::vector<std::string> differing_keys(const std::vector<RunData>& runs) {
  std::set<std::string> keys;
  for (const auto& r : runs)
    for (const auto& [k, v] : r.config) keys.insert(k);
  std::vector<std::string> out;
  for (const auto& k : keys) {
    if (k.rfind("output.", 0) == 0) continue;
    std::set<std::string> values;
    bool missing = false;
    for (const auto& r : runs) {
      const auto it = r.config.find(k);
      if (it == r.config.end()) missing = true;
      else values.insert(it->second);
    }
    if (values.size() + (missing ? 1 : 0) > 1) out.push_back(k);
  }
  return out;
}

std::vector<std::string> run_labels(const std::vector<RunData>& runs) {
  const std::vector<std::string> keys = differing_keys(runs);
  std::vector<std::string> labels;
  for (const auto& r : runs) {
    std::string label;
    size_t shown = 0;
    for (const auto& k : keys) {
      if (shown == kMaxLabelKeys) {
        label += ", +" + std::to_string(keys.size() - shown) + " more";
        break;
      }
      const auto it = r.config.find(k);
      label += (label.empty() ? "" : ", ") + k + "=" + (it == r.config.end() ? std::string("(unset)") : it->second);
      ++shown;
    }
    labels.push_back(label);
  }
  // Keys cannot tell the runs apart (one run, equal configs, or differences beyond the first
  // kMaxLabelKeys): the folders' names, or the folders as given when those are equal too.
  const auto distinct = [](const std::vector<std::string>& v) { return std::set<std::string>(v.begin(), v.end()).size() == v.size(); };
  if (keys.empty() || !distinct(labels)) {
    std::vector<std::string> names, dirs;
    for (const auto& r : runs) {
      names.push_back(r.name);
      dirs.push_back(r.dir);
    }
    labels = distinct(names) ? names : dirs;
  }
  return labels;
}

}  // namespace gossamer::report
