// Helpers for the reproductions that drive the real trainer (train::run_training) with a
// configuration built in code: a validated Config from "section.key=value" overrides, a scope
// that sends the trainer's progress lines (printed on stdout) to stderr, so that stdout carries
// only the result table, and an allocator setting that keeps large activations' pages mapped.
#pragma once

#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "gossamer/config/config.h"

namespace gossamer::repro {

// Defaults of config.h plus `overrides`, validated exactly like a TOML file given to `gossamer train`.
inline config::Config make_config(const std::vector<std::string>& overrides) {
  return config::parse_config("", "repro (built in code)", overrides);
}

// glibc hands large freed blocks back to the kernel (munmap / heap trim), so every training step
// of a large per-worker batch faults its activation buffers in again (tens of MB per worker and
// layer; the kernel zeroes every page). Measured here, LeNet-5 with 8 in-process workers at 1024
// images per worker: ~700 samples/s by default, ~2400 with one arena that keeps its memory (and
// ~1650 with the thresholds alone). Call before any thread starts; it only changes this process.
inline void keep_freed_memory_mapped() {
  mallopt(M_ARENA_MAX, 1);
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // the largest value glibc accepts; fixing it stops the dynamic adjustment
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 256 << 20);
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
