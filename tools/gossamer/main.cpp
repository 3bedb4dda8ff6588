// The `gossamer` command: train, launch, topology, prune, infer. See README.md.
#include <CLI/CLI.hpp>

#include <exception>
#include <iostream>

#include "commands.h"
#include "gossamer/util/allocator.h"

int main(int argc, char** argv) {
  // Before any worker thread starts: keep freed activation buffers mapped (util/allocator.h).
  gossamer::util::keep_freed_memory_mapped();
  CLI::App app{"Gossamer: decentralized sparse training on CPUs"};
  app.set_version_flag("--version", std::string("gossamer ") + GOSSAMER_VERSION);
  app.require_subcommand(1);
  int exit_code = 0;
  gossamer::cli::add_train_command(app, exit_code);
  gossamer::cli::add_launch_command(app, exit_code);
  gossamer::cli::add_topology_command(app, exit_code);
  gossamer::cli::add_prune_command(app, exit_code);
  gossamer::cli::add_infer_command(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help / --version exit 0; every command-line mistake exits 2, as the subcommands' own checks do.
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const std::exception& e) {
    std::cerr << "gossamer: error: " << e.what() << "\n";
    return 1;
  }
  return exit_code;
}
