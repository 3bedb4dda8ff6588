// `gossamer report` end to end: two runs overlaid with the differing key as the legend, each
// error with its message and exit status, and the page rendered in headless Chromium (the report
// of hand-written runs and of a real tiny run): no script error, and every plot actually drawn.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "cli_runner.h"
#include "report_fixture.h"
#include "test_paths.h"

namespace report_command_test {

namespace fs = std::filesystem;
using gossamer::testing::FixtureRun;
using gossamer::testing::read_text;
using gossamer::testing::run_gossamer;
using gossamer::testing::run_shell;
using gossamer::testing::ToolResult;
using gossamer::testing::write_fixture_run;
using gossamer::testing::write_text;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kChartJs = "/usr/share/javascript/chart.js/chart.min.js";

std::string quoted(const std::string& s) { return "'" + s + "'"; }

// What the browser saw: errors and what was drawn, written into the DOM by the probe below.
struct PageCheck {
  bool loaded = false;
  std::string raw;  // the probe's JSON, or Chromium's output when there is none
  nlohmann::json result;
};

// Opens `html` in headless Chromium with two scripts of the test's own added: before everything
// an error hook (window.onerror and unhandled rejections), after the page's scripts a probe that
// counts the Chart.js charts with at least `min_ink` pixels of their first line's colour inside
// their plotting area (so a chart that was created but drew nothing does not count), the "no data" boxes, the topology
// drawings and their nodes, and writes that as JSON into the DOM that --dump-dom prints.
PageCheck render_in_chromium(const std::string& html_path, int min_ink = 10) {
  std::string html = read_text(html_path);
  const std::string hook =
      "<script>window.__errors=[];window.onerror=function(m,s,l){window.__errors.push(m+' at line '+l);};"
      "window.addEventListener('unhandledrejection',function(e){window.__errors.push('rejection: '+e.reason);});"
      "</script>";
  const std::string probe = R"(<script>
window.addEventListener('load', function () { setTimeout(function () {
  var out = {errors: window.__errors.concat(window.gossamerReportErrors || []), canvases: 0, drawn: 0, blank: [],
             nodata: document.querySelectorAll('[data-nodata]').length, svgs: 0, nodes: [], tables: 0};
  document.querySelectorAll('canvas').forEach(function (c) {
    out.canvases++;
    var chart = window.Chart && Chart.getChart(c);
    if (!chart) { out.blank.push('no chart'); return; }
    var hex = chart.data.datasets[0].borderColor, want = [1, 3, 5].map(function (i) { return parseInt(hex.substr(i, 2), 16); });
    // Only inside the plotting area: the legend's colour boxes are not a drawn line.
    var a = chart.chartArea, k = chart.currentDevicePixelRatio || 1;
    var px = c.getContext('2d').getImageData(Math.ceil(a.left * k) + 1, Math.ceil(a.top * k), Math.floor((a.right - a.left) * k) - 1,
                                             Math.floor((a.bottom - a.top) * k)).data, ink = 0;
    for (var i = 0; i < px.length; i += 4) {
      if (px[i + 3] > 200 && Math.abs(px[i] - want[0]) + Math.abs(px[i + 1] - want[1]) + Math.abs(px[i + 2] - want[2]) < 60) ink++;
    }
    if (ink >= )" + std::to_string(min_ink) + R"() out.drawn++; else out.blank.push(c.closest('.card').querySelector('h3').textContent + ': ' + ink);
  });
  document.querySelectorAll('svg.topology').forEach(function (s) { out.svgs++; out.nodes.push(s.querySelectorAll('circle.node').length); });
  out.tables = document.querySelectorAll('#kernels table').length;
  var pre = document.createElement('pre'); pre.id = 'probe'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}, 100); });
</script>)";
  const size_t head = html.find("<head>");
  const size_t body_end = html.rfind("</body>");
  if (head == std::string::npos || body_end == std::string::npos) return {false, "no <head> or </body> in the page", {}};
  html.insert(body_end, probe);
  html.insert(head + 6, hook);
  const std::string probed = html_path + ".probed.html";
  write_text(probed, html);
  const std::string profile = html_path + ".chromium-profile";
  const ToolResult r = run_shell("timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage "
                                 "--window-size=1400,1000 --virtual-time-budget=5000 --user-data-dir=" +
                                 quoted(profile) + " --dump-dom " + quoted("file://" + probed) + " 2>/dev/null");
  fs::remove_all(profile);
  PageCheck check;
  std::smatch m;
  if (r.status != 0 || !std::regex_search(r.out, m, std::regex("<pre id=\"probe\">([^<]*)</pre>"))) {
    check.raw = "chromium exit status " + std::to_string(r.status) + ", output:\n" + r.out.substr(0, 2000);
    return check;
  }
  std::string json = m[1].str();
  for (const auto& [entity, ch] : {std::pair<std::string, std::string>{"&quot;", "\""}, {"&lt;", "<"}, {"&gt;", ">"}, {"&amp;", "&"}}) {
    for (size_t at; (at = json.find(entity)) != std::string::npos;) json.replace(at, entity.size(), ch);
  }
  check.raw = json;
  check.result = nlohmann::json::parse(json, nullptr, false);
  check.loaded = !check.result.is_discarded();
  return check;
}

