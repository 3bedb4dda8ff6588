// Gloo workers on separate "hosts": tests/netns/netns_cluster.sh puts each worker in its own Linux
// network namespace (own loopback, one interface gsm<K> at 10.77.0.<K+1>/24, joined by a bridge in
// a namespace of its own), so the TCP store, Gloo's connections and the choice of address and
// interface are exercised as on separate machines. A 4-worker ring run there must give the iterates
// of the same run over loopback (`gossamer launch`), bit for bit; a worker whose link goes down
// must stop the others within cluster.timeout_ms, named; and the harness must leave no namespace
// behind, whatever happens. Where namespaces cannot be made (not root, no `ip`), the harness exits
// 77 and these tests skip, saying why.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <cstring>
#include <filesystem>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_runner.h"
#include "gossamer/train/torch_state_dict.h"

namespace netns_cluster_test {

using ::testing::HasSubstr;
using ::testing::Not;
using gossamer::testing::run_shell;
using gossamer::testing::tool_path;
using gossamer::testing::ToolResult;
using Clock = std::chrono::steady_clock;

constexpr int kSkip = 77;  // the harness's "namespaces cannot be made here"
const std::string kHarness = std::string(GOSSAMER_SOURCE_DIR) + "/tests/netns/netns_cluster.sh";

struct Timed {
  ToolResult r;
  double seconds = 0;
};

Timed timed_shell(const std::string& command) {
  const auto t0 = Clock::now();
  Timed t{run_shell(command), 0};
  t.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return t;
}

// The harness under an outer `timeout` (a bug in it must not hang the suite); ARGS is shell text.
Timed harness(const std::string& args, int outer_timeout_s = 150) {
  return timed_shell("timeout -s KILL " + std::to_string(outer_timeout_s) + " bash " + kHarness + " " + args);
}

// The namespaces whose names start with `tag`, as `ip netns list` shows them.
std::vector<std::string> namespaces_named(const std::string& tag) {
  std::vector<std::string> found;
  const ToolResult r = run_shell("ip netns list");
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(tag, 0) == 0) found.push_back(line.substr(0, line.find(' ')));
  }
  return found;
}

// "gsmnet-1234" from the harness's "namespaces gsmnet-1234-*: ..." line; "" when absent.
std::string tag_of(const std::string& out) {
  std::smatch m;
  return std::regex_search(out, m, std::regex("namespaces ([A-Za-z0-9-]+)-\\*:")) ? m[1].str() : "";
}

// The model tensors of a checkpoint, read with the project's own torch.save reader.
gossamer::train::NamedTensors model_of(const std::string& path) {
  const c10::IValue file = gossamer::train::load_torch_file(path);
  return gossamer::train::tensors_of(file.toGenericDict().at("model"), path, "model");
}

bool same_bits(const at::Tensor& a, const at::Tensor& b) {
  return a.scalar_type() == b.scalar_type() && a.sizes() == b.sizes() && a.is_contiguous() && b.is_contiguous() &&
         std::memcmp(a.data_ptr(), b.data_ptr(), a.nbytes()) == 0;
}

// Rank 0's train rows of a run: (loss, wall_s) per logged step, in order.
struct TrainRows {
  std::vector<double> loss, wall_s;
};
TrainRows train_rows(const std::string& run_dir) {
  TrainRows rows;
  std::ifstream in(run_dir + "/metrics.jsonl");
  std::string line;
  for (int n = 0; n < 100000 && std::getline(in, line); ++n) {
    const auto j = nlohmann::json::parse(line);
    if (j.value("event", "") != "train") continue;
    rows.loss.push_back(j.at("loss").get<double>());
    rows.wall_s.push_back(j.at("wall_s").get<double>());
  }
  return rows;
}

// Every rank's checkpoint in `a_dir` holds the same parameters, bit for bit, as in `b_dir`, and
// rank 0 logged the same 8 losses.
void expect_same_iterates(const std::string& a_dir, const std::string& b_dir, int workers) {
  std::vector<gossamer::train::NamedTensors> ranks;
  for (int k = 0; k < workers; ++k) {
    const std::string name = "/checkpoint-rank" + std::to_string(k) + ".pt";
    const auto a = model_of(a_dir + name), b = model_of(b_dir + name);
    ASSERT_EQ(a.size(), b.size()) << name;
    ASSERT_EQ(a.size(), 4u) << name;  // weights and biases of the 784-16-10 MLP
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].first, b[i].first);
      EXPECT_TRUE(same_bits(a[i].second, b[i].second))
          << "rank " << k << " " << a[i].first << ": max |difference| "
          << (a[i].second - b[i].second).abs().max().item<double>();
    }
    ranks.push_back(a);
  }
  // Gossip leaves the ranks apart after 8 steps: what was compared are distinct iterates.
  EXPECT_FALSE(same_bits(ranks[0][0].second, ranks[1][0].second));
  const TrainRows ra = train_rows(a_dir), rb = train_rows(b_dir);
  EXPECT_EQ(ra.loss.size(), 8u);
  EXPECT_EQ(ra.loss, rb.loss);
}

