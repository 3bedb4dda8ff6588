// Timeouts, aborts, bad arguments and the no-busy-wait property of the InProcess backend.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <sys/resource.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <unistd.h>
#include <thread>

#include "comm_test_util.h"
#include "gossamer/comm/traffic.h"
#include "gossamer/comm/workers.h"

using namespace gossamer::comm;
using namespace gossamer::comm::testing;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

class Timeouts : public ::testing::TestWithParam<Backend> {};

// Rank 2 of 3 never calls allreduce: ranks 0 and 1 get CommTimeout within the timeout + slack.
TEST_P(Timeouts, MissingRankTimesOut) {
  const auto timeout = std::chrono::milliseconds(300);
  std::vector<std::string> messages(3);
  std::vector<double> elapsed(3, -1.0);
  std::vector<int> kinds(3, 0);  // 0 none, 1 CommTimeout, 2 other
  const auto t0 = Clock::now();
  run_backend(
      GetParam(), 3,
      [&](Communicator& c) {
        EXPECT_EQ(c.timeout(), timeout);
        if (c.rank() == 2) return;
        at::Tensor t = at::ones({10});
        const auto start = Clock::now();
        try {
          c.allreduce(t);
        } catch (const CommTimeout& e) {
          kinds[static_cast<size_t>(c.rank())] = 1;
          messages[static_cast<size_t>(c.rank())] = e.what();
        } catch (const std::exception& e) {
          kinds[static_cast<size_t>(c.rank())] = 2;
          messages[static_cast<size_t>(c.rank())] = e.what();
        }
        elapsed[static_cast<size_t>(c.rank())] = seconds_since(start);
        // The communicator stays failed: a later call throws at once instead of hanging.
        const auto again = Clock::now();
        EXPECT_THROW(c.barrier(), CommError);
        EXPECT_LT(seconds_since(again), 0.2);
      },
      timeout);
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(kinds[static_cast<size_t>(r)], 1) << "rank " << r << ": " << messages[static_cast<size_t>(r)];
    EXPECT_GE(elapsed[static_cast<size_t>(r)], 0.25) << "rank " << r;
    EXPECT_LT(elapsed[static_cast<size_t>(r)], 0.3 + 2.0) << "rank " << r;
    EXPECT_NE(messages[static_cast<size_t>(r)].find("allreduce"), std::string::npos) << messages[static_cast<size_t>(r)];
    EXPECT_NE(messages[static_cast<size_t>(r)].find("rank " + std::to_string(r)), std::string::npos)
        << messages[static_cast<size_t>(r)];
    if (GetParam() == Backend::InProcess) {
      EXPECT_NE(messages[static_cast<size_t>(r)].find("rank(s) 2 did not reach"), std::string::npos)
          << messages[static_cast<size_t>(r)];
    }
  }
  EXPECT_LT(seconds_since(t0), 10.0);
}

// A packet that never comes: the receiver times out naming the silent sender.
TEST_P(Timeouts, ExchangeWithSilentPeerTimesOut) {
  const auto timeout = std::chrono::milliseconds(300);
  std::string message;
  run_backend(
      GetParam(), 2,
      [&](Communicator& c) {
        if (c.rank() == 1) return;
        const auto start = Clock::now();
        try {
          c.exchange({}, {1});
        } catch (const CommTimeout& e) {
          message = e.what();
        }
        EXPECT_LT(seconds_since(start), 2.3);
      },
      timeout);
  EXPECT_NE(message.find("rank 1"), std::string::npos) << message;
}

INSTANTIATE_TEST_SUITE_P(Backends, Timeouts, ::testing::Values(Backend::InProcess, Backend::Gloo),
                         [](const auto& info) { return backend_name(info.param); });

// A worker that throws makes the others stop quickly (not after the 60 s default timeout) with a
// CommError naming it, and run_inprocess rethrows the worker's own error, named by rank.
TEST(InProcess, FailedWorkerStopsTheOthersQuickly) {
  std::vector<std::string> seen(4);
  const auto t0 = Clock::now();
  try {
    run_inprocess(4, [&](Communicator& c) {
      if (c.rank() == 1) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        throw std::runtime_error("loss is NaN");
      }
      at::Tensor t = at::ones({3});
      try {
        c.allreduce(t);
      } catch (const CommError& e) {
        seen[static_cast<size_t>(c.rank())] = e.what();
        throw;
      }
    });
    ADD_FAILURE() << "run_inprocess should rethrow";
  } catch (const CommError& e) {
    ADD_FAILURE() << "the first error is rank 1's runtime_error, got CommError: " << e.what();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("rank 1: loss is NaN"), std::string::npos) << e.what();
  }
  EXPECT_LT(seconds_since(t0), 5.0);
  for (int r : {0, 2, 3}) {
    EXPECT_NE(seen[static_cast<size_t>(r)].find("rank 1 failed: loss is NaN"), std::string::npos) << seen[static_cast<size_t>(r)];
  }
}

