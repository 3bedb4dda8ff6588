#include "gossamer/report/html_report.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "gossamer/report/report_template.h"  // generated: kReportTemplate (cmake/ReportTemplate.cmake)
#include "gossamer/report/topology_drawing.h"
#include "gossamer/util/atomic_file.h"

namespace gossamer::report {

namespace {

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// JSON that can sit inside <script>: every '<' (which JSON allows only inside strings) written as
// \u003c, so no "</script>" or "<!--" in a folder name or an SVG can end the element early.
std::string script_safe_json(const nlohmann::json& j) {
  const std::string text = j.dump(-1, ' ', /*ensure_ascii=*/true, nlohmann::json::error_handler_t::replace);
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '<') out += "\\u003c";
    else out += c;
  }
  return out;
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
  return buf;
}

nlohmann::json rows_json(const std::vector<MetricsRow>& rows) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : rows) out.push_back(nlohmann::json(r));
  return out;
}

nlohmann::json page_data(const std::vector<RunData>& runs) {
  const std::vector<std::string> labels = run_labels(runs);
  nlohmann::json j;
  j["version"] = GOSSAMER_VERSION;
  j["generated"] = utc_now();
  j["differing"] = differing_keys(runs);
  j["runs"] = nlohmann::json::array();
  for (size_t i = 0; i < runs.size(); ++i) {
    const RunData& r = runs[i];
    const TopologyDrawing topo = draw_topology(r);
    nlohmann::json run{{"label", labels[i]},
                       {"dir", r.dir},
                       {"name", r.name},
                       {"about", r.about},
                       {"train", rows_json(r.train)},
                       {"eval", rows_json(r.eval)},
                       {"config", r.config},
                       {"notes", r.notes},
                       {"topology", {{"svg", topo.svg}, {"summary", topo.summary}, {"note", topo.note}}}};
    run["kernels"] = r.kernels_step < 0 ? nlohmann::json(nullptr)
                                        : nlohmann::json{{"step", r.kernels_step}, {"decisions", r.kernel_decisions}};
    j["runs"].push_back(run);
  }
  return j;
}

std::string default_title(const std::vector<RunData>& runs) {
  std::string names;
  for (const auto& r : runs) names += (names.empty() ? "" : ", ") + r.name;
  if (names.size() > 80) names = names.substr(0, 77) + "...";
  return "Gossamer report: " + names;
}

// The template with each {{gossamer:NAME}} replaced, in one pass (a value is never rescanned, so
// the inlined library may contain anything).
std::string fill(const std::string& tmpl, const std::map<std::string, std::string>& values) {
  const std::string open = "{{gossamer:", close = "}}";
  std::string out;
  size_t at = 0;
  for (;;) {
    const size_t start = tmpl.find(open, at);
    if (start == std::string::npos) break;
    const size_t end = tmpl.find(close, start);
    const std::string name = tmpl.substr(start + open.size(), end - start - open.size());
    const auto it = values.find(name);
    if (end == std::string::npos || it == values.end()) {
      throw std::logic_error("report template: unknown slot '{{gossamer:" + name + "}}' (src/report/assets/report.html.in)");
    }
    out.append(tmpl, at, start - at);
    out += it->second;
    at = end + close.size();
  }
  out.append(tmpl, at, std::string::npos);
  return out;
}

}  // namespace

std::string read_chart_js(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw MissingLibraryError("the plotting library " + path + " is missing: install Debian's " +
                              std::string(kChartJsPackage) + " package (apt-get install " + kChartJsPackage +
                              ", or scripts/install_deps.sh), or give its chart.min.js with --chart-js FILE");
  }
  std::ostringstream os;
  os << in.rdbuf();
  std::string text = os.str();
  if (text.find("Chart") == std::string::npos) {
    throw MissingLibraryError(path + " does not look like Chart.js (no 'Chart' in it); give the UMD build "
                                     "chart.min.js of " + std::string(kChartJsPackage) + " with --chart-js FILE");
  }
  const std::string l = lower(text);
  if (l.find("</script") != std::string::npos || l.find("<!--") != std::string::npos) {
    throw MissingLibraryError(path + " contains '</script' or '<!--', so it cannot be inlined in a <script> element; "
                                     "give the chart.min.js of " + std::string(kChartJsPackage) + " with --chart-js FILE");
  }
  return text;
}

std::string render_report(const std::vector<RunData>& runs, const ReportOptions& options) {
  if (runs.empty()) throw std::invalid_argument("render_report: no runs");
  const std::string title = options.title.empty() ? default_title(runs) : options.title;
  return fill(kReportTemplate, {{"version", html_escape(GOSSAMER_VERSION)},
                                {"title", html_escape(title)},
                                {"chart_js", options.chart_js},
                                {"data", script_safe_json(page_data(runs))}});
}

int64_t write_report(const std::string& path, const std::string& html) {
  const std::filesystem::path p(path);
  std::error_code ec;
  if (std::filesystem::is_directory(p, ec)) {
    throw OutputError("cannot write the report to '" + path + "': it is a folder; give a file name, e.g. -o " +
                      (p / "report.html").string());
  }
  const std::filesystem::path parent = p.has_parent_path() ? p.parent_path() : std::filesystem::path(".");
  if (!std::filesystem::is_directory(parent, ec)) {
    throw OutputError("cannot write the report to '" + path + "': the folder '" + parent.string() +
                      "' does not exist; create it or choose another -o FILE");
  }
  try {
    util::write_text_atomically(path, html);
  } catch (const std::exception& e) {
    throw OutputError("cannot write the report to '" + path + "' (" + e.what() +
                      "); check the folder's permissions or choose another -o FILE");
  }
  return static_cast<int64_t>(std::filesystem::file_size(p, ec));
}

}  // namespace gossamer::report
