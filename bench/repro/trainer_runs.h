// Helpers for the reproductions that drive the real trainer (train::run_training) with a
// configuration built in code: a validated Config from "section.key=value" overrides, a scope
// that sends the trainer's progress lines (printed on stdout) to stderr, so that stdout carries
// only the result table.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "gossamer/config/config.h"
#include "gossamer/util/allocator.h"

namespace gossamer::repro {

// Defaults of config.h plus `overrides`, validated exactly like a TOML file given to `gossamer train`.
inline config::Config make_config(const std::vector<std::string>& overrides) {
  return config::parse_config("", "repro (built in code)", overrides);
}

// While alive, file descriptor 1 (stdout) writes to stderr.
class StdoutToStderr {
 public:
  StdoutToStderr() {
    std::fflush(stdout);
    saved_ = ::dup(STDOUT_FILENO);
    if (saved_ >= 0) ::dup2(STDERR_FILENO, STDOUT_FILENO);
  }
  ~StdoutToStderr() {
    std::fflush(stdout);
    if (saved_ >= 0) {
      ::dup2(saved_, STDOUT_FILENO);
      ::close(saved_);
    }
  }
  StdoutToStderr(const StdoutToStderr&) = delete;
  StdoutToStderr& operator=(const StdoutToStderr&) = delete;

 private:
  int saved_ = -1;
};

}  // namespace gossamer::repro
