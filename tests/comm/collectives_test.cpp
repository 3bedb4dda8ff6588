// Every collective on both backends, for N in {1, 2, 3, 5, 8} and sizes {0, 1, 7, 1000, 5000}, against
// an independent reference, with the byte counters checked against the formulas of docs/comm.md.
// Each test body builds one group of N workers and loops over the sizes inside it (building a
// Gloo group of 8 threads costs tens of ms; doing it per size would dominate the suite).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <tuple>

#include "comm_test_util.h"
#include "gossamer/comm/traffic.h"

using namespace gossamer::comm;
using namespace gossamer::comm::testing;

namespace {

const std::vector<int64_t> kSizes{0, 1, 7, 1000, 5000};  // 5000: chunks span several 2048-element blocks

class Collectives : public ::testing::TestWithParam<std::tuple<Backend, int>> {
 protected:
  Backend backend() const { return std::get<0>(GetParam()); }
  int n() const { return std::get<1>(GetParam()); }
  bool exact() const { return backend() == Backend::InProcess; }
  void run(const std::function<void(Communicator&)>& fn) { run_backend(backend(), n(), fn); }

  // InProcess must be bit-identical to the rank-order reference; Gloo sums in its own order.
  void expect_result(const at::Tensor& got, const at::Tensor& want, const std::string& what) {
    if (exact()) {
      EXPECT_TRUE(at::equal(got, want)) << what << ": not bit-identical to the rank-order reference";
    } else {
      EXPECT_TRUE(at::allclose(got, want, 1e-5, 1e-5)) << what << ": max error " << (got - want).abs().max().item<double>();
    }
  }
};

// sum_j X[j] accumulated in order j = 0, 1, ... (the InProcess order).
at::Tensor in_order_sum(const at::Tensor& x, const std::vector<int>& rows) {
  at::Tensor acc = x[rows[0]].clone();
  for (size_t k = 1; k < rows.size(); ++k) acc = acc + x[rows[k]];
  return acc;
}

TEST_P(Collectives, AllreduceSumAndMean) {
  const int N = n();
  for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Mean}) {
    std::vector<at::Tensor> inputs;
    for (int64_t numel : kSizes) inputs.push_back(make_inputs(N, numel, 7 + static_cast<uint64_t>(numel)));
    std::vector<std::vector<at::Tensor>> got(kSizes.size(), std::vector<at::Tensor>(static_cast<size_t>(N)));
    std::vector<std::vector<CommStats>> stats(kSizes.size(), std::vector<CommStats>(static_cast<size_t>(N)));
    run([&](Communicator& c) {
      EXPECT_EQ(c.backend(), backend_name(backend()));
      for (size_t s = 0; s < kSizes.size(); ++s) {
        at::Tensor t = inputs[s][c.rank()].clone();
        c.reset_stats();
        c.allreduce(t, op);
        got[s][static_cast<size_t>(c.rank())] = t;
        stats[s][static_cast<size_t>(c.rank())] = c.stats();
      }
    });
    std::vector<int> all(static_cast<size_t>(N));
    std::iota(all.begin(), all.end(), 0);
    for (size_t s = 0; s < kSizes.size(); ++s) {
      at::Tensor want = in_order_sum(inputs[s], all);
      if (op == ReduceOp::Mean) want = want / N;
      const int64_t numel = kSizes[s];
      for (int r = 0; r < N; ++r) {
        const std::string what = "size " + std::to_string(numel) + " rank " + std::to_string(r) +
                                 (op == ReduceOp::Sum ? " sum" : " mean");
        expect_result(got[s][static_cast<size_t>(r)], want, what);
        if (exact()) {
          EXPECT_TRUE(at::equal(got[s][static_cast<size_t>(r)], got[s][0])) << what << ": ranks differ";
        }
        const CommStats& st = stats[s][static_cast<size_t>(r)];
        EXPECT_EQ(st.bytes_sent, ring_sent(N, r, numel, 4)) << what;
        EXPECT_EQ(st.bytes_received, ring_received(N, r, numel, 4)) << what;
        const uint64_t msgs = (N > 1 && numel > 0) ? 2u * (N - 1) : 0u;
        EXPECT_EQ(st.messages_sent, msgs) << what;
        EXPECT_EQ(st.messages_received, msgs) << what;
        EXPECT_EQ(st.calls, 1u);
        if (numel % N == 0) {
          EXPECT_EQ(st.bytes_sent, 2u * (N - 1) * numel * 4 / N) << what;
        }
        const NetworkModel net;
        const double secs = msgs * (net.latency_s + 4.0 * chunk(N, numel, 0) / net.bandwidth_bytes_per_s);
        EXPECT_NEAR(st.modelled_seconds, secs, 1e-12) << what;
      }
    }
  }
}