// A LibTorch error in a worker reaches the user as its message, without the C++ stack trace
// c10::Error appends to what() ("Exception raised from ... frame #0: ..."); out of memory stays a
// std::bad_alloc, so the CLI can say what it is.
TEST(RunThreads, LibTorchErrorsLoseTheirStackTraceAndOutOfMemoryStaysItself) {
  try {
    run_threads(2, [](int r) {
      // 16 TB: the allocator refuses at once (nothing is touched) with a c10::Error whose what()
      // carries the stack trace.
      if (r == 1) (void)at::empty({int64_t{1} << 42});
    });
    ADD_FAILURE() << "run_threads should rethrow";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("rank 1: [enforce fail at"), std::string::npos) << what;
    EXPECT_NE(what.find("DefaultCPUAllocator: can't allocate memory: you tried to allocate 17592186044416 bytes"),
              std::string::npos) << what;
    EXPECT_EQ(what.find("frame #"), std::string::npos) << what;
    EXPECT_EQ(what.find("Exception raised from"), std::string::npos) << what;
  }
  EXPECT_THROW(run_threads(2, [](int r) {
                 if (r == 0) throw std::bad_alloc();
               }),
               std::bad_alloc);
}

// Regression: a thread the system cannot start (here: an address-space limit leaves room for a
// few 8 MB stacks, not 256) used to end the process in std::terminate (the vector of joinable
// threads was destroyed while unwinding); now that rank fails with a message, the started ranks
// are joined, and the caller gets the error. Run in a child process (a death test) so that the
// limit does not touch the test runner.
// The child's side: 0 when run_threads reported a rank that could not start, else why not.
int start_256_threads_with_room_for_a_few() {
  long pages = 0;
  FILE* statm = std::fopen("/proc/self/statm", "r");
  if (statm == nullptr || std::fscanf(statm, "%ld", &pages) != 1) return 3;
  std::fclose(statm);
  const rlim_t limit = static_cast<rlim_t>(pages) * static_cast<rlim_t>(sysconf(_SC_PAGESIZE)) + (64u << 20);
  const rlimit as{limit, limit};
  if (setrlimit(RLIMIT_AS, &as) != 0) return 4;
  try {
    run_threads(256, [](int) {});
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    const bool named = what.rfind("rank ", 0) == 0 && what.find("could not start its thread") != std::string::npos &&
                       what.find("for 256 workers") != std::string::npos;
    return named ? 0 : 5;
  }
  return 6;  // all 256 started: the limit did not bite
}

TEST(RunThreadsDeathTest, AThreadThatCannotStartFailsItsRankInsteadOfTerminating) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(std::_Exit(start_256_threads_with_room_for_a_few()), ::testing::ExitedWithCode(0), "");
}

// The child's side of the test below: 0 when 512 ring workers gossiped with a peak resident
// memory under 400 MB above where they started, 7 when not, 8 when the mixing was wrong.
int gossip_512_workers_and_check_memory() {
  const int n = 512;
  const auto topo = gossamer::topology::Topology("ring512", {ring_matrix(n)});
  rusage before{}, after{};
  getrusage(RUSAGE_SELF, &before);
  std::atomic<int> wrong{0};
  run_inprocess(n, [&](Communicator& c) {
    at::Tensor x = at::full({4096}, static_cast<float>(c.rank()));
    c.neighbor_allreduce(x, topo, 0);
    // A ring with metropolis weights 1/3: the mean of the rank and its two neighbours.
    const double r = c.rank(), want = r == 0 ? (0 + 1 + (n - 1)) / 3.0 : r == n - 1 ? (r - 1 + r + 0) / 3.0 : r;
    if (std::abs(x[0].item<double>() - want) > 1e-3) ++wrong;
  });
  getrusage(RUSAGE_SELF, &after);
  if (wrong.load() != 0) return 8;
  return (after.ru_maxrss - before.ru_maxrss) * 1024L < 400L * 1000 * 1000 ? 0 : 7;
}

