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
  // The memory estimate for this machine's workers (README, Memory) and what the machine had
  // available, in bytes; 0 where the model could not be sized or /proc/meminfo not read.
  double memory_needed = 0;
  double memory_available = 0;
};

// Throws config::ConfigError listing every problem found. Checks, in order:
//  1. the algorithm's needs (optim::algorithm_needs) against [optimizer], [compress], [robust],
//     [sparse] and the topology (doubly stochastic, static, symmetric), named in config keys;
//  2. the topology itself (builder errors, a neighbourhood too small for the robust rule);
//  3. files: train.init_from exists, output.dir can be written, and with `resume` the directory
//     holds one checkpoint per worker of cluster.workers;
//  4. the data split (every worker gets a sample; a batch larger than a worker's share is noted)
//     and memory: the workers on this machine, sized by models::model_footprint without building
//     a model, against the memory available (README, Memory);
//  5. when 1-4 found nothing, a dry build: every worker's Trainer is constructed on stand-in data
//     of the real size (no data is read), so that any constraint a constructor checks is met here,
//     before the data loads, rather than after.
PreflightReport preflight(const config::Config& cfg, bool resume);

// The topology of [cluster] (what run_training gossips over).
topology::Topology build_topology(const config::Config& cfg);

}  // namespace gossamer::train
