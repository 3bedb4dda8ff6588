#include <CLI/CLI.hpp>
#include <stdexcept>
#include "commands.h"
namespace gossamer::cli {
void add_train_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("train", "(soon)");
  cmd->callback([&exit_code] { throw std::runtime_error("soon"); });
}
}  // namespace gossamer::cli
