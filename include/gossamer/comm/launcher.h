// `gossamer launch`: starts N local worker processes with the variables torchrun sets (RANK,
// WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), prefixes their output
// lines with "[rank] ", forwards SIGINT/SIGTERM, and when one worker fails stops the others
// (SIGTERM, then SIGKILL after a grace period) and exits with the failed worker's status.
// Plain POSIX (fork/exec/poll); no torch call, so forking is safe.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace gossamer::comm {

struct LaunchOptions {
  int workers = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 0;  // 0: pick a free port on master_addr
  std::vector<std::string> command;  // argv of every worker; argv[0] looked up in PATH
  bool prefix_output = true;  // "[rank] " before every line of stdout and stderr
  // How long workers get to exit after SIGTERM (a failure elsewhere, or Ctrl-C) before SIGKILL.
  std::chrono::milliseconds grace{5000};
};

struct LaunchResult {
  // 0 when every worker exited 0; else the first failed worker's exit status (128 + signal
  // for a worker killed by a signal; 130 / 143 when the launcher itself got SIGINT / SIGTERM).
  int exit_code = 0;
  int failed_rank = -1;  // the first worker that failed, -1 if none
  std::string message;   // one line saying which rank failed and how, empty on success
};

// Runs the workers to completion. Diagnostics go to stderr prefixed "gossamer launch: ".
// Throws std::invalid_argument on bad options (no command, workers < 1, bad port).
LaunchResult launch(const LaunchOptions& options);

// A TCP port that was free on `addr` a moment ago (bind to port 0, read it, close).
int pick_free_port(const std::string& addr = "127.0.0.1");

}  // namespace gossamer::comm
