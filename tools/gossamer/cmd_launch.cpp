// Placeholder until the runtime issue lands: fails loudly instead of pretending to work.
#include <CLI/CLI.hpp>

#include <stdexcept>

#include "commands.h"

namespace gossamer::cli {

void add_launch_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("launch", "(not yet implemented)");
  cmd->allow_extras();
  cmd->callback([&exit_code] {
    throw std::runtime_error("'gossamer launch' is not implemented yet");
  });
}

}  // namespace gossamer::cli
