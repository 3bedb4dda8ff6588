// `gossamer launch` end to end: a real multi-process Gloo run over a TCPStore, and failure
// propagation (a worker exiting 3 makes the launcher stop the others and exit 3 naming the rank).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <string>

#include "gossamer/comm/launcher.h"
#include "test_paths.h"

namespace {

using Clock = std::chrono::steady_clock;

struct ShellRun {
  int status = -1;  // exit status of the launcher
  std::string output;  // stdout and stderr together
  double seconds = 0;
};

ShellRun run_shell(const std::string& cmd) {
  ShellRun r;
  const auto t0 = Clock::now();
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  size_t got;
  while ((got = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), got);
  const int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return r;
}

const std::string kTool = GOSSAMER_BINARY_DIR "/bin/gossamer";

TEST(Launcher, TwoProcessesAllreduceOverGloo) {
  const ShellRun r = run_shell("timeout 120 " + kTool + " launch --workers 2 -- " + kTool + " comm-selftest --timeout-ms 20000");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("[0] comm-selftest: rank 0 of 2 ok (gloo"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("[1] comm-selftest: rank 1 of 2 ok (gloo"), std::string::npos) << r.output;
}

TEST(Launcher, ThreeProcessesSelfTest) {
  const ShellRun r = run_shell("timeout 120 " + kTool + " launch -n 3 -- " + kTool + " comm-selftest --timeout-ms 20000");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("[2] comm-selftest: rank 2 of 3 ok"), std::string::npos) << r.output;
}

TEST(Launcher, FailedWorkerStopsTheOthersAndSetsTheExitStatus) {
  // Rank 1 exits 3 at once; rank 0 would sleep 60 s: the launcher must stop it and exit 3.
  const ShellRun r = run_shell("timeout 60 " + kTool +
                          " launch --workers 2 --grace-ms 2000 -- sh -c 'if [ \"$RANK\" = 1 ]; then echo bye; exit 3; fi; "
                          "echo waiting; exec sleep 60'");
  EXPECT_EQ(r.status, 3) << r.output;
  EXPECT_NE(r.output.find("rank 1 exited with status 3"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("[1] bye"), std::string::npos) << r.output;
  EXPECT_LT(r.seconds, 20.0) << r.output;
}

TEST(Launcher, FailingGlooWorkerEndsTheRun) {
  // The self-test's rank 1 exits 3 before communicating; rank 0 is stopped by the launcher long
  // before its 60 s timeout.
  const ShellRun r = run_shell("timeout 60 " + kTool + " launch --workers 2 --grace-ms 2000 -- " + kTool +
                          " comm-selftest --fail-rank 1 --timeout-ms 60000");
  EXPECT_EQ(r.status, 3) << r.output;
  EXPECT_NE(r.output.find("rank 1 exited with status 3"), std::string::npos) << r.output;
  EXPECT_LT(r.seconds, 30.0) << r.output;
}

TEST(Launcher, SetsTheTorchrunVariables) {
  const ShellRun r = run_shell("timeout 60 " + kTool + " launch -n 2 --master-port 29999 -- sh -c "
                          "'echo \"$RANK/$WORLD_SIZE/$LOCAL_RANK/$LOCAL_WORLD_SIZE/$MASTER_ADDR/$MASTER_PORT\"'");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("[0] 0/2/0/2/127.0.0.1/29999"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("[1] 1/2/1/2/127.0.0.1/29999"), std::string::npos) << r.output;
}

TEST(Launcher, ForwardsSigterm) {
  // The launcher gets SIGTERM 3 s in (after loading libtorch on a busy machine); the workers (sleeping 60 s) get it forwarded and die.
  const ShellRun r = run_shell("timeout --preserve-status -s TERM 3 " + kTool + " launch -n 2 -- sleep 60");
  EXPECT_NE(r.output.find("forwarding it to the workers"), std::string::npos) << r.output;
  EXPECT_LT(r.seconds, 10.0);
  EXPECT_EQ(r.status, 128 + SIGTERM) << r.output;
}

TEST(Launcher, RejectsBadOptions) {
  gossamer::comm::LaunchOptions o;
  EXPECT_THROW(gossamer::comm::launch(o), std::invalid_argument);  // no command
  o.command = {"true"};
  o.workers = 0;
  EXPECT_THROW(gossamer::comm::launch(o), std::invalid_argument);
  o.workers = 100000;  // used to fork for a minute, then fail with "pipe: Too many open files"
  EXPECT_THAT([&] { gossamer::comm::launch(o); },
              ::testing::ThrowsMessage<std::invalid_argument>(::testing::HasSubstr(
                  "launch: --workers 100000 is more than the 4096 workers a run may have; use at most 4096")));
  const int port = gossamer::comm::pick_free_port();
  EXPECT_GT(port, 0);
  const ShellRun r = run_shell("timeout 30 " + kTool + " launch -n 1 -- /nonexistent/program");
  EXPECT_EQ(r.status, 127) << r.output;
  EXPECT_NE(r.output.find("cannot run '/nonexistent/program'"), std::string::npos) << r.output;
}

// The child's side of the test below: 0 when launching 200 workers under a hard limit of 256 open
// files is refused before any fork, naming the need and the limit; otherwise why not.
int launch_200_workers_with_256_files() {
  const rlimit files{256, 256};
  if (setrlimit(RLIMIT_NOFILE, &files) != 0) return 3;
  gossamer::comm::LaunchOptions o;
  o.command = {"true"};
  o.workers = 200;
  try {
    gossamer::comm::launch(o);
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    return what.find("--workers 200 needs about 464 open files (two pipes per worker), more than this process may "
                     "open (256)") != std::string::npos
               ? 0
               : 4;
  }
  return 5;  // launched: the limit was not checked
}

// The soft limit is raised where the hard one allows (so that the default 1024 does not stop 600
// workers); past the hard limit the launch is refused up front instead of failing after hundreds of
// forks with "pipe: Too many open files". In a child process, so that the limit stays there.
TEST(LauncherDeathTest, MoreWorkersThanOpenFilesAllowIsRefusedBeforeForking) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(std::_Exit(launch_200_workers_with_256_files()), ::testing::ExitedWithCode(0), "");
}

}  // namespace
