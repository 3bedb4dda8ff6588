// `gossamer report RUN_DIR [RUN_DIR ...] [-o FILE]`: one self-contained HTML page of one or more
// runs (report/html_report.h), the runs overlaid and told apart by the config keys they differ in.
//
// Exit statuses (errors.h maps the report layer's errors): 2 a RUN_DIR that is not a run's output folder, or an -o that cannot
// be written; 3 a run's files that cannot be read (a garbled metrics.jsonl line, named with its
// line number) or the plotting library missing (Debian's libjs-chart.js); 1 anything else.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "commands.h"
#include "errors.h"
#include "gossamer/report/html_report.h"
#include "gossamer/report/run_data.h"

namespace gossamer::cli {

namespace {

struct ReportArgs {
  std::vector<std::string> run_dirs;
  std::string output, title, chart_js = report::kChartJsPath;
};

int run_report(const ReportArgs& a) {
  if (a.run_dirs.empty()) throw report::NotARunError("give at least one RUN_DIR (a run's output.dir)");
  // The library first: a missing package should not wait for the runs to be read.
  report::ReportOptions options;
  options.chart_js = report::read_chart_js(a.chart_js);
  options.title = a.title;
  std::vector<report::RunData> runs;
  for (const auto& dir : a.run_dirs) runs.push_back(report::read_run(dir));
  const std::string output =
      a.output.empty() ? (std::filesystem::path(a.run_dirs.front()) / "report.html").string() : a.output;
  const int64_t bytes = report::write_report(output, report::render_report(runs, options));
  std::printf("gossamer report: wrote %s (%.1f kB) for %zu run%s\n", output.c_str(), static_cast<double>(bytes) / 1e3,
              runs.size(), runs.size() == 1 ? "" : "s");
  const std::vector<std::string> labels = report::run_labels(runs);
  for (size_t i = 0; i < runs.size(); ++i) {
    std::printf("run              %s  (%s; %zu train and %zu eval lines)\n", labels[i].c_str(), runs[i].dir.c_str(),
                runs[i].train.size(), runs[i].eval.size());
    for (const auto& note : runs[i].notes) std::printf("  note           %s\n", note.c_str());
  }
  return 0;
}

}  // namespace

void add_report_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<ReportArgs>();
  auto* cmd = app.add_subcommand("report",
                                 "Write one self-contained HTML page of one or more runs: curves, communication, "
                                 "sparsity, topology, kernels and configuration");
  cmd->add_option("run_dirs", args->run_dirs, "runs' output folders (output.dir, holding metrics.jsonl)")
      ->type_name("RUN_DIR");
  cmd->add_option("-o,--output", args->output, "the HTML file to write")
      ->type_name("FILE")
      ->default_str("RUN_DIR/report.html of the first run");
  cmd->add_option("--title", args->title, "the page's title")->default_str("Gossamer report: the runs' folder names");
  cmd->add_option("--chart-js", args->chart_js, "Chart.js 3 UMD build to inline (Debian's libjs-chart.js)")
      ->type_name("FILE");
  cmd->callback([args, &exit_code] {
    exit_code = run_reported("report", [&] { return run_report(*args); });
  });
}

}  // namespace gossamer::cli
