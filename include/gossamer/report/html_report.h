// `gossamer report`'s page: one self-contained HTML file with the runs' curves, communication,
// per-layer sparsity, topology, kernel choices and configuration, several runs overlaid. The page
// is the template src/report/assets/report.html.in (embedded in the library at build time) with
// the runs' data as JSON and Chart.js, read from Debian's libjs-chart.js package, inlined.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "gossamer/report/run_data.h"

namespace gossamer::report {

// Where Debian's libjs-chart.js (Chart.js 3.9.1) puts its self-contained (UMD) build.
inline constexpr const char* kChartJsPath = "/usr/share/javascript/chart.js/chart.min.js";
inline constexpr const char* kChartJsPackage = "libjs-chart.js";

// The plotting library is not where it was looked for, or cannot be inlined (gossamer report
// exits 3, as for a missing data set).
class MissingLibraryError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The report cannot be written where asked (gossamer report exits 2: choose another -o).
class OutputError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// The library's source. Throws MissingLibraryError naming the file and the package to install.
std::string read_chart_js(const std::string& path = kChartJsPath);

struct ReportOptions {
  std::string title;     // "" = "Gossamer report: " and the runs' folder names
  std::string chart_js;  // the plotting library's source (read_chart_js), inlined as is
};

// The page for `runs` (at least one; std::invalid_argument for none).
std::string render_report(const std::vector<RunData>& runs, const ReportOptions& options);

// Writes `html` to `path` atomically (a reader never sees half a page). Throws OutputError naming
// the path and the reason. Returns the bytes written.
int64_t write_report(const std::string& path, const std::string& html);

}  // namespace gossamer::report