TEST_P(Collectives, AllreduceFloat64) {
  const int N = n();
  at::Tensor x = make_inputs(N, 33, 99, at::kDouble);
  std::vector<at::Tensor> got(static_cast<size_t>(N));
  run([&](Communicator& c) {
    at::Tensor t = x[c.rank()].clone();
    c.allreduce(t);
    got[static_cast<size_t>(c.rank())] = t;
  });
  std::vector<int> all(static_cast<size_t>(N));
  std::iota(all.begin(), all.end(), 0);
  for (int r = 0; r < N; ++r) expect_result(got[static_cast<size_t>(r)], in_order_sum(x, all), "float64");
}

TEST_P(Collectives, BroadcastFromFirstAndLastRank) {
  const int N = n();
  for (int root : {0, N - 1}) {
    std::vector<at::Tensor> inputs;
    for (int64_t numel : kSizes) inputs.push_back(make_inputs(N, numel, 11 + static_cast<uint64_t>(numel)));
    std::vector<std::vector<at::Tensor>> got(kSizes.size(), std::vector<at::Tensor>(static_cast<size_t>(N)));
    std::vector<std::vector<CommStats>> stats(kSizes.size(), std::vector<CommStats>(static_cast<size_t>(N)));
    run([&](Communicator& c) {
      for (size_t s = 0; s < kSizes.size(); ++s) {
        at::Tensor t = inputs[s][c.rank()].clone();
        c.reset_stats();
        c.broadcast(t, root);
        got[s][static_cast<size_t>(c.rank())] = t;
        stats[s][static_cast<size_t>(c.rank())] = c.stats();
      }
    });
    for (size_t s = 0; s < kSizes.size(); ++s) {
      uint64_t total_sent = 0, total_received = 0;
      for (int r = 0; r < N; ++r) {
        const std::string what = "root " + std::to_string(root) + " size " + std::to_string(kSizes[s]) + " rank " +
                                 std::to_string(r);
        EXPECT_TRUE(at::equal(got[s][static_cast<size_t>(r)], inputs[s][root])) << what;
        const CommStats& st = stats[s][static_cast<size_t>(r)];
        const uint64_t bytes = static_cast<uint64_t>(kSizes[s]) * 4;
        EXPECT_EQ(st.bytes_received, (r != root && bytes > 0) ? bytes : 0u) << what;
        total_sent += st.bytes_sent;
        total_received += st.bytes_received;
      }
      // A tree: every non-root receives once, so the tree sends exactly (n-1) copies in total.
      EXPECT_EQ(total_sent, total_received);
      EXPECT_EQ(total_sent, static_cast<uint64_t>(kSizes[s]) * 4 * (N - 1));
    }
  }
}

TEST_P(Collectives, Allgather) {
  const int N = n();
  std::vector<at::Tensor> inputs;
  for (int64_t numel : kSizes) inputs.push_back(make_inputs(N, numel, 21 + static_cast<uint64_t>(numel)));
  std::vector<std::vector<std::vector<at::Tensor>>> got(kSizes.size(),
                                                        std::vector<std::vector<at::Tensor>>(static_cast<size_t>(N)));
  std::vector<std::vector<CommStats>> stats(kSizes.size(), std::vector<CommStats>(static_cast<size_t>(N)));
  run([&](Communicator& c) {
    for (size_t s = 0; s < kSizes.size(); ++s) {
      at::Tensor t = inputs[s][c.rank()].clone();
      c.reset_stats();
      got[s][static_cast<size_t>(c.rank())] = c.allgather(t);
      stats[s][static_cast<size_t>(c.rank())] = c.stats();
    }
  });
  for (size_t s = 0; s < kSizes.size(); ++s) {
    for (int r = 0; r < N; ++r) {
      const auto& parts = got[s][static_cast<size_t>(r)];
      ASSERT_EQ(parts.size(), static_cast<size_t>(N));
      for (int k = 0; k < N; ++k) EXPECT_TRUE(at::equal(parts[static_cast<size_t>(k)], inputs[s][k])) << "part " << k;
      const uint64_t bytes = static_cast<uint64_t>(kSizes[s]) * 4;
      EXPECT_EQ(stats[s][static_cast<size_t>(r)].bytes_sent, (N - 1) * bytes);
      EXPECT_EQ(stats[s][static_cast<size_t>(r)].bytes_received, (N - 1) * bytes);
      EXPECT_EQ(stats[s][static_cast<size_t>(r)].messages_sent, bytes ? static_cast<uint64_t>(N - 1) : 0u);
    }
  }
}