// The child's side: 0 when a group of 1024 in-process workers, with a communicator each, takes
// under 200 MB before anything is sent; 7 when not.
int a_group_of_1024_workers_is_small() {
  rusage before{}, after{};
  getrusage(RUSAGE_SELF, &before);
  InProcessGroup group(1024, std::chrono::seconds(1));
  std::vector<std::unique_ptr<Communicator>> comms;
  for (int r = 0; r < 1024; ++r) comms.push_back(group.communicator(r));
  getrusage(RUSAGE_SELF, &after);
  return (after.ru_maxrss - before.ru_maxrss) * 1024L < 200L * 1000 * 1000 ? 0 : 7;
}

// Regression: every rank's mailbox held one empty std::deque per possible sender (about 600 bytes
// each): 1024 workers took 630 MB before sending a byte, 4096 workers 10 GB.
TEST(InProcessDeathTest, AGroupDoesNotHoldAQueuePerPairOfRanks) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(std::_Exit(a_group_of_1024_workers_is_small()), ::testing::ExitedWithCode(0), "");
}

// Regression: every worker's thread kept a mixing buffer of n blocks of 2048 floats whatever the
// chunk it mixed, n² x 8 KB in all: 512 workers took 2.1 GB more for a 16 kB model (4096 workers
// of any model, 137 GB: the kernel's out-of-memory killer ended `gossamer train`). Now a block is
// no longer than the chunk. In a child process, so that the peak is this test's own.
TEST(InProcessDeathTest, GossipMemoryDoesNotGrowAsWorkersSquared) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(std::_Exit(gossip_512_workers_and_check_memory()), ::testing::ExitedWithCode(0), "");
}

// Thousands of workers can miss one deadline: the message names the first 16 and counts the rest.
TEST(InProcess, ATimeoutNamesTheFirstSixteenMissingRanksAndCountsTheRest) {
  std::string seen;
  try {
    run_inprocess(
        20,
        [&](Communicator& c) {
          if (c.rank() >= 2) return;  // ranks 2..19 never call allreduce
          at::Tensor t = at::ones({2});
          try {
            c.allreduce(t);
          } catch (const CommTimeout& e) {
            if (c.rank() == 0) seen = e.what();
            throw;
          }
        },
        std::chrono::milliseconds(200));
  } catch (const CommTimeout&) {
  }
  EXPECT_NE(seen.find("rank(s) 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17 and 2 more did not reach "
                      "allreduce within 200 ms"),
            std::string::npos)
      << seen;
}

TEST(InProcess, AbortWakesWaitersWithCommError) {
  InProcessGroup group(2, std::chrono::seconds(30));
  auto c0 = group.communicator(0);
  auto c1 = group.communicator(1);
  EXPECT_THROW(group.communicator(1), std::logic_error);
  std::thread killer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    group.abort(1, "killed by the test");
  });
  const auto t0 = Clock::now();
  EXPECT_THROW(c0->barrier(), CommError);
  EXPECT_LT(seconds_since(t0), 2.0);
  killer.join();
  EXPECT_TRUE(group.failed());
  at::Tensor t = at::ones({2});
  EXPECT_THROW(c1->allreduce(t), CommError);
}

TEST(InProcess, MismatchedCallsAreReportedOnEveryRank) {
  std::atomic<int> errors{0};
  run_inprocess(3, [&](Communicator& c) {
    at::Tensor t = at::ones({c.rank() == 2 ? 8 : 7});
    try {
      c.allreduce(t);
    } catch (const CommError& e) {
      if (std::string(e.what()).find("rank 2 passed") != std::string::npos) ++errors;
    }
    // The group stays usable after a mismatch every rank saw.
    at::Tensor u = at::ones({4});
    c.allreduce(u);
    EXPECT_TRUE(at::equal(u, at::full({4}, 3.0f)));
  });
  EXPECT_EQ(errors.load(), 3);
}

