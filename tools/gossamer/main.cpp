// The `gossamer` command: train, launch, topology, prune, infer, report. See README.md.
//
// Exit statuses shared by the commands (errors.h, where run_reported maps failures to them): 0
// success, 1 an unexpected error, 2 a command-line or configuration mistake (an unknown command
// included), 3 a bad data set, model.sparse or metrics file, 4 a file given as a checkpoint that is
// not one (train/checkpoint.h), 130 interrupted.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "commands.h"
#include "errors.h"
#include "gossamer/util/allocator.h"

namespace {

// Levenshtein distance, for "did you mean": small strings only (command names).
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// The user-facing commands (hidden test helpers have no group), in the order they were added.
std::vector<const CLI::App*> visible_commands(CLI::App& app) {
  std::vector<const CLI::App*> out;
  for (const CLI::App* sub : app.get_subcommands([](CLI::App* s) { return !s->get_group().empty(); })) {
    out.push_back(sub);
  }
  return out;
}

void print_commands(CLI::App& app) {
  std::cerr << "commands:\n";
  for (const CLI::App* sub : visible_commands(app)) {
    std::string description = sub->get_description();
    description = description.substr(0, description.find_first_of(";\n"));  // its first clause
    std::fprintf(stderr, "  %-10s %s\n", sub->get_name().c_str(), description.c_str());
  }
  std::cerr << "Run 'gossamer COMMAND --help' for a command's options.\n";
}

// No command, or a first argument that is not one: CLI11 reports these as a missing subcommand or
// as unexpected extras, which say neither what the commands are nor which one was meant.
int report_command_error(CLI::App& app, int argc, char** argv) {
  std::string typed;
  for (int i = 1; i < argc && typed.empty(); ++i) {
    if (argv[i][0] != '-') typed = argv[i];
  }
  if (typed.empty() && argc > 1) {
    std::cerr << "gossamer: unknown option '" << argv[1] << "' (gossamer itself takes only --help and --version)"
              << "; a command comes first\nusage: gossamer COMMAND [ARGS...]\n";
  } else if (typed.empty()) {
    std::cerr << "gossamer: a command is required\nusage: gossamer COMMAND [ARGS...]\n";
  } else {
    std::cerr << "gossamer: unknown command '" << typed << "'";
    const CLI::App* best = nullptr;
    size_t best_distance = 3;  // suggest only within an edit distance of 2
    for (const CLI::App* sub : visible_commands(app)) {
      const size_t d = edit_distance(typed, sub->get_name());
      if (d < best_distance) {
        best_distance = d;
        best = sub;
      }
    }
    if (best) std::cerr << "; did you mean '" << best->get_name() << "'?";
    std::cerr << "\n";
  }
  print_commands(app);
  return gossamer::cli::kExitUsage;
}

}  // namespace

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
  gossamer::cli::add_report_command(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const bool no_command = app.get_subcommands().empty();
    if (no_command && (dynamic_cast<const CLI::ExtrasError*>(&e) || dynamic_cast<const CLI::RequiredError*>(&e))) {
      return report_command_error(app, argc, argv);
    }
    // --help / --version exit 0; every command-line mistake exits 2, as the subcommands' own checks do.
    return app.exit(e) == 0 ? gossamer::cli::kExitOk : gossamer::cli::kExitUsage;
  } catch (const std::exception& e) {  // outside any command's run_reported (none today)
    std::cerr << "gossamer: error: " << e.what() << "\n";
    return 1;
  }
  return exit_code;
}