TEST_P(Collectives, BarrierOrdersEveryRank) {
  const int N = n();
  std::vector<std::atomic<int>> before(static_cast<size_t>(N));
  std::atomic<int> violations{0};
  run([&](Communicator& c) {
    for (int round = 1; round <= 5; ++round) {
      before[static_cast<size_t>(c.rank())].store(round);
      c.reset_stats();
      c.barrier();
      for (int r = 0; r < N; ++r) {
        if (before[static_cast<size_t>(r)].load() < round) ++violations;
      }
      EXPECT_EQ(c.stats().messages_sent, static_cast<uint64_t>(log2_ceil(N)));
      c.barrier();  // nobody starts the next round while another rank still checks this one
      EXPECT_EQ(c.stats().bytes_sent, 0u);
    }
  });
  EXPECT_EQ(violations.load(), 0);
}

TEST_P(Collectives, GroupAllreduceOverConcurrentGroups) {
  const int N = n();
  // Even and odd ranks reduce concurrently, then everyone in one group, then a group of one.
  const auto group_of = [N](int r, int round) {
    std::vector<int> g;
    if (round == 0) {
      for (int k = r % 2; k < N; k += 2) g.push_back(k);
    } else if (round == 1) {
      for (int k = 0; k < N; ++k) g.push_back(k);
    } else {
      g.push_back(r);
    }
    return g;
  };
  for (ReduceOp op : {ReduceOp::Mean, ReduceOp::Sum}) {
    std::vector<at::Tensor> inputs;
    for (int64_t numel : kSizes) inputs.push_back(make_inputs(N, numel, 31 + static_cast<uint64_t>(numel)));
    // got[round][size][rank]
    std::vector<std::vector<std::vector<at::Tensor>>> got(
        3, std::vector<std::vector<at::Tensor>>(kSizes.size(), std::vector<at::Tensor>(static_cast<size_t>(N))));
    std::vector<std::vector<std::vector<CommStats>>> stats(
        3, std::vector<std::vector<CommStats>>(kSizes.size(), std::vector<CommStats>(static_cast<size_t>(N))));
    run([&](Communicator& c) {
      for (int round = 0; round < 3; ++round) {
        for (size_t s = 0; s < kSizes.size(); ++s) {
          at::Tensor t = inputs[s][c.rank()].clone();
          c.reset_stats();
          c.group_allreduce(t, group_of(c.rank(), round), op);
          got[static_cast<size_t>(round)][s][static_cast<size_t>(c.rank())] = t;
          stats[static_cast<size_t>(round)][s][static_cast<size_t>(c.rank())] = c.stats();
        }
      }
    });
    for (int round = 0; round < 3; ++round) {
      for (size_t s = 0; s < kSizes.size(); ++s) {
        for (int r = 0; r < N; ++r) {
          const auto g = group_of(r, round);
          at::Tensor want = in_order_sum(inputs[s], g);
          if (op == ReduceOp::Mean) want = want / static_cast<double>(g.size());
          const std::string what = "round " + std::to_string(round) + " size " + std::to_string(kSizes[s]) +
                                   " rank " + std::to_string(r);
          expect_result(got[static_cast<size_t>(round)][s][static_cast<size_t>(r)], want, what);
          const int gi = static_cast<int>(std::find(g.begin(), g.end(), r) - g.begin());
          const CommStats& st = stats[static_cast<size_t>(round)][s][static_cast<size_t>(r)];
          EXPECT_EQ(st.bytes_sent, ring_sent(static_cast<int>(g.size()), gi, kSizes[s], 4)) << what;
          EXPECT_EQ(st.bytes_received, ring_received(static_cast<int>(g.size()), gi, kSizes[s], 4)) << what;
        }
      }
    }
  }
}

