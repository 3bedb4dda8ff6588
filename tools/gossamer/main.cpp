// The `gossamer` command: train, launch, topology, prune, infer. See README.md.
//
// Exit statuses shared by the commands: 0 success, 1 an unexpected error, 2 a command-line or
// configuration mistake, 3 a bad data set or model.sparse, 4 a file given as a checkpoint that is
// not one (train/checkpoint.h), 130 interrupted.
#include <CLI/CLI.hpp>

#include <exception>
#include <iostream>

#include "commands.h"
#include "gossamer/train/checkpoint.h"
#include "gossamer/util/allocator.h"

int main(int argc, char** argv) {
  // Before any worker thread starts: keep freed activation buffers mapped (util/allocator.h).
  gossamer::util::keep_freed_memory_mapped();
  CLI::App app{"Gossamer: decentralized sparse training on CPUs"};
  app.set_version_flag("--version", std::string("gossamer ") + GOSSAMER_VERSION);
  app.require_subcommand(1);
  // Every option of every command shows its default in --help (subcommands copy these defaults
  // when they are created, so this comes before the add_*_command calls).
  app.option_defaults()->always_capture_default();
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
  } catch (const gossamer::train::CheckpointError& e) {
    std::cerr << "gossamer: error: " << e.what() << "\n";
    return 4;
  } catch (const std::exception& e) {
    std::cerr << "gossamer: error: " << e.what() << "\n";
    return 1;
  }
  return exit_code;
}
