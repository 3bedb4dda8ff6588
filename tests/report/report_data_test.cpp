// The report layer without the tool: reading run folders (strict about what would draw a wrong
// plot, lenient about what older or dense runs lack), the legend from the differing config keys,
// the topology drawing, and a page whose data cannot break out of its <script> element.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "gossamer/report/html_report.h"
#include "gossamer/report/run_data.h"
#include "gossamer/report/topology_drawing.h"
#include "gossamer/topology/spec.h"
#include "report_fixture.h"

namespace report_data_test {

namespace fs = std::filesystem;
namespace rep = gossamer::report;
using gossamer::testing::FixtureRun;
using gossamer::testing::write_fixture_run;
using gossamer::testing::write_text;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class ReportData : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("gossamer_report_data_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) +
             "_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  std::string dir(const std::string& name) const { return (root_ / name).string(); }
  // The message of the exception read_run throws for `d`, checking its type.
  template <typename E>
  std::string read_error(const std::string& d) {
    try {
      rep::read_run(d);
    } catch (const E& e) {
      return e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "wrong exception type: " << e.what();
      return "";
    }
    ADD_FAILURE() << "read_run(" << d << ") did not throw";
    return "";
  }
  // The fixture's metrics.jsonl with line `number` (1-based) replaced.
  void replace_line(const std::string& d, size_t number, const std::string& text) {
    std::ifstream in(d + "/metrics.jsonl");
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    lines.at(number - 1) = text;
    std::string all;
    for (const auto& l : lines) all += l + "\n";
    write_text(d + "/metrics.jsonl", all);
  }
  fs::path root_;
};

TEST_F(ReportData, ReadsEveryEventAndKeyOfARun) {
  write_fixture_run(dir("a"), FixtureRun{});
  std::ofstream(dir("a") + "/config.toml", std::ios::app) << "[robust]\nradius = 100.0\n";
  const rep::RunData r = rep::read_run(dir("a"));
  EXPECT_EQ(r.name, "a");
  EXPECT_EQ(r.about.at("algorithm"), "dsgd");
  EXPECT_EQ(r.about.at("workers"), "4");
  ASSERT_EQ(r.train.size(), 8u);
  ASSERT_EQ(r.eval.size(), 2u);
  EXPECT_EQ(r.train[0].at("step"), 5);
  EXPECT_DOUBLE_EQ(r.train[0].at("loss"), 2.3);
  EXPECT_DOUBLE_EQ(r.train[7].at("sparsity/fc2.weight"), 0.72);
  EXPECT_DOUBLE_EQ(r.train[7].at("bytes_sent_per_worker"), 1.6e6);
  EXPECT_EQ(r.eval[1].at("step"), 40);
  // The last kernels line counts.
  EXPECT_EQ(r.kernels_step, 40);
  ASSERT_EQ(r.kernel_decisions.size(), 2u);
  EXPECT_THAT(r.kernel_decisions[0], HasSubstr("fc1.weight b64 train: sparse"));
  // Config values as a legend shows them.
  EXPECT_EQ(r.config.at("optimizer.lr"), "0.05");
  EXPECT_EQ(r.config.at("robust.radius"), "100");  // not 1e+02
  EXPECT_EQ(r.config.at("model.hidden"), "[64]");
  EXPECT_EQ(r.config.at("cluster.topology"), "ring");
  EXPECT_TRUE(r.notes.empty());
}

TEST_F(ReportData, AnOldDenseRunIsReadWithNotesInsteadOfFailing) {
  FixtureRun f;
  f.run_line = false;
  f.config = false;
  f.sparse = false;
  f.workers = 1;
  write_fixture_run(dir("old"), f);
  const rep::RunData r = rep::read_run(dir("old"));
  EXPECT_EQ(r.train.size(), 8u);
  EXPECT_TRUE(r.about.empty());
  EXPECT_TRUE(r.config.empty());
  EXPECT_EQ(r.kernels_step, -1);
  ASSERT_EQ(r.notes.size(), 2u);
  EXPECT_THAT(r.notes[0], HasSubstr("no \"run\" line"));
  EXPECT_THAT(r.notes[1], HasSubstr("no config.toml"));
  EXPECT_THAT(rep::draw_topology(r).note, HasSubstr("no config.toml"));
}

TEST_F(ReportData, NullValuesAndUnknownEventsAreSkipped) {
  write_fixture_run(dir("a"), FixtureRun{});
  replace_line(dir("a"), 2, R"({"event":"train","step":5,"epoch":1,"loss":null,"accuracy":0.2,"note":"text"})");
  replace_line(dir("a"), 3, R"({"event":"from-a-later-version","step":10,"x":1})");
  const rep::RunData r = rep::read_run(dir("a"));
  ASSERT_EQ(r.train.size(), 7u);
  EXPECT_EQ(r.train[0].count("loss"), 0u);  // NaN is written as null: no point, not an error
  EXPECT_EQ(r.train[0].count("note"), 0u);
  EXPECT_DOUBLE_EQ(r.train[0].at("accuracy"), 0.2);
}

TEST_F(ReportData, NotARunFolderIsACommandLineMistake) {
  EXPECT_THAT(read_error<rep::NotARunError>(dir("missing")), HasSubstr("does not exist"));
  write_text(dir("file"), "x");
  EXPECT_THAT(read_error<rep::NotARunError>(dir("file")), HasSubstr("is not a folder"));
  fs::create_directories(dir("empty_dir"));
  EXPECT_THAT(read_error<rep::NotARunError>(dir("empty_dir")), HasSubstr("holds no metrics.jsonl"));
}

TEST_F(ReportData, BadLinesAreNamedWithTheFileAndTheLineNumber) {
  const std::string d = dir("bad");
  const std::string file = d + "/metrics.jsonl";
  write_fixture_run(d, FixtureRun{});
  write_text(file, "");
  EXPECT_THAT(read_error<rep::RunDataError>(d), HasSubstr(file + " is empty"));

  write_fixture_run(d, FixtureRun{});
  replace_line(d, 4, R"({"event":"train","step":15,"epoch":1,"lo)");  // a torn line
  std::string m = read_error<rep::RunDataError>(d);
  EXPECT_THAT(m, HasSubstr(file + ":4: not JSON"));
  EXPECT_THAT(m, HasSubstr("truncated or garbled"));

  write_fixture_run(d, FixtureRun{});
  replace_line(d, 3, "");
  EXPECT_THAT(read_error<rep::RunDataError>(d), HasSubstr(file + ":3: empty line"));

  write_fixture_run(d, FixtureRun{});
  replace_line(d, 2, "[1, 2]");
  EXPECT_THAT(read_error<rep::RunDataError>(d), HasSubstr(file + ":2: not a JSON object"));

  write_fixture_run(d, FixtureRun{});
  replace_line(d, 2, R"({"step":5,"loss":1})");
  EXPECT_THAT(read_error<rep::RunDataError>(d), HasSubstr(file + ":2: no \"event\""));

  write_fixture_run(d, FixtureRun{});
  replace_line(d, 5, R"({"event":"eval","test_loss":1})");
  EXPECT_THAT(read_error<rep::RunDataError>(d), HasSubstr(file + ":5: a \"eval\" line without a numeric \"step\""));

  write_fixture_run(d, FixtureRun{});
  write_text(d + "/config.toml", "[optimizer]\nlr = = 3\n");
  EXPECT_THAT(read_error<rep::RunDataError>(d), HasSubstr(d + "/config.toml:2: not TOML"));
}

TEST_F(ReportData, TheLegendNamesTheKeysInWhichRunsDiffer) {
  FixtureRun a, b;
  b.lr = 0.1;
  write_fixture_run(dir("a"), a);
  write_fixture_run(dir("b"), b);
  const std::vector<rep::RunData> runs{rep::read_run(dir("a")), rep::read_run(dir("b"))};
  // output.dir differs too, but every run has its own.
  EXPECT_THAT(rep::differing_keys(runs), ElementsAre("optimizer.lr"));
  EXPECT_THAT(rep::run_labels(runs), ElementsAre("optimizer.lr=0.05", "optimizer.lr=0.1"));

  FixtureRun c = b;
  c.topology = "complete";
  c.workers = 3;
  write_fixture_run(dir("c"), c);
  const std::vector<rep::RunData> three{runs[0], runs[1], rep::read_run(dir("c"))};
  EXPECT_THAT(rep::differing_keys(three), ElementsAre("cluster.topology", "cluster.workers", "optimizer.lr"));
  EXPECT_EQ(rep::run_labels(three)[2], "cluster.topology=complete, cluster.workers=3, optimizer.lr=0.1");
}

TEST_F(ReportData, WithoutDifferingKeysTheLegendUsesTheFolders) {
  write_fixture_run(dir("first"), FixtureRun{});
  write_fixture_run(dir("second"), FixtureRun{});
  const std::vector<rep::RunData> runs{rep::read_run(dir("first")), rep::read_run(dir("second"))};
  EXPECT_TRUE(rep::differing_keys(runs).empty());
  EXPECT_THAT(rep::run_labels(runs), ElementsAre("first", "second"));
  // A key only one run has differs: "(unset)" in the other's label.
  std::ofstream(dir("second") + "/config.toml", std::ios::app) << "[train]\nseed = 7\n";
  const std::vector<rep::RunData> again{rep::read_run(dir("first")), rep::read_run(dir("second"))};
  EXPECT_THAT(rep::run_labels(again), ElementsAre("train.seed=(unset)", "train.seed=7"));
}

TEST_F(ReportData, TheTopologyIsDrawnWithOneNodePerWorkerAndItsEdges) {
  gossamer::topology::TopologySpec spec;
  spec.name = "ring";
  spec.workers = 6;
  const std::string svg = rep::topology_svg(gossamer::topology::make_topology(spec));
  const auto count = [&](const std::string& what) {
    const std::regex re(what);
    return std::distance(std::sregex_iterator(svg.begin(), svg.end(), re), std::sregex_iterator());
  };
  EXPECT_EQ(count("<circle class=\"node\""), 6);
  EXPECT_EQ(count("<line class=\"edge\""), 6);  // a ring's 6 undirected edges, each drawn once
  EXPECT_EQ(count("marker-end"), 0);
  spec.name = "one-peer-exponential";
  spec.workers = 8;
  const std::string directed = rep::topology_svg(gossamer::topology::make_topology(spec));
  EXPECT_THAT(directed, HasSubstr("marker-end=\"url(#arrow)\""));  // one-way edges get arrows
}

TEST_F(ReportData, OnlyGossipingRunsHaveATopologyDrawing) {
  write_fixture_run(dir("ring"), FixtureRun{});
  const rep::TopologyDrawing ring = rep::draw_topology(rep::read_run(dir("ring")));
  EXPECT_THAT(ring.svg, HasSubstr("<svg class=\"topology\""));
  EXPECT_THAT(ring.summary, HasSubstr("ring, 4 workers, static, degree 2, spectral gap"));
  FixtureRun one;
  one.workers = 1;
  write_fixture_run(dir("one"), one);
  const rep::TopologyDrawing single = rep::draw_topology(rep::read_run(dir("one")));
  EXPECT_TRUE(single.svg.empty());
  EXPECT_THAT(single.note, HasSubstr("one worker"));
  FixtureRun allreduce;
  allreduce.algorithm = "parallel-sgd";
  write_fixture_run(dir("psgd"), allreduce);
  const rep::TopologyDrawing all = rep::draw_topology(rep::read_run(dir("psgd")));
  EXPECT_TRUE(all.svg.empty());
  EXPECT_THAT(all.note, HasSubstr("parallel-sgd does not gossip"));
}

TEST_F(ReportData, ThePageInlinesTheLibraryAndKeepsDataInsideItsScript) {
  write_fixture_run(dir("a"), FixtureRun{});
  std::ofstream(dir("a") + "/metrics.jsonl", std::ios::app)
      << R"({"event":"run","step":0,"model":"</script><script>alert(1)</script><!--"})" << "\n";
  rep::ReportOptions o;
  o.chart_js = "window.Chart = function () {}; /* stand-in library */";
  o.title = "A & B <test>";
  const std::string html = rep::render_report({rep::read_run(dir("a"))}, o);
  EXPECT_THAT(html, HasSubstr(o.chart_js));
  EXPECT_THAT(html, HasSubstr("<title>A &amp; B &lt;test&gt;</title>"));
  EXPECT_EQ(html.find("{{gossamer:"), std::string::npos);
  // The template's three scripts end where they should: the data's "</script>" is escaped.
  const std::regex end_tag("</script>");
  EXPECT_EQ(std::distance(std::sregex_iterator(html.begin(), html.end(), end_tag), std::sregex_iterator()), 3);
  EXPECT_THAT(html, HasSubstr("\\u003c/script>\\u003cscript>alert(1)"));
  EXPECT_THAT(html, HasSubstr("fc1.weight b64 train: sparse"));
  EXPECT_THROW(rep::render_report({}, o), std::invalid_argument);
}

TEST_F(ReportData, AMissingLibraryNamesTheFileAndThePackage) {
  try {
    rep::read_chart_js(dir("nowhere/chart.min.js"));
    FAIL() << "no error";
  } catch (const rep::MissingLibraryError& e) {
    EXPECT_THAT(e.what(), HasSubstr(dir("nowhere/chart.min.js") + " is missing"));
    EXPECT_THAT(e.what(), HasSubstr("libjs-chart.js"));
  }
  write_text(dir("not_chart.js"), "console.log(1)");
  EXPECT_THROW(rep::read_chart_js(dir("not_chart.js")), rep::MissingLibraryError);
  if (fs::exists(rep::kChartJsPath)) {
    EXPECT_THAT(rep::read_chart_js(), HasSubstr("Chart.js v3"));
  }
}

TEST_F(ReportData, AReportThatCannotBeWrittenSaysWhere) {
  fs::create_directories(dir("folder"));
  EXPECT_THROW(rep::write_report(dir("folder"), "x"), rep::OutputError);
  EXPECT_THROW(rep::write_report(dir("no/such/folder/r.html"), "x"), rep::OutputError);
  EXPECT_EQ(rep::write_report(dir("r.html"), "<html></html>"), 13);
  EXPECT_EQ(gossamer::testing::read_text(dir("r.html")), "<html></html>");
}

}  // namespace report_data_test