TEST_P(Collectives, NeighborAllreduceMatchesDenseMixing) {
  const int N = n();
  const auto topo = test_topology(N);
  const int steps = 3;  // even, odd, even: both matrices of the period, and the wrap-around
  for (int64_t numel : kSizes) {
    at::Tensor x0 = make_inputs(N, numel, 41 + static_cast<uint64_t>(numel));
    std::vector<std::vector<at::Tensor>> got(steps, std::vector<at::Tensor>(static_cast<size_t>(N)));
    std::vector<std::vector<CommStats>> stats(steps, std::vector<CommStats>(static_cast<size_t>(N)));
    run([&](Communicator& c) {
      at::Tensor t = x0[c.rank()].clone();
      for (int k = 0; k < steps; ++k) {
        c.reset_stats();
        c.neighbor_allreduce(t, topo, k);
        got[static_cast<size_t>(k)][static_cast<size_t>(c.rank())] = t.clone();
        stats[static_cast<size_t>(k)][static_cast<size_t>(c.rank())] = c.stats();
      }
    });
    // Dense reference: X(k+1) = W(k) X(k) in float64; and the bit-exact reference of the
    // documented order (ascending j, weights rounded to float, mul then add).
    at::Tensor x = x0.to(at::kDouble);
    at::Tensor xf = x0.clone();
    for (int k = 0; k < steps; ++k) {
      x = at::matmul(topo.dense(k), x);
      at::Tensor next = at::empty_like(xf);
      for (int i = 0; i < N; ++i) {
        const auto& row = topo.matrix(k).row(i);
        at::Tensor acc = xf[row[0].rank] * static_cast<float>(row[0].weight);
        for (size_t j = 1; j < row.size(); ++j) acc = acc + xf[row[j].rank] * static_cast<float>(row[j].weight);
        next[i] = acc;
      }
      xf = next;
      at::Tensor dense = topo.dense(k);
      for (int i = 0; i < N; ++i) {
        const std::string what = "size " + std::to_string(numel) + " step " + std::to_string(k) + " rank " +
                                 std::to_string(i);
        const at::Tensor& g = got[static_cast<size_t>(k)][static_cast<size_t>(i)];
        EXPECT_TRUE(at::allclose(g.to(at::kDouble), x[i], 1e-5, 1e-5)) << what;
        EXPECT_TRUE(at::equal(g, xf[i])) << what << ": not the documented summation order";
        uint64_t outs = 0, ins = 0;
        for (int j = 0; j < N; ++j) {
          if (j == i) continue;
          outs += dense[j][i].item<double>() != 0.0;
          ins += dense[i][j].item<double>() != 0.0;
        }
        const CommStats& st = stats[static_cast<size_t>(k)][static_cast<size_t>(i)];
        EXPECT_EQ(st.bytes_sent, numel ? outs * numel * 4 : 0u) << what;
        EXPECT_EQ(st.bytes_received, numel ? ins * numel * 4 : 0u) << what;
        EXPECT_EQ(st.messages_sent, numel ? outs : 0u) << what;
      }
    }
  }
}

