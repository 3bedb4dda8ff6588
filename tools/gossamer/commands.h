// Subcommands of the `gossamer` tool. Each lives in its own cmd_<name>.cpp and registers itself
// on the CLI11 app; its callback stores the process exit status in `exit_code`.
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace gossamer::cli {

void add_train_command(CLI::App& app, int& exit_code);
void add_launch_command(CLI::App& app, int& exit_code);
void add_topology_command(CLI::App& app, int& exit_code);
void add_prune_command(CLI::App& app, int& exit_code);
void add_infer_command(CLI::App& app, int& exit_code);
void add_report_command(CLI::App& app, int& exit_code);

// Whether `program` is an executable in one of $PATH's folders (what execvp would run).
bool on_path(const std::string& program);

}  // namespace gossamer::cli
