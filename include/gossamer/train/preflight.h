// Everything about a run that can be checked before its data loads: the configuration against
// itself, against the topology it builds and the algorithm it names, and against the files it
// reads and writes. A user meets every problem at once, in config keys, with the config-error exit
// status, instead of one C++ message per attempt after the data set has loaded.
#pragma once

#include <string>
#include <vector>

#include "gossamer/config/config.h"
#include "gossamer/topology/topology.h"

namespace gossamer::train {

struct PreflightReport {
  // Allowed but probably not what the user meant: a key the algorithm ignores, a topology family
  // that degenerated into another one. Printed, not fatal.
  std::vector<std::string> notes;
};

// Throws config::ConfigError listing every problem found. Checks, in order:
//  1. the algorithm's needs (optim::algorithm_needs) against [optimizer], [compress], [robust],
//     [sparse] and the topology (doubly stochastic, static, symmetric), named in config keys;
//  2. the topology itself (builder errors, a neighbourhood too small for the robust rule);
//  3. files: train.init_from exists, output.dir can be written, and with `resume` the directory
//     holds one checkpoint per worker of cluster.workers;
//  4. when 1-3 found nothing, a dry build: every worker's Trainer is constructed on stand-in data
//     of the real size (no data is read), so that any constraint a constructor checks is met here,
//     before the data loads, rather than after.
PreflightReport preflight(const config::Config& cfg, bool resume);

// The topology of [cluster] (what run_training gossips over).
topology::Topology build_topology(const config::Config& cfg);

}  // namespace gossamer::train