#define REPORT_REQUIRE_TOOL()                                                                           \
  do {                                                                                                  \
    if (!gossamer::testing::tool_built()) GTEST_SKIP() << gossamer::testing::tool_path() << " not built"; \
  } while (0)
#define REPORT_REQUIRE_CHROMIUM()                                                                       \
  do {                                                                                                  \
    if (run_shell("command -v chromium").status != 0) {                                                 \
      GTEST_SKIP() << "SKIPPED LOUDLY: chromium is not installed, so the report was not rendered in a " \
                      "browser; install it (scripts/install_deps.sh) to run this test";                 \
    }                                                                                                   \
    if (!fs::exists(kChartJs)) GTEST_SKIP() << kChartJs << " missing: install libjs-chart.js";          \
  } while (0)

class ReportCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    REPORT_REQUIRE_TOOL();
    root_ = fs::temp_directory_path() /
            ("gossamer_report_cmd_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) +
             "_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override {
    if (!root_.empty()) fs::remove_all(root_);
  }
  std::string dir(const std::string& name) const { return (root_ / name).string(); }
  // Runs A (lr 0.05) and B (lr 0.1), 4 gossiping workers, sparse; C one dense worker of an older
  // gossamer (no run line, no config.toml).
  void write_three_runs() {
    FixtureRun a, b, c;
    b.lr = 0.1;
    c.workers = 1;
    c.sparse = false;
    c.run_line = false;
    c.config = false;
    write_fixture_run(dir("A"), a);
    write_fixture_run(dir("B"), b);
    write_fixture_run(dir("C"), c);
  }
  fs::path root_;
};

