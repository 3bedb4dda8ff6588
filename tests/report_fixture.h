// Hand-written run folders for the tests of `gossamer report` (tests/report/, tests/tools/): a
// metrics.jsonl and a config.toml as `gossamer train` writes them, small and deterministic.
#pragma once

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace gossamer::testing {

struct FixtureRun {
  double lr = 0.05;
  int workers = 4;               // > 1: bytes, modelled time and consensus in the train lines
  bool sparse = true;            // per-layer sparsity in the lines, and "kernels" lines
  bool run_line = true;          // false: a run from before the "run" line existed
  bool config = true;            // false: no config.toml
  std::string topology = "ring";
  std::string algorithm = "dsgd";
};

// Writes DIR/metrics.jsonl (a run line, 8 train lines over 2 epochs, 2 evaluations and, for
// sparse runs, 2 kernels lines) and DIR/config.toml. The first train line's loss is 2.25 + lr.
inline void write_fixture_run(const std::string& dir, const FixtureRun& f) {
  std::filesystem::create_directories(dir);
  std::ofstream m(dir + "/metrics.jsonl");
  char buf[600];
  if (f.run_line) {
    std::snprintf(buf, sizeof buf,
                  "{\"event\":\"run\",\"step\":0,\"model\":\"mlp\",\"optimizer\":\"sgd\",\"algorithm\":\"%s\","
                  "\"workers\":\"%d\",\"topology\":\"%s\",\"sparse\":\"%s\",\"compress\":\"none\",\"robust\":\"none\","
                  "\"attack\":\"none\",\"seed\":\"1\",\"partition\":\"iid\"}\n",
                  f.workers > 1 ? f.algorithm.c_str() : "none (one worker)", f.workers,
                  f.workers > 1 ? f.topology.c_str() : "none", f.sparse ? "gmp 0.900000" : "none");
    m << buf;
  }
  for (int i = 1; i <= 8; ++i) {
    const int step = 5 * i, epoch = i <= 4 ? 1 : 2;
    std::string line;
    std::snprintf(buf, sizeof buf,
                  "{\"event\":\"train\",\"step\":%d,\"epoch\":%d,\"loss\":%.4f,\"accuracy\":%.4f,\"lr\":%g,"
                  "\"samples_per_s\":1000,\"wall_s\":%.2f",
                  step, epoch, 2.25 + f.lr - 0.2 * (i - 1), 0.1 + 0.08 * i, f.lr, 0.1 * i);
    line = buf;
    if (f.workers > 1) {
      std::snprintf(buf, sizeof buf,
                    ",\"bytes_sent_per_worker\":%d,\"bytes_sent_per_step\":40000,\"dense_bytes_sent_per_worker\":%d,"
                    "\"modelled_comm_s\":%.4f,\"consensus_distance\":%.4f",
                    40000 * step, 80000 * step, 0.002 * step, 1.0 / (i * i));
      line += buf;
    }
    if (f.sparse) {
      const double s = 0.9 * i / 8;
      std::snprintf(buf, sizeof buf, ",\"sparsity\":%.4f,\"sparsity/fc1.weight\":%.4f,\"sparsity/fc2.weight\":%.4f,\"sad\":0.01",
                    s, s, 0.8 * s);
      line += buf;
    }
    m << line << "}\n";
    if (step % 20 == 0) {
      if (f.sparse) {
        m << "{\"event\":\"kernels\",\"step\":" << step
          << ",\"decisions\":[\"fc1.weight b64 train: sparse (sparse 0.410 ms, dense 0.970 ms)\","
             "\"fc2.weight b64 train: dense (sparse 0.050 ms, dense 0.020 ms)\"]}\n";
      }
      std::snprintf(buf, sizeof buf,
                    "{\"event\":\"eval\",\"step\":%d,\"epoch\":%d,\"test_loss\":%.4f,\"test_accuracy\":%.4f,\"wall_s\":%.2f%s}\n",
                    step, epoch, 2.0 - 0.3 * epoch, 0.3 + 0.2 * epoch, 0.5 * epoch,
                    f.workers > 1 ? ",\"worst_worker_accuracy\":0.5,\"consensus_distance\":0.2" : "");
      m << buf;
    }
  }
  if (!f.config) return;
  std::ofstream c(dir + "/config.toml");
  c << "[model]\nname = \"mlp\"\nhidden = [64]\n"
    << "[optimizer]\nalgorithm = \"" << f.algorithm << "\"\nlr = " << f.lr << "\n"
    << "[cluster]\nworkers = " << f.workers << "\ntopology = \"" << f.topology << "\"\n"
    << "[sparse]\nmethod = \"" << (f.sparse ? "gmp" : "none") << "\"\n"
    << "[output]\ndir = \"" << dir << "\"\n";
}

}  // namespace gossamer::testing
