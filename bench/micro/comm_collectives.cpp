// allreduce and ring neighbor_allreduce: latency (4 bytes) and bandwidth (64 MiB) for 2/4/8
// workers as threads of this process, on InProcess, on our Gloo communicator, and on raw c10d
// ProcessGroupGloo (same threads, same HashStore setup), next to memcpy bandwidth.
//
// Each benchmark runs a fixed number of iterations (->Iterations) so that the helper ranks
// (threads 1..n-1, started before the timed loop) know how many calls to make; rank 0 is the
// benchmark thread and its time per call is reported. Buffers are allocated and touched in a
// warm-up outside the timed loop. bytes_per_second is the payload size over time per call.
//
//   build-comm/bench/bench_comm_collectives --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <ATen/ATen.h>
#include <torch/csrc/distributed/c10d/HashStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>

#include <cstring>
#include <functional>
#include <future>
#include <thread>
#include <vector>

#include "gossamer/comm/communicator.h"
#include "gossamer/comm/gloo_communicator.h"
#include "gossamer/comm/inprocess_communicator.h"
#include "gossamer/topology/topology.h"

namespace {

using namespace gossamer;

enum Backend : int64_t { kInProcess = 0, kGloo = 1, kRawGloo = 2 };
enum Op : int64_t { kAllreduce = 0, kNeighbor = 1 };

constexpr int kWarmup = 2;

topology::Topology ring(int n) {
  topology::MixingMatrix m(n);
  for (int i = 0; i < n; ++i) {
    m.add(i, i, 1.0 / 3);
    m.add(i, (i + 1) % n, 1.0 / 3);
    m.add(i, (i + n - 1) % n, 1.0 / 3);
  }
  return topology::Topology("ring", {m});
}

// One rank's view: `call()` performs one operation on this rank's tensor.
using Call = std::function<void()>;

// Raw c10d: the same work our Gloo communicator does, with nothing of ours in between.
struct RawRank {
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
  at::Tensor x, left, right, mixed;
  int rank = 0, n = 1;
  int64_t step = 0;