// 4 ring workers, 64 samples each, batch 16: 4 steps an epoch, 2 epochs; one thread per worker.
std::string ring_config(const std::string& extra_train = "", int timeout_ms = 20000) {
  return "[model]\nname = \"mlp\"\nhidden = [16]\n"
         "[data]\ntrain_limit = 256\ntest_limit = 100\n"
         "[train]\nepochs = 2\nbatch_size = 16\nlog_every = 1\nthreads = 1\nseed = 11\n" + extra_train +
         "[optimizer]\nalgorithm = \"dsgd\"\nlr = 0.05\n"
         "[cluster]\nworkers = 4\nbackend = \"gloo\"\ntopology = \"ring\"\ntimeout_ms = " +
         std::to_string(timeout_ms) + "\n[output]\nprogress = \"lines\"\n";
}

// The ring run over loopback (`gossamer launch --workers 4`), made once for the tests that compare
// with it. It runs in a namespace of its own that has only a loopback interface: LibTorch 1.13's
// TCPStore listens on every interface (its API has no bind address), and a test must not open a
// port on the host's.
struct Reference {
  std::string dir;
  double seconds = 0;
  ToolResult r;
};

class NetnsCluster : public ::testing::Test {
 public:
  static void TearDownTestSuite() {
    if (!reference_root().empty()) std::filesystem::remove_all(reference_root());
  }

 protected:
  static std::string& reference_root() {
    static std::string root;
    return root;
  }
  static const Reference& loopback_reference() {
    static Reference ref = [] {
      Reference r;
      reference_root() = (std::filesystem::temp_directory_path() / ("gossamer_netns_loopback_" + std::to_string(::getpid()))).string();
      std::filesystem::remove_all(reference_root());
      std::filesystem::create_directories(reference_root());
      const std::string cfg = reference_root() + "/run.toml";
      gossamer::testing::write_text(cfg, ring_config());
      r.dir = reference_root() + "/loop";
      const Timed t = harness("-n 1 --no-ifname --timeout 120 --tag gsmtloop-" + std::to_string(::getpid()) + " -- " +
                              tool_path() + " launch --workers 4 -- " + tool_path() + " train " + cfg +
                              " --set output.dir=" + r.dir);
      r.seconds = t.seconds;
      r.r = t.r;
      return r;
    }();
    return ref;
  }

  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() /
            ("gossamer_netns_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "_" +
             std::to_string(::getpid()));
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
  }
  void TearDown() override {
    if (!root_.empty()) std::filesystem::remove_all(root_);
  }
  // True when the harness said namespaces cannot be made here (SKIP_WITHOUT_NAMESPACES skips then).
  static bool skipped(const Timed& t) { return t.r.status == kSkip; }
  std::string path(const std::string& name) const { return (root_ / name).string(); }
  // A namespace tag unique to this test and process.
  std::string unique_tag(const std::string& what) const { return "gsmt" + what + "-" + std::to_string(::getpid()); }

  std::filesystem::path root_;
};

#define SKIP_WITHOUT_NAMESPACES(t)                                                            \
  if (skipped(t)) GTEST_SKIP() << "network namespaces cannot be made here: " << (t).r.out; \
  static_assert(true, "")