TEST_F(ReportCommand, TwoRunsAreOverlaidWithTheDifferingKeyAsTheirLegend) {
  write_three_runs();
  const std::string out = dir("ab.html");
  const ToolResult r = run_gossamer("report " + dir("A") + " " + dir("B") + " -o " + out + " --title 'A & B'");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("gossamer report: wrote " + out + " ("));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("\\([0-9]+\\.[0-9] kB\\) for 2 runs"));
  EXPECT_THAT(r.out, HasSubstr("run              optimizer.lr=0.05  (" + dir("A") + "; 8 train and 2 eval lines)"));
  const std::string html = read_text(out);
  EXPECT_THAT(html, HasSubstr("<title>A &amp; B</title>"));
  EXPECT_THAT(html, HasSubstr("\"label\":\"optimizer.lr=0.05\""));
  EXPECT_THAT(html, HasSubstr("\"label\":\"optimizer.lr=0.1\""));
  EXPECT_THAT(html, HasSubstr("\"differing\":[\"optimizer.lr\"]"));
  EXPECT_THAT(html, HasSubstr("\"loss\":2.3,"));   // A's first train line
  EXPECT_THAT(html, HasSubstr("\"loss\":2.35,"));  // B's
  EXPECT_THAT(html, HasSubstr("\"sparsity/fc1.weight\":0.1125"));
  EXPECT_THAT(html, HasSubstr("fc2.weight b64 train: dense"));
  EXPECT_THAT(html, HasSubstr("\\u003csvg class=\\\"topology\\\""));  // '<' escaped inside the data
  // Self-contained: the library is inside, nothing is fetched.
  EXPECT_THAT(html, HasSubstr(" * Chart.js v3.9.1"));
  EXPECT_THAT(html, Not(HasSubstr("<script src")));
  EXPECT_THAT(html, Not(HasSubstr("<link")));
  EXPECT_EQ(static_cast<size_t>(fs::file_size(out)), html.size());
}

TEST_F(ReportCommand, WritesReportHtmlInTheFirstRunFolderByDefault) {
  write_three_runs();
  const ToolResult r = run_gossamer("report " + dir("C"));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("wrote " + dir("C") + "/report.html"));
  EXPECT_THAT(r.out, HasSubstr("note           no config.toml"));
  EXPECT_TRUE(fs::exists(dir("C") + "/report.html"));
}

TEST_F(ReportCommand, EachMistakeHasItsMessageAndExitStatus) {
  write_three_runs();
  struct Case {
    std::string args;
    int status;
    std::string message;
  };
  fs::create_directories(dir("not_a_run"));
  fs::create_directories(dir("empty"));
  write_text(dir("empty") + "/metrics.jsonl", "");
  fs::create_directories(dir("torn"));
  write_text(dir("torn") + "/metrics.jsonl", read_text(dir("A") + "/metrics.jsonl") + "{\"event\":\"train\",\"st");
  const std::vector<Case> cases{
      {"", 2, "give at least one RUN_DIR"},
      {dir("missing"), 2, "run folder '" + dir("missing") + "' does not exist"},
      {dir("not_a_run"), 2, "holds no metrics.jsonl"},
      {dir("A") + " -o " + dir("no/such/folder/r.html"), 2, "the folder '" + dir("no/such/folder") + "' does not exist"},
      {dir("A") + " -o " + dir("B"), 2, "it is a folder"},
      {dir("empty"), 3, dir("empty") + "/metrics.jsonl is empty"},
      {dir("torn"), 3, dir("torn") + "/metrics.jsonl:14: not JSON"},
      {dir("A") + " --chart-js " + dir("none.js"), 3, dir("none.js") + " is missing: install Debian's libjs-chart.js"},
      {dir("A") + " --no-such-flag", 2, "--no-such-flag"},
  };
  for (const auto& c : cases) {
    const ToolResult r = run_gossamer("report " + c.args);
    EXPECT_EQ(r.status, c.status) << c.args << "\n" << r.out;
    EXPECT_THAT(r.out, HasSubstr(c.message)) << c.args;
    EXPECT_THAT(r.out, Not(HasSubstr("gossamer report: wrote"))) << c.args;
  }
  EXPECT_FALSE(fs::exists(dir("A") + "/report.html"));  // nothing written on any error
}

