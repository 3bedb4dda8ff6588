// `gossamer launch --workers N -- CMD ARGS...` (src/comm/launcher.cpp does the work) and the hidden
// `gossamer comm-selftest`, a worker that checks the Gloo backend end to end over a TCPStore
// (the multi-process test runs it under `gossamer launch`).
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include <ATen/ATen.h>

#include <iostream>
#include <memory>

#include "commands.h"
#include "errors.h"
#include "gossamer/comm/communicator.h"
#include "gossamer/comm/gloo_communicator.h"
#include "gossamer/comm/launcher.h"
#include "gossamer/topology/topology.h"

namespace gossamer::cli {

namespace {

// Every rank checks allreduce, broadcast, a ring neighbor_allreduce (built by hand, so the tool
// does not depend on the topology builders) and an exchange; exit status 0 only if all agree.
int comm_selftest(int timeout_ms, int fail_rank) {
  // The failing rank leaves before connecting, so the others block in the rendezvous until the
  // launcher stops them: the launcher's failure handling, not Gloo's, is what is tested.
  if (comm::read_launch_env().rank == fail_rank) {
    std::cerr << "comm-selftest: rank " << fail_rank << " fails on purpose" << std::endl;
    return 3;
  }
  auto c = comm::make_gloo_from_env(std::chrono::milliseconds(timeout_ms));
  const int n = c->size();
  const int r = c->rank();
  int errors = 0;
  at::Tensor t = at::full({1000}, static_cast<float>(r + 1));
  c->allreduce(t);
  const float want = static_cast<float>(n * (n + 1) / 2);
  if (!at::equal(t, at::full({1000}, want))) {
    std::cerr << "comm-selftest: rank " << r << ": allreduce gave " << t[0].item<float>() << ", want " << want << "\n";
    ++errors;
  }
  at::Tensor b = at::full({7}, static_cast<double>(r), at::kDouble);
  c->broadcast(b, n - 1);
  if (b[0].item<double>() != n - 1) ++errors;
  topology::MixingMatrix ring(n);
  for (int i = 0; i < n; ++i) {
    ring.add(i, i, 0.5);
    ring.add(i, (i + 1) % n, 0.5);  // x_i <- (x_i + x_{i+1}) / 2: doubly stochastic for any n
  }
  const topology::Topology topo("selftest-ring", {ring});
  at::Tensor x = at::full({5}, static_cast<float>(r));
  c->neighbor_allreduce(x, topo, 0);
  const float want_x = n == 1 ? 0.f : 0.5f * static_cast<float>(r + (r + 1) % n);
  if (x[0].item<float>() != want_x) {
    std::cerr << "comm-selftest: rank " << r << ": neighbor_allreduce gave " << x[0].item<float>() << ", want " << want_x
              << "\n";
    ++errors;
  }
  comm::Bytes packet(static_cast<size_t>(r) * 3, static_cast<uint8_t>(r));
  auto got = c->exchange({{(r + 1) % n, packet}}, {(r + n - 1) % n});
  const int src = (r + n - 1) % n;
  if (got.size() != 1 || got[0] != comm::Bytes(static_cast<size_t>(src) * 3, static_cast<uint8_t>(src))) ++errors;
  c->barrier();
  std::cout << "comm-selftest: rank " << r << " of " << n << (errors ? " FAILED" : " ok") << " (" << c->backend()
            << ", sent " << c->stats().bytes_sent << " bytes in " << c->stats().messages_sent << " messages)"
            << std::endl;
  return errors ? 1 : 0;
}

}  // namespace

void add_launch_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<comm::LaunchOptions>();
  auto grace_ms = std::make_shared<int>(static_cast<int>(opts->grace.count()));
  auto no_prefix = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand(
      "launch",
      "Start N local worker processes with RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and "
      "MASTER_PORT set; forward Ctrl-C; if one fails, stop the others and exit with its status.\n"
      "Example: gossamer launch --workers 4 -- gossamer train run.toml");
  cmd->add_option("-n,--workers", opts->workers, "number of worker processes")
      ->required()
      ->check(CLI::PositiveNumber)
      ->default_str("");  // required: no default to show
  cmd->add_option("--master-addr", opts->master_addr, "address of rank 0's store (and of the Gloo connections)")
      ->capture_default_str();
  cmd->add_option("--master-port", opts->master_port, "port of rank 0's store (0: a free port)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--grace-ms", *grace_ms, "time workers get after SIGTERM before SIGKILL")->capture_default_str();
  cmd->add_flag("--no-prefix", *no_prefix, "leave the workers' output alone (no \"[rank] \" prefix)");
  // Everything after the first positional argument (or after "--") is the worker's command line,
  // options included.
  cmd->add_option("command", opts->command, "the worker's command line: CMD ARGS... (after --)")->required();
  cmd->positionals_at_end();
  cmd->callback([opts, grace_ms, no_prefix, &exit_code] {
    // `gossamer launch -- gossamer train ...` runs this very binary when no `gossamer` is on PATH
    // (the build leaves it in build/bin/): the README's commands work without a PATH change.
    if (!opts->command.empty() && opts->command[0] == "gossamer" && !on_path("gossamer")) {
      std::error_code ec;
      const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
      if (!ec) opts->command[0] = self.string();
    }
    opts->grace = std::chrono::milliseconds(*grace_ms);
    opts->prefix_output = !*no_prefix;
    exit_code = run_reported("launch", [&] { return comm::launch(*opts).exit_code; });
  });

  auto timeout_ms = std::make_shared<int>(30000);
  auto fail_rank = std::make_shared<int>(-1);
  auto* self = app.add_subcommand("comm-selftest", "Check the Gloo backend from a launched worker");
  self->group("");  // hidden: a test helper, not a user command
  self->add_option("--timeout-ms", *timeout_ms, "timeout of every call");
  self->add_option("--fail-rank", *fail_rank, "this rank exits with status 3 before communicating");
  self->callback([timeout_ms, fail_rank, &exit_code] {
    exit_code = run_reported("comm-selftest", [&] { return comm_selftest(*timeout_ms, *fail_rank); });
  });
}

}  // namespace gossamer::cli