#define SKIP_WITHOUT_TRAINING()                                                                        \
  if (!gossamer::testing::tool_built()) GTEST_SKIP() << tool_path() << " not built";                   \
  if (!gossamer::testing::have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST not installed"; \
  static_assert(true, "")

TEST_F(NetnsCluster, FourRingWorkersOnFourHostsGiveTheLoopbackIteratesBitForBit) {
  SKIP_WITHOUT_TRAINING();
  gossamer::testing::write_text(path("run.toml"), ring_config());
  const std::string train = tool_path() + " train " + path("run.toml") + " --set output.dir=";
  const std::string tag = unique_tag("ring");

  const Timed hosts = harness("-n 4 --timeout 120 --tag " + tag + " -- " + train + path("hosts"));
  SKIP_WITHOUT_NAMESPACES(hosts);
  EXPECT_THAT(namespaces_named(tag), ::testing::IsEmpty()) << "left behind";
  ASSERT_EQ(hosts.r.status, 0) << hosts.r.out;
  EXPECT_THAT(hosts.r.out, HasSubstr("all 4 worker(s) exited 0"));
  // The data crossed the links: each worker sends its 12 730 float32 parameters (50 920 bytes) to
  // both ring neighbours at each of the 8 steps, so at least 16 x 50 920 bytes left its namespace.
  for (int k = 0; k < 4; ++k) {
    std::smatch m;
    const std::string rank = std::to_string(k);
    ASSERT_TRUE(std::regex_search(hosts.r.out, m, std::regex("rank " + rank + " \\(gsm" + rank +
                                                             " 10\\.77\\.0\\.[0-9]+\\): status 0 after [0-9.]+ s; "
                                                             "its link sent ([0-9]+) bytes")))
        << hosts.r.out;
    EXPECT_GE(std::stoll(m[1].str()), 16 * 50920) << "rank " << k << "\n" << hosts.r.out;
  }

  const Reference& loop = loopback_reference();
  ASSERT_EQ(loop.r.status, 0) << loop.r.out;
  std::cout << "[ netns ] 4 namespaces: " << hosts.seconds << " s (training " << train_rows(path("hosts")).wall_s.back()
            << " s); loopback launch: " << loop.seconds << " s (training " << train_rows(loop.dir).wall_s.back()
            << " s)\n";
  expect_same_iterates(path("hosts"), loop.dir, 4);
}

// The same run with ranks 0-1 and 2-3 on two bridges joined only by netns_tap_relay, a user-space
// link that delays every frame 10 ms each way and drops one frame in 1000: TCP retransmits, the run
// is slower, the iterates are those of loopback.
TEST_F(NetnsCluster, ASlowLossyLinkSlowsTheRunButGivesTheSameIterates) {
  SKIP_WITHOUT_TRAINING();
  const std::string relay = std::string(GOSSAMER_BINARY_DIR) + "/bin/netns_tap_relay";
  if (::access(relay.c_str(), X_OK) != 0) GTEST_SKIP() << relay << " not built";
  gossamer::testing::write_text(path("run.toml"), ring_config());
  const std::string tag = unique_tag("slow");
  const int delay_ms = 10;
  const Timed slow = harness("-n 4 --timeout 120 --tag " + tag + " --split 2 --relay " + relay + " --delay-ms " +
                             std::to_string(delay_ms) + " --drop-every 1000 -- " + tool_path() + " train " +
                             path("run.toml") + " --set output.dir=" + path("slow"));
  SKIP_WITHOUT_NAMESPACES(slow);
  EXPECT_THAT(namespaces_named(tag), ::testing::IsEmpty()) << "left behind";
  ASSERT_EQ(slow.r.status, 0) << slow.r.out;
  // Half the ring's links cross the relay, both ways.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(slow.r.out, m, std::regex("tap0->tap1 ([0-9]+) frames \\(([0-9]+) bytes, ([0-9]+) dropped\\), "
                                                          "tap1->tap0 ([0-9]+) frames \\(([0-9]+) bytes, ([0-9]+) dropped")))
      << slow.r.out;
  EXPECT_GE(std::stoll(m[2].str()), 16 * 50920) << slow.r.out;
  EXPECT_GE(std::stoll(m[5].str()), 16 * 50920) << slow.r.out;
  EXPECT_GE(std::stoll(m[3].str()) + std::stoll(m[6].str()), 1) << "nothing dropped\n" << slow.r.out;

  const Reference& loop = loopback_reference();
  ASSERT_EQ(loop.r.status, 0) << loop.r.out;
  const double slow_s = train_rows(path("slow")).wall_s.back(), fast_s = train_rows(loop.dir).wall_s.back();
  std::cout << "[ netns ] training over the " << delay_ms << " ms relay: " << slow_s << " s (run " << slow.seconds
            << " s); loopback: " << fast_s << " s (run " << loop.seconds << " s)\n";
  // Each of the 8 steps waits at least once for a message across the link.
  EXPECT_GE(slow_s, fast_s + 8 * delay_ms / 1000.0);
  expect_same_iterates(path("slow"), loop.dir, 4);
}