  void allreduce() {
    std::vector<at::Tensor> v{x};
    pg->allreduce(v)->wait();
  }
  // Ring mixing x <- (x_{i-1} + x_i + x_{i+1}) / 3: post both receives and both sends, wait, mix.
  void neighbor() {
    const int tag = static_cast<int>(step++ % 1000000);
    const int l = (rank + n - 1) % n, r = (rank + 1) % n;
    std::vector<at::Tensor> vl{left}, vr{right}, vx{x}, vx2{x};
    std::vector<c10::intrusive_ptr<c10d::Work>> w;
    w.push_back(pg->recv(vl, l, tag));
    if (r != l) w.push_back(pg->recv(vr, r, tag));
    w.push_back(pg->send(vx, r, tag));
    if (r != l) w.push_back(pg->send(vx2, l, tag));
    for (auto& k : w) k->wait();
    if (r != l) {
      at::add_out(mixed, x, left).add_(right).div_(3);
    } else {
      at::add_out(mixed, x, left).div_(2);
    }
    x.copy_(mixed);
  }
};

void BM_Collective(benchmark::State& state) {
  const auto backend = static_cast<Backend>(state.range(0));
  const auto op = static_cast<Op>(state.range(1));
  const int n = static_cast<int>(state.range(2));
  const int64_t bytes = state.range(3);
  const int64_t numel = std::max<int64_t>(1, bytes / 4);
  const int64_t iters = state.max_iterations;
  const auto topo = ring(n);

  std::unique_ptr<comm::InProcessGroup> group;
  std::shared_ptr<comm::StoreHandle> store;
  c10::intrusive_ptr<c10d::Store> raw_store;
  if (backend == kInProcess) group = std::make_unique<comm::InProcessGroup>(n);
  if (backend == kGloo) store = comm::make_hash_store();
  if (backend == kRawGloo) raw_store = c10::make_intrusive<c10d::HashStore>();

  // Each rank builds its communicator on its own thread (Gloo ranks must rendezvous concurrently).
  auto make_rank = [&](int r) -> std::pair<std::shared_ptr<void>, Call> {
    if (backend == kRawGloo) {
      auto rr = std::make_shared<RawRank>();
      auto opts = c10d::ProcessGroupGloo::Options::create();
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      rr->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(raw_store, r, n, opts);
      rr->rank = r;
      rr->n = n;
      rr->x = at::full({numel}, 1.0f);
      rr->left = at::empty_like(rr->x);
      rr->right = at::empty_like(rr->x);
      rr->mixed = at::empty_like(rr->x);
      RawRank* p = rr.get();
      return {rr, op == kAllreduce ? Call([p] { p->allreduce(); }) : Call([p] { p->neighbor(); })};
    }
    std::shared_ptr<comm::Communicator> c;
    if (backend == kInProcess) {
      c = group->communicator(r);
    } else {
      comm::GlooOptions o;
      c = comm::make_gloo(store, r, n, o);
    }
    auto x = std::make_shared<at::Tensor>(at::full({numel}, 1.0f));
    auto step = std::make_shared<int64_t>(0);
    comm::Communicator* cp = c.get();
    Call call = op == kAllreduce ? Call([cp, x] { cp->allreduce(*x); })
                                 : Call([cp, x, step, &topo] { cp->neighbor_allreduce(*x, topo, (*step)++); });
    return {std::shared_ptr<void>(c), call};
  };

  // Helpers keep their communicators until rank 0 finished its last call: tearing down Gloo
  // connections while a peer still completes a call would fail that call.
  std::promise<void> done;
  std::shared_future<void> finished = done.get_future().share();
  std::vector<std::thread> helpers;
  for (int r = 1; r < n; ++r) {
    helpers.emplace_back([&, r, finished] {
      auto [keep, call] = make_rank(r);
      for (int64_t k = 0; k < kWarmup + iters; ++k) call();
      finished.wait();
    });
  }
  auto [keep, call] = make_rank(0);
  for (int k = 0; k < kWarmup; ++k) call();
  for (auto _ : state) call();
  done.set_value();
  for (auto& t : helpers) t.join();
  state.SetBytesProcessed(iters * numel * 4);
  state.counters["workers"] = n;
}

void BM_Memcpy(benchmark::State& state) {
  const size_t bytes = static_cast<size_t>(state.range(0));
  std::vector<uint8_t> a(bytes, 1), b(bytes, 2);
  for (auto _ : state) {
    std::memcpy(b.data(), a.data(), bytes);
    benchmark::DoNotOptimize(b.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}

constexpr int64_t kSmall = 4;
constexpr int64_t kLarge = 64 << 20;

void add_all() {
  const char* backend_names[] = {"inprocess", "gloo", "raw_c10d_gloo"};
  const char* op_names[] = {"allreduce", "neighbor_allreduce_ring"};
  for (int64_t op : {kAllreduce, kNeighbor}) {
    for (int64_t bytes : {kSmall, kLarge}) {
      for (int64_t n : {2, 4, 8}) {
        for (int64_t b : {kInProcess, kGloo, kRawGloo}) {
          const std::string name = std::string(op_names[op]) + "/" + backend_names[b] + "/workers:" +
                                   std::to_string(n) + "/bytes:" + std::to_string(bytes);
          // Fixed counts: the helper ranks must know them. 64 MiB on 8 Gloo threads is ~1 s a call here.
          const int64_t iters = bytes == kSmall ? (n == 8 ? 300 : 1000) : (n == 8 ? 3 : 6);
          benchmark::RegisterBenchmark(name.c_str(), BM_Collective)
              ->Args({b, op, n, bytes})
              ->Iterations(iters)
              ->Unit(benchmark::kMicrosecond)
              ->UseRealTime();
        }
      }
    }
  }
  benchmark::RegisterBenchmark("memcpy/bytes:67108864", BM_Memcpy)->Arg(kLarge)->Unit(benchmark::kMicrosecond)->UseRealTime();
}

}  // namespace

int main(int argc, char** argv) {
  add_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
