// How every `gossamer` command reports a failure: one line on stderr, "gossamer CMD: <message>",
// and an exit status that says what kind of mistake it was. Commands throw; run_reported (the one
// wrapper every command's callback goes through) turns what they throw into the line and the status.
#pragma once

#include <functional>
#include <stdexcept>
#include <string>

namespace gossamer::cli {

// The exit statuses shared by the commands (main.cpp's header and the README list them too).
enum ExitStatus : int {
  kExitOk = 0,
  kExitUnexpected = 1,      // a failure the command did not foresee (a bug, the machine)
  kExitUsage = 2,           // a command-line or configuration mistake
  kExitBadInput = 3,        // a bad data set, model.sparse or metrics file
  kExitNotCheckpoint = 4,   // a file given as a checkpoint that is not one (train/checkpoint.h)
  kExitInterrupted = 130,   // Ctrl-C / SIGTERM
};

// A command-line mistake found by a command itself (exit 2); config::ConfigError and
// std::invalid_argument, the library's way of saying "bad option", map there too.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// An input file that is not what the command reads (exit 3), like data::DataError.
struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Runs `body` (a command's work, returning its exit status) and returns its status; what it
// throws is printed as one line prefixed "gossamer <command>: " and mapped to an ExitStatus.
// CLI11's own errors (CLI::Error) pass through to main, which prints usage for them.
int run_reported(const std::string& command, const std::function<int()>& body);

}  // namespace gossamer::cli
