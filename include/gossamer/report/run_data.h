// One run's output folder (output.dir), read for `gossamer report`: the metrics.jsonl lines by
// event, the configuration, and which config keys tell several runs apart.
//
// Reading is strict about what would make a plot wrong (a line that is not JSON, a train or eval
// line without a step) and lenient about what an older or a dense run simply lacks (no "run" line,
// no config.toml, no sparsity or kernels lines): those become notes and empty series, and the
// report says "no data" for them.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace gossamer::report {

// The folder is not a run's output: it does not exist, is not a folder, or holds no metrics.jsonl.
// A command-line mistake (gossamer report exits 2).
class NotARunError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// The run's files cannot be read as a run's: an empty metrics.jsonl, a line that is empty, not
// JSON (truncated or garbled), not an object, without an "event", or a train/eval line without a
// numeric "step"; a config.toml that is not TOML. Bad input data (gossamer report exits 3).
class RunDataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One "train" or "eval" line: its numeric fields ("step" included). Non-numeric values (null, as
// nlohmann writes a NaN) are left out, so a plot simply has no point there.
using MetricsRow = std::map<std::string, double>;

struct RunData {
  std::string dir;   // as given on the command line
  std::string name;  // the folder's own name, the label of last resort
  std::map<std::string, std::string> about;  // the "run" line's fields (model, algorithm, ...)
  std::vector<MetricsRow> train, eval;
  // The last "kernels" line: the pruned layers' kernel choices (train/sparse_kernels.h) as text;
  // kernels_step = -1 when the run has none (dense runs, sparse.kernels = dense, older runs).
  std::vector<std::string> kernel_decisions;
  int64_t kernels_step = -1;
  std::string config_toml;  // config.toml as written by the run; "" when there is none
  // Every key of config.toml as "section.key" -> value (strings without quotes, arrays as [1, 2]).
  std::map<std::string, std::string> config;
  std::vector<std::string> notes;  // what is missing and why, for the page
};

// Reads DIR/metrics.jsonl and DIR/config.toml. Throws NotARunError or RunDataError (naming the
// file and, for metrics.jsonl, the line number).
RunData read_run(const std::string& dir);

// Config keys whose values differ between the runs (present in some runs only counts as
// differing), sorted; output.* are left out, since every run has its own folder.
std::vector<std::string> differing_keys(const std::vector<RunData>& runs);

// One legend label per run: "optimizer.lr=0.1, train.seed=2" from the differing keys (the first
// kMaxLabelKeys of them, then "+N more"); the folders' names when no key differs or the labels
// would not tell the runs apart (the folders as given when their names are equal too).
constexpr size_t kMaxLabelKeys = 4;
std::vector<std::string> run_labels(const std::vector<RunData>& runs);

}  // namespace gossamer::report
