// Helpers shared by the train/ tests: scratch folders, metrics files, and a small cluster runner.
#pragma once

#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "gossamer/comm/communicator.h"
#include "gossamer/config/config.h"
#include "gossamer/data/dataset.h"
#include "gossamer/data/partition.h"
#include "gossamer/topology/spec.h"
#include "gossamer/topology/topology.h"
#include "gossamer/train/trainer.h"

namespace gossamer::train::testing {

// "<tmp>/gossamer_<name>_<pid>", removed if it existed (not created: the trainer creates it).
inline std::string fresh_dir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / ("gossamer_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  return d.string();
}

// Every line of a metrics.jsonl file, parsed.
inline std::vector<nlohmann::json> read_metrics(const std::string& path) {
  std::vector<nlohmann::json> rows;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

// An iid split of d into n shards (data::partition's defaults).
inline std::vector<data::Dataset> iid_shards(const data::Dataset& d, int n) {
  std::vector<data::Dataset> out;
  for (const auto& idx : data::partition(d.targets, 10, n, data::PartitionSpec{})) out.push_back(d.subset(idx));
  return out;
}

// The ring of n workers with the default mixing weights.
inline topology::Topology ring(int n) {
  topology::TopologySpec spec;
  spec.name = "ring";
  spec.workers = n;
  return topology::make_topology(spec);
}

// The metrics.jsonl of two runs hold the same lines, equal in `keys` (where a line has them).
inline void expect_same_metrics(const std::string& dir_a, const std::string& dir_b, const std::vector<std::string>& keys) {
  const auto ma = read_metrics(dir_a + "/metrics.jsonl"), mb = read_metrics(dir_b + "/metrics.jsonl");
  ASSERT_EQ(ma.size(), mb.size());
  for (size_t i = 0; i < ma.size(); ++i) {
    for (const auto& key : keys) {
      if (ma[i].contains(key)) EXPECT_EQ(ma[i][key].get<double>(), mb[i][key].get<double>()) << key << " line " << i;
    }
  }
}

// comm::run_inprocess or comm::run_gloo_threads.
using Runner = void (*)(int, const std::function<void(comm::Communicator&)>&, std::chrono::milliseconds);

// One Trainer per worker of `cfg` (worker r trains on parts[r]), all on `runner` with a 20 s
// timeout per call, resuming from cfg.output.dir when `resume`; returns rank 0's summary.
inline RunSummary run_cluster(Runner runner, const config::Config& cfg, const std::vector<data::Dataset>& parts,
                              const data::Dataset& test, const topology::Topology& topo, bool resume = false) {
  RunSummary summary;
  std::mutex mu;
  runner(
      static_cast<int>(cfg.cluster.workers),
      [&](comm::Communicator& c) {
        Trainer t(cfg, parts[static_cast<size_t>(c.rank())], test, cfg.output.dir, WorkerContext{&c, &topo});
        auto s = t.run(resume);
        std::lock_guard<std::mutex> lock(mu);
        if (c.rank() == 0) summary = s;
      },
      std::chrono::milliseconds(20000));
  return summary;
}

}  // namespace gossamer::train::testing
