// Time of one aggregation by every rule against the mean, for n inputs of d = 61 706 float32
// coordinates (LeNet-5's parameters) with n = 10, 16 and 64: Krum's and NNM's pairwise distances
// grow as n^2 d, the coordinate rules' sort as n log n d, the mean as n d. Also reports the bytes
// one worker sends per aggregation: a packet of d floats (24-byte header) to each of the n - 1
// others (counted in the trainer as sent; here computed from the packet size), against a ring
// allreduce's 2 (n - 1) / n x 4d of the mean without robustness.
//
//   build/bench/bench_robust_aggregators --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <ATen/ATen.h>

#include <numeric>

#include "gossamer/robust/aggregator.h"
#include "micro_main.h"

namespace {

using namespace gossamer;

constexpr int64_t kD = 61706;

void BM_Aggregate(benchmark::State& state, std::string rule, std::string pre) {
  const int64_t n = state.range(0);
  robust::AggregatorOptions o;
  o.rule = rule;
  o.pre = pre;
  o.f = (n - 3) / 2 < 3 ? (n - 3) / 2 : 3;
  o.safeguard.world = n;
  auto a = robust::make_aggregator(o);
  auto g = at::make_generator<at::CPUGeneratorImpl>(1);
  const at::Tensor x = at::normal(0.0, 1.0, {n, kD}, g);
  std::vector<int> senders(static_cast<size_t>(n));
  std::iota(senders.begin(), senders.end(), 0);
  at::Tensor out = at::empty({kD});
  robust::AggregateReport r;
  a->aggregate(x, senders, out, r);  // warm: state allocated, pages touched
  for (auto _ : state) {
    a->aggregate(x, senders, out, r);
    benchmark::DoNotOptimize(out.data_ptr<float>());
  }
  state.counters["sent_kB"] = static_cast<double>((n - 1) * (24 + 4 * kD)) / 1e3;
  state.counters["ring_allreduce_kB"] = 2.0 * static_cast<double>(n - 1) / static_cast<double>(n) * 4 * kD / 1e3;
}

void register_all() {
  const std::vector<std::pair<std::string, std::string>> rules = {
      {"mean", "none"}, {"median", "none"}, {"trimmed-mean", "none"}, {"krum", "none"}, {"multi-krum", "none"},
      {"geomed", "none"}, {"cc", "none"}, {"cc", "nnm"}, {"median", "bucketing"}, {"safeguard", "none"}};
  for (const auto& [rule, pre] : rules) {
    const std::string name = "aggregate/" + (pre == "none" ? rule : pre + "+" + rule);
    benchmark::RegisterBenchmark(name.c_str(), BM_Aggregate, rule, pre)
        ->ArgName("n")
        ->Arg(10)
        ->Arg(16)
        ->Arg(64)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
}

}  // namespace

int main(int argc, char** argv) { return run_micro_benchmarks(argc, argv, register_all); }