TEST_F(ReportCommand, ThePageRendersInChromiumWithEveryPlotDrawn) {
  REPORT_REQUIRE_CHROMIUM();
  write_three_runs();
  const std::string out = dir("abc.html");
  const ToolResult r = run_gossamer("report " + dir("A") + " " + dir("B") + " " + dir("C") + " -o " + out);
  ASSERT_EQ(r.status, 0) << r.out;
  const PageCheck page = render_in_chromium(out);
  ASSERT_TRUE(page.loaded) << page.raw;
  EXPECT_TRUE(page.result["errors"].empty()) << page.raw;
  // 4 training curves (all runs), 3 communication plots (A, B), 2 sparsity plots (A, B): 9
  // charts, each with its line drawn; C's topology and kernels say "no data".
  EXPECT_EQ(page.result["canvases"], 9) << page.raw;
  EXPECT_EQ(page.result["drawn"], 9) << page.raw;
  EXPECT_EQ(page.result["nodata"], 2) << page.raw;
  EXPECT_EQ(page.result["svgs"], 2) << page.raw;
  EXPECT_EQ(page.result["nodes"], nlohmann::json::array({4, 4})) << page.raw;
  EXPECT_EQ(page.result["tables"], 2) << page.raw;
}

TEST_F(ReportCommand, ARunWithNothingToPlotSaysNoDataInTheBrowser) {
  REPORT_REQUIRE_CHROMIUM();
  write_three_runs();
  const std::string out = dir("c.html");
  ASSERT_EQ(run_gossamer("report " + dir("C") + " -o " + out).status, 0);
  const PageCheck page = render_in_chromium(out);
  ASSERT_TRUE(page.loaded) << page.raw;
  EXPECT_TRUE(page.result["errors"].empty()) << page.raw;
  EXPECT_EQ(page.result["drawn"], 4) << page.raw;   // the training curves
  EXPECT_EQ(page.result["nodata"], 6) << page.raw;  // 3 communication, sparsity, topology, kernels
}

// The CI check of the issue: a real tiny run (4 gossiping workers, GMP-pruned MLP, 2 epochs of 512
// images), trained and reported by the tool, rendered in the browser.
TEST_F(ReportCommand, TheReportOfATinyRunRendersInChromium) {
  REPORT_REQUIRE_CHROMIUM();
  if (!gossamer::testing::have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST not installed";
  const std::string run = dir("tiny");
  const ToolResult t = run_gossamer(
      "train " + std::string(GOSSAMER_SOURCE_DIR) + "/examples/fashion_lenet.toml --set model.name=mlp"
      " --set 'model.hidden=[64]' --set data.train_limit=512 --set data.test_limit=256 --set train.epochs=2"
      " --set train.batch_size=32 --set train.log_every=2 --set cluster.workers=4 --set optimizer.algorithm=dsgd"
      " --set sparse.method=gmp --set sparse.sparsity=0.8 --set sparse.update_every=2 --set output.progress=off"
      " --set output.dir=\\\"" + run + "\\\"");
  ASSERT_EQ(t.status, 0) << t.out;
  // The run logs what the report draws: per-layer sparsity at every log step, kernel choices.
  const std::string metrics = read_text(run + "/metrics.jsonl");
  EXPECT_THAT(metrics, ::testing::ContainsRegex("\"event\":\"train\"[^\n]*\"sparsity/fc1.weight\""));
  EXPECT_THAT(metrics, ::testing::ContainsRegex("\"event\":\"kernels\",\"step\":[0-9]+,\"decisions\":\\[\"fc1.weight b32 train: "));
  const ToolResult r = run_gossamer("report " + run);
  ASSERT_EQ(r.status, 0) << r.out;
  const PageCheck page = render_in_chromium(run + "/report.html");
  ASSERT_TRUE(page.loaded) << page.raw;
  EXPECT_TRUE(page.result["errors"].empty()) << page.raw;
  EXPECT_EQ(page.result["drawn"], 8) << page.raw;  // 4 curves, 3 communication, 1 sparsity
  EXPECT_EQ(page.result["nodata"], 0) << page.raw;
  EXPECT_EQ(page.result["nodes"], nlohmann::json::array({4})) << page.raw;
  EXPECT_EQ(page.result["tables"], 1) << page.raw;
}

}  // namespace report_command_test