TEST_F(NetnsCluster, AWorkerCutOffTheNetworkStopsTheOthersWithinTheTimeoutNamingIt) {
  SKIP_WITHOUT_TRAINING();
  // Long enough that rank 2 drops off mid-run; every call gives up after 3 s.
  gossamer::testing::write_text(path("run.toml"), ring_config("max_steps = 100000\n", 3000));
  const std::string tag = unique_tag("cut");
  const Timed t = harness("-n 4 --timeout 60 --tag " + tag + " --cut 2 --cut-when 'step 3/' -- " + tool_path() +
                          " train " + path("run.toml") + " --set train.epochs=100000 --set output.dir=" + path("run"));
  SKIP_WITHOUT_NAMESPACES(t);
  EXPECT_THAT(namespaces_named(tag), ::testing::IsEmpty()) << "left behind";
  EXPECT_THAT(t.r.out, HasSubstr("took rank 2's link gsm2 down"));
  EXPECT_NE(t.r.status, 0) << t.r.out;
  EXPECT_NE(t.r.status, 124) << "the workers did not stop by themselves\n" << t.r.out;
  EXPECT_THAT(t.r.out, Not(HasSubstr("timeout: ")));
  // Its ring neighbours give up waiting for it, and say so.
  EXPECT_THAT(t.r.out, ::testing::ContainsRegex("\\[1\\] [^\n]*waiting for rank 2 timed out after 3000 ms")) << t.r.out;
  EXPECT_THAT(t.r.out, ::testing::ContainsRegex("\\[3\\] [^\n]*waiting for rank 2 timed out after 3000 ms")) << t.r.out;
  for (int k = 0; k < 4; ++k) {
    EXPECT_THAT(t.r.out, ::testing::ContainsRegex("rank " + std::to_string(k) + " \\(gsm[0-9] [0-9.]+\\): status [1-9]"))
        << "rank " << k << " exited 0?\n" << t.r.out;
  }
  EXPECT_LT(t.seconds, 30.0) << t.r.out;
}

// Without GLOO_SOCKET_IFNAME a worker advertises the address it sends from towards MASTER_ADDR
// (what torchrun users on plain machines rely on); Gloo's own default would be the address the
// host name resolves to, which is loopback here.
TEST_F(NetnsCluster, WithoutGlooSocketIfnameEachWorkerUsesItsAddressTowardsTheMaster) {
  if (!gossamer::testing::tool_built()) GTEST_SKIP() << tool_path() << " not built";
  const std::string tag = unique_tag("noif");
  const Timed t = harness("-n 3 --timeout 60 --no-ifname --tag " + tag + " -- " + tool_path() +
                          " comm-selftest --timeout-ms 15000");
  SKIP_WITHOUT_NAMESPACES(t);
  EXPECT_THAT(namespaces_named(tag), ::testing::IsEmpty()) << "left behind";
  EXPECT_EQ(t.r.status, 0) << t.r.out;
  for (int k = 0; k < 3; ++k) {
    EXPECT_THAT(t.r.out, HasSubstr("[" + std::to_string(k) + "] comm-selftest: rank " + std::to_string(k) + " of 3 ok"))
        << t.r.out;
  }
}

TEST_F(NetnsCluster, AFailingWorkerIsNamedAndItsStatusReturned) {
  const std::string tag = unique_tag("fail");
  const Timed t = harness("-n 3 --timeout 30 --stop-on-failure --tag " + tag +
                          " -- sh -c 'if [ \"$RANK\" = 1 ]; then echo bye; exit 5; fi; exec sleep 30'");
  SKIP_WITHOUT_NAMESPACES(t);
  EXPECT_THAT(namespaces_named(tag), ::testing::IsEmpty()) << "left behind";
  EXPECT_EQ(t.r.status, 5) << t.r.out;
  EXPECT_THAT(t.r.out, HasSubstr("rank 1 exited with status 5"));
  EXPECT_THAT(t.r.out, HasSubstr("stopping the other 2 worker(s)"));
  EXPECT_THAT(t.r.out, HasSubstr("[1] bye"));
  EXPECT_LT(t.seconds, 15.0) << t.r.out;
}

// Workers that ignore SIGTERM get SIGKILL; so does what they started (a sleep that ignores SIGTERM
// too and outlives its killed parent): every process in the namespaces is stopped.
TEST_F(NetnsCluster, TheBoundedTimeoutStopsHangingWorkers) {
  const std::string tag = unique_tag("hang");
  const Timed t = harness("-n 2 --timeout 1 --tag " + tag + " -- sh -c 'trap \"\" TERM; sleep 31.25; true'");
  SKIP_WITHOUT_NAMESPACES(t);
  EXPECT_THAT(namespaces_named(tag), ::testing::IsEmpty()) << "left behind";
  EXPECT_NE(run_shell("pgrep -f 'sleep 31[.]25'").status, 0) << "a worker's child survived";
  EXPECT_EQ(t.r.status, 124) << t.r.out;
  EXPECT_THAT(t.r.out, HasSubstr("timeout: 2 worker(s) still running after 1 s"));
  EXPECT_LT(t.seconds, 12.0) << t.r.out;
}

