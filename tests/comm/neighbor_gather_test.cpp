// neighbor_gather on both backends: every in-neighbour's own tensor, in in_neighbors order, for
// N in {1, 2, 3, 5, 8}, sizes {0, 1, 7, 1000} and three dtypes; counters equal to the payloads.
// And the Gloo backend's byte counters against the payload sizes of the sends the test made.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <mutex>
#include <tuple>

#include "comm_test_util.h"
#include "gossamer/comm/traffic.h"

using namespace gossamer::comm;
using namespace gossamer::comm::testing;

namespace neighbor_gather_test {

class NeighborGather : public ::testing::TestWithParam<std::tuple<Backend, int>> {
 protected:
  Backend backend() const { return std::get<0>(GetParam()); }
  int n() const { return std::get<1>(GetParam()); }
};

TEST_P(NeighborGather, ReturnsEachInNeighboursTensorInOrder) {
  const int N = n();
  const auto topo = test_topology(N);  // period 2: a ring, then an irregular directed matrix
  const int steps = 3;
  for (at::ScalarType dtype : {at::kFloat, at::kDouble, at::kLong}) {
    for (int64_t numel : {int64_t{0}, int64_t{1}, int64_t{7}, int64_t{1000}}) {
      at::Tensor x = make_inputs(N, numel, 7 + static_cast<uint64_t>(numel)).mul(100).to(dtype);
      std::mutex mu;
      std::vector<std::string> failures;
      run_backend(backend(), N, [&](Communicator& c) {
        const int r = c.rank();
        for (int k = 0; k < steps; ++k) {
          // Each step sends a different tensor, so that a stale buffer would show.
          at::Tensor mine = (x[r] + k).contiguous();
          c.reset_stats();
          const auto got = c.neighbor_gather(mine, topo, k);
          const auto ins = topo.in_neighbors(r, k);
          const auto outs = topo.out_neighbors(r, k);
          std::lock_guard<std::mutex> lock(mu);
          const std::string what = std::string(c10::toString(dtype)) + " size " + std::to_string(numel) + " step " +
                                   std::to_string(k) + " rank " + std::to_string(r);
          if (got.size() != ins.size()) {
            failures.push_back(what + ": " + std::to_string(got.size()) + " tensors for " +
                               std::to_string(ins.size()) + " in-neighbours");
            continue;
          }
          for (size_t i = 0; i < ins.size(); ++i) {
            if (!at::equal(got[i], x[ins[i].rank] + k)) failures.push_back(what + ": wrong tensor from " + std::to_string(ins[i].rank));
          }
          EXPECT_TRUE(at::equal(mine, x[r] + k)) << what << ": the sent tensor was changed";
          const uint64_t b = static_cast<uint64_t>(mine.nbytes());
          EXPECT_EQ(c.stats().bytes_sent, numel ? outs.size() * b : 0u) << what;
          EXPECT_EQ(c.stats().bytes_received, numel ? ins.size() * b : 0u) << what;
          EXPECT_EQ(c.stats().calls, 1u) << what;
        }
      });
      EXPECT_TRUE(failures.empty()) << failures.front();
    }
  }
}

TEST_P(NeighborGather, RejectsATopologyOfAnotherSize) {
  const int N = n();
  const auto wrong = test_topology(N + 1);
  run_backend(backend(), N, [&](Communicator& c) {
    at::Tensor t = at::ones({3});
    try {
      c.neighbor_gather(t, wrong, 0);
      ADD_FAILURE() << "a topology of " << N + 1 << " ranks was accepted by " << N;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("neighbor_gather"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("build the topology"), std::string::npos) << e.what();
    }
  });
}

INSTANTIATE_TEST_SUITE_P(Backends, NeighborGather,
                         ::testing::Combine(::testing::Values(Backend::InProcess, Backend::Gloo),
                                            ::testing::Values(1, 2, 3, 5, 8)),
                         [](const auto& info) {
                           return backend_name(std::get<0>(info.param)) + "_n" + std::to_string(std::get<1>(info.param));
                         });

TEST(NeighborGatherTimeout, ASilentNeighbourTimesOutNamingTheOp) {
  // Rank 2 of 3 never calls: on the ring, ranks 0 and 1 both wait for it and get CommTimeout.
  const auto topo = test_topology(3);
  for (Backend b : {Backend::InProcess, Backend::Gloo}) {
    std::vector<std::string> messages(3);
    std::vector<int> kinds(3, 0);  // 0 none, 1 CommTimeout, 2 other
    run_backend(
        b, 3,
        [&](Communicator& c) {
          if (c.rank() == 2) return;
          at::Tensor t = at::ones({4});
          try {
            c.neighbor_gather(t, topo, 0);
          } catch (const CommTimeout& e) {
            kinds[static_cast<size_t>(c.rank())] = 1;
            messages[static_cast<size_t>(c.rank())] = e.what();
          } catch (const std::exception& e) {
            kinds[static_cast<size_t>(c.rank())] = 2;
            messages[static_cast<size_t>(c.rank())] = e.what();
          }
        },
        std::chrono::milliseconds(300));
    for (int r = 0; r < 2; ++r) {
      const std::string& m = messages[static_cast<size_t>(r)];
      EXPECT_EQ(kinds[static_cast<size_t>(r)], 1) << backend_name(b) << " rank " << r << ": " << m;
      EXPECT_NE(m.find("neighbor_gather"), std::string::npos) << m;
      EXPECT_NE(m.find("rank " + std::to_string(r)), std::string::npos) << m;
    }
  }
}

// The Gloo counters report what was handed to the transport: here the sizes of every payload the
// test itself asked to send (tensors of rank-dependent size, packets of rank-dependent size),
// summed by the test, and compared with what the communicator counted.
TEST(GlooWireCounters, EqualThePayloadsTheTestSent) {
  const int N = 5;
  const auto topo = test_topology(N);
  std::mutex mu;
  std::vector<std::string> failures;
  run_gloo_threads(N, [&](Communicator& c) {
    const int r = c.rank();
    uint64_t expect_sent = 0, expect_received = 0;
    // neighbor_gather / neighbor_allreduce of a 37-float tensor at steps 0 and 1.
    for (int k = 0; k < 2; ++k) {
      at::Tensor t = at::full({37}, static_cast<float>(r));
      const auto got = c.neighbor_gather(t, topo, k);
      expect_sent += topo.out_neighbors(r, k).size() * 37 * 4;
      for (const auto& g : got) expect_received += static_cast<uint64_t>(g.nbytes());
      c.neighbor_allreduce(t, topo, k);
      expect_sent += topo.out_neighbors(r, k).size() * 37 * 4;
      expect_received += topo.in_neighbors(r, k).size() * 37 * 4;
    }
    // exchange: rank r sends 3r + 1 bytes to r + 1 and nothing to r + 2 (an empty packet).
    std::vector<std::pair<int, Bytes>> out{{(r + 1) % N, Bytes(static_cast<size_t>(3 * r + 1), 7)},
                                           {(r + 2) % N, Bytes()}};
    const auto packets = c.exchange(out, {(r + N - 1) % N, (r + N - 2) % N});
    for (const auto& [dst, p] : out) expect_sent += kExchangeHeaderBytes + p.size();
    for (const auto& p : packets) expect_received += kExchangeHeaderBytes + p.size();
    // allreduce of 1001 doubles: over the ring each rank passes on 2(n-1) chunks of its tensor.
    at::Tensor a = at::ones({1001}, at::kDouble);
    c.allreduce(a, ReduceOp::Sum);
    expect_sent += ring_sent(N, r, 1001, 8);
    expect_received += ring_received(N, r, 1001, 8);
    // broadcast from rank 3: the binomial tree's children of this rank, B each.
    at::Tensor bt = at::zeros({10});
    c.broadcast(bt, 3);
    const int v = (r - 3 + N) % N;
    for (int d = 1; d < N; d <<= 1) {
      if (v < d && v + d < N) expect_sent += 40;
    }
    if (v > 0) expect_received += 40;
    std::lock_guard<std::mutex> lock(mu);
    if (c.stats().bytes_sent != expect_sent || c.stats().bytes_received != expect_received) {
      failures.push_back("rank " + std::to_string(r) + ": counted " + std::to_string(c.stats().bytes_sent) + " / " +
                         std::to_string(c.stats().bytes_received) + " bytes sent / received, the test sent " +
                         std::to_string(expect_sent) + " / " + std::to_string(expect_received));
    }
    EXPECT_DOUBLE_EQ(a[0].item<double>(), N);
  });
  EXPECT_TRUE(failures.empty()) << failures.front();
}

}  // namespace neighbor_gather_test