TEST(InProcess, BadArgumentsNameTheProblem) {
  run_inprocess(2, [&](Communicator& c) {
    at::Tensor ints = at::ones({3}, at::kInt);
    EXPECT_THROW(c.allreduce(ints), std::invalid_argument);
    at::Tensor strided = at::ones({4, 4}).t();
    EXPECT_THROW(c.allreduce(strided), std::invalid_argument);
    at::Tensor t = at::ones({2});
    EXPECT_THROW(c.broadcast(t, 5), std::invalid_argument);
    EXPECT_THROW(c.group_allreduce(t, {1, 0}), std::invalid_argument);
    EXPECT_THROW(c.group_allreduce(t, {c.rank() == 0 ? 1 : 0}), std::invalid_argument);
    EXPECT_THROW(c.set_timeout(std::chrono::milliseconds(0)), std::invalid_argument);
    NetworkModel bad;
    bad.bandwidth_bytes_per_s = 0;
    EXPECT_THROW(c.set_network(bad), std::invalid_argument);
    const auto topo = test_topology(3);
    EXPECT_THROW(c.neighbor_allreduce(t, topo, 0), std::invalid_argument);
  });
}

// 64 workers on 2 cores: many collectives on a small model finish quickly, and 63 ranks waiting
// for a slow one burn no CPU (they sleep on a condition variable).
TEST(InProcess, SixtyFourWorkersWithoutBusyWaiting) {
  const int n = 64;
  const auto topo = gossamer::topology::Topology("ring64", {ring_matrix(n)});
  const auto t0 = Clock::now();
  std::vector<at::Tensor> out(n);
  run_inprocess(n, [&](Communicator& c) {
    at::Tensor x = at::full({10000}, static_cast<float>(c.rank()));
    for (int step = 0; step < 20; ++step) {
      at::Tensor g = at::ones({10000});
      c.allreduce(g, ReduceOp::Mean);
      c.neighbor_allreduce(x, topo, step);
    }
    out[static_cast<size_t>(c.rank())] = x;
  });
  EXPECT_LT(seconds_since(t0), 30.0);
  // Gossip keeps the average: the mean over ranks is still (n-1)/2.
  double mean = 0;
  for (const auto& x : out) mean += x.mean().item<double>();
  EXPECT_NEAR(mean / n, (n - 1) / 2.0, 1e-3);

  rusage before{}, after{};
  getrusage(RUSAGE_SELF, &before);
  const auto w0 = Clock::now();
  run_inprocess(n, [&](Communicator& c) {
    if (c.rank() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(500));
    c.barrier();
  });
  getrusage(RUSAGE_SELF, &after);
  const auto cpu = [](const rusage& u) {
    return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
  };
  const double wall = seconds_since(w0);
  EXPECT_GE(wall, 0.5);
  EXPECT_LT(cpu(after) - cpu(before), 0.25) << "63 waiting threads should sleep, not spin";
}

TEST(Traffic, ChunksAndFormulas) {
  for (int n : {1, 2, 3, 5, 8}) {
    for (int64_t numel : {0, 1, 7, 1000}) {
      int64_t total = 0;
      for (int c = 0; c < n; ++c) {
        EXPECT_EQ(ring_chunk_offset(n, numel, c), total);
        total += ring_chunk(n, numel, c);
      }
      EXPECT_EQ(total, numel);
      uint64_t sent = 0, received = 0;
      for (int i = 0; i < n; ++i) {
        const Traffic t = ring_allreduce_traffic(n, i, numel, 4, NetworkModel{});
        sent += t.bytes_sent;
        received += t.bytes_received;
      }
      EXPECT_EQ(sent, received);  // every byte sent is received by someone
      if (n > 1) {
        EXPECT_EQ(sent, static_cast<uint64_t>(2 * (n - 1) * numel * 4));
      }
    }
  }
  NetworkModel net;
  EXPECT_DOUBLE_EQ(net.seconds(125000000), 1.0 + 50e-6);
  EXPECT_EQ(log2_ceil(1), 0);
  EXPECT_EQ(log2_ceil(5), 3);
  EXPECT_EQ(log2_ceil(8), 3);
  // Binomial broadcast from root 2 of 5: every rank but the root receives exactly once.
  uint64_t msgs = 0;
  for (int r = 0; r < 5; ++r) {
    const Traffic t = broadcast_traffic(5, r, 2, 100, net);
    msgs += t.messages_sent;
    EXPECT_EQ(t.messages_received, r == 2 ? 0u : 1u);
  }
  EXPECT_EQ(msgs, 4u);
}

TEST(RunThreads, RethrowsFirstErrorNamedByRankKeepingType) {
  try {
    run_threads(3, [](int r) {
      if (r == 2) throw CommTimeout("late");
    });
    ADD_FAILURE();
  } catch (const CommTimeout& e) {
    EXPECT_STREQ(e.what(), "rank 2: late");
  }
  EXPECT_NO_THROW(run_threads(4, [](int) {}));
}

}  // namespace