TEST_F(NetnsCluster, ASignalledHarnessRemovesItsNamespaces) {
  const std::string tag = unique_tag("term");
  // SIGTERM 2 s in, while the workers sleep.
  const Timed t = timed_shell("timeout -s TERM 2 bash " + kHarness + " -n 3 --tag " + tag + " -- sleep 30");
  SKIP_WITHOUT_NAMESPACES(t);
  EXPECT_THAT(t.r.out, HasSubstr("terminated (SIGTERM); stopping the workers")) << t.r.out;
  EXPECT_THAT(namespaces_named(tag), ::testing::IsEmpty()) << "left behind";
  EXPECT_LT(t.seconds, 10.0) << t.r.out;
}

// SIGKILL leaves no chance to clean up: the next run removes what a killed one left.
TEST_F(NetnsCluster, NamespacesOfAKilledHarnessAreRemovedByTheNextRun) {
  const Timed killed = timed_shell("timeout -s KILL 2 bash " + kHarness + " -n 2 -- sleep 20");
  SKIP_WITHOUT_NAMESPACES(killed);
  const std::string tag = tag_of(killed.r.out);
  ASSERT_FALSE(tag.empty()) << killed.r.out;
  // Its bridge and 2 workers are left, unless a harness started in between (a test running in
  // parallel under ctest -j) has removed them already.
  const size_t left = namespaces_named(tag + "-").size();
  EXPECT_TRUE(left == 3 || left == 0) << left;
  const Timed next = harness("-n 1 --timeout 10 -- true");
  EXPECT_EQ(next.r.status, 0) << next.r.out;
  if (left == 3) {
    EXPECT_THAT(next.r.out, HasSubstr("removed namespace " + tag + "-br left by a killed run"));
  }
  EXPECT_THAT(namespaces_named(tag + "-"), ::testing::IsEmpty()) << "left behind";
  // Its log folder too (netns_cluster.<pid>.XXXXXX).
  const std::string pid = tag.substr(tag.find('-') + 1);
  EXPECT_EQ(run_shell("ls -d \"${TMPDIR:-/tmp}\"/netns_cluster." + pid + ".* 2>/dev/null").out, "");
}

TEST_F(NetnsCluster, WithoutTheIpCommandTheHarnessExitsWithTheSkipStatus) {
  const ToolResult r = run_shell("env PATH=/nonexistent /bin/bash " + kHarness + " -n 2 -- true");
  EXPECT_EQ(r.status, kSkip) << r.out;
  EXPECT_THAT(r.out, HasSubstr("SKIP: no 'ip' command (install iproute2)"));
}

TEST_F(NetnsCluster, NotRootIsASkip) {
  if (::geteuid() != 0) {
    const ToolResult r = run_shell("bash " + kHarness + " -n 2 -- true");
    EXPECT_EQ(r.status, kSkip) << r.out;
    EXPECT_THAT(r.out, HasSubstr("SKIP: not root"));
    return;
  }
  if (run_shell("command -v setpriv").status != 0) GTEST_SKIP() << "no setpriv to drop root";
  const ToolResult r =
      run_shell("setpriv --reuid=65534 --regid=65534 --clear-groups /bin/bash " + kHarness + " -n 2 -- true");
  EXPECT_EQ(r.status, kSkip) << r.out;
  EXPECT_THAT(r.out, HasSubstr("SKIP: not root (uid 65534)"));
}

TEST_F(NetnsCluster, BadOptionsAreUsageErrors) {
  EXPECT_EQ(run_shell("timeout 10 bash " + kHarness + " -n 0 -- true").status, 2);
  EXPECT_EQ(run_shell("timeout 10 bash " + kHarness + " -n 2").status, 2);
  EXPECT_EQ(run_shell("timeout 10 bash " + kHarness + " --port").status, 2);  // a missing value, not a loop
  const ToolResult r = run_shell("timeout 10 bash " + kHarness + " -n 2 --cut 5 -- true");
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.out, HasSubstr("--cut '5' is not a rank below 2"));
}

}  // namespace netns_cluster_test