TEST_P(Collectives, ExchangeVariableSizePackets) {
  const int N = n();
  // Round k: rank r sends to r+1 and r+2 (mod N, distinct, possibly itself when N is small)
  // packets whose size depends on (r, dst, k) and includes 0; it receives from r-1 and r-2.
  const auto targets = [N](int r) {
    std::vector<int> t{(r + 1) % N};
    if ((r + 2) % N != t[0]) t.push_back((r + 2) % N);
    return t;
  };
  const auto sources = [N](int r) {
    std::vector<int> s{(r + N - 1) % N};
    if ((r + N - 2) % N != s[0]) s.push_back((r + N - 2) % N);
    return s;
  };
  const auto packet = [](int src, int dst, int round) {
    const size_t len = static_cast<size_t>((src * 7 + dst * 3 + round * 5) % 11) * 37 % 101;  // 0 included
    Bytes b(len);
    for (size_t i = 0; i < len; ++i) b[i] = static_cast<uint8_t>(src * 31 + dst * 7 + round + i);
    return b;
  };
  const int rounds = 4;
  std::atomic<int> bad{0};
  std::atomic<int> empty_seen{0};
  std::mutex mu;
  std::vector<std::string> failures;
  run([&](Communicator& c) {
    const int r = c.rank();
    for (int k = 0; k < rounds; ++k) {
      std::vector<std::pair<int, Bytes>> out;
      std::vector<size_t> sent_sizes;
      for (int dst : targets(r)) {
        out.emplace_back(dst, packet(r, dst, k));
        if (dst != r) sent_sizes.push_back(out.back().second.size());
      }
      const auto from = sources(r);
      c.reset_stats();
      auto in = c.exchange(out, from);
      if (in.size() != from.size()) {
        ++bad;
        continue;
      }
      uint64_t recv_bytes = 0, recv_msgs = 0;
      for (size_t i = 0; i < from.size(); ++i) {
        if (in[i] != packet(from[i], r, k)) {
          std::lock_guard<std::mutex> lock(mu);
          failures.push_back("rank " + std::to_string(r) + " round " + std::to_string(k) + " from " +
                             std::to_string(from[i]));
        }
        if (in[i].empty()) ++empty_seen;
        if (from[i] != r) {
          recv_bytes += kExchangeHeaderBytes + in[i].size();
          ++recv_msgs;
        }
      }
      uint64_t sent_bytes = 0;
      for (size_t s : sent_sizes) sent_bytes += kExchangeHeaderBytes + s;
      if (c.stats().bytes_sent != sent_bytes || c.stats().bytes_received != recv_bytes ||
          c.stats().messages_sent != sent_sizes.size() || c.stats().messages_received != recv_msgs) {
        ++bad;
      }
    }
  });
  EXPECT_EQ(bad.load(), 0);
  EXPECT_TRUE(failures.empty()) << failures.front();
  if (N >= 3) {
    EXPECT_GT(empty_seen.load(), 0) << "the test should exercise empty packets";
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, Collectives,
                         ::testing::Combine(::testing::Values(Backend::InProcess, Backend::Gloo),
                                            ::testing::Values(1, 2, 3, 5, 8)),
                         [](const auto& info) {
                           return backend_name(std::get<0>(info.param)) + "_n" + std::to_string(std::get<1>(info.param));
                         });

// The same calls on both backends report the same counters (the point of counting logical traffic).
TEST(BackendsAgree, SameCallsSameCounters) {
  const int N = 5;
  const auto topo = test_topology(N);
  at::Tensor x = make_inputs(N, 257, 5);
  std::vector<std::vector<CommStats>> stats(2, std::vector<CommStats>(N));
  std::vector<std::vector<at::Tensor>> results(2, std::vector<at::Tensor>(N));
  for (Backend b : {Backend::InProcess, Backend::Gloo}) {
    const size_t bi = b == Backend::InProcess ? 0 : 1;
    run_backend(b, N, [&](Communicator& c) {
      at::Tensor t = x[c.rank()].clone();
      c.allreduce(t, ReduceOp::Mean);
      c.broadcast(t, 3);
      c.neighbor_allreduce(t, topo, 1);
      c.group_allreduce(t, c.rank() < 2 ? std::vector<int>{0, 1} : std::vector<int>{2, 3, 4});
      auto parts = c.allgather(t);
      c.barrier();
      c.exchange({{(c.rank() + 1) % N, Bytes(static_cast<size_t>(c.rank()) * 10)}}, {(c.rank() + N - 1) % N});
      stats[bi][static_cast<size_t>(c.rank())] = c.stats();
      results[bi][static_cast<size_t>(c.rank())] = at::stack(parts);
    });
  }
  for (int r = 0; r < N; ++r) {
    const CommStats& a = stats[0][static_cast<size_t>(r)];
    const CommStats& g = stats[1][static_cast<size_t>(r)];
    EXPECT_EQ(a.bytes_sent, g.bytes_sent);
    EXPECT_EQ(a.bytes_received, g.bytes_received);
    EXPECT_EQ(a.messages_sent, g.messages_sent);
    EXPECT_EQ(a.messages_received, g.messages_received);
    EXPECT_DOUBLE_EQ(a.modelled_seconds, g.modelled_seconds);
    EXPECT_EQ(a.calls, 7u);
    EXPECT_TRUE(at::allclose(results[0][static_cast<size_t>(r)], results[1][static_cast<size_t>(r)], 1e-5, 1e-5));
  }
}

}  // namespace
