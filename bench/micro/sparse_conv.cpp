// Sparse conv2d kernels (conv.h) vs dense LibTorch at::conv2d, same run.
//
// Names: <op>/<layer>/b<batch>/<pattern>/<impl>
//   op       fwd (Y = conv(X, W) + b), bwd (dX, dW at the pattern, db), step (value refresh + both)
//   layer    <name>_<in>x<out>k<k>[p<pad>]_<h>: LeNet-5 conv1 / conv2, ResNet-20 stages 1-3
//   pattern  dense, s50 .. s98 (unstructured, % zeros)
//   impl     dense (at::conv2d and at::convolution_backward, the ops autograd runs), ours
// The first layer of a network needs no input gradient, so lenet_c1's bwd computes dW and db
// only, for both implementations; every other layer computes dX, dW and db.
// Counters: best_ms (fastest iteration: the machine is shared, the best is the least noisy),
//           speedup = dense best_ms / best_ms, ideal_frac = speedup / (1 / (1 - s)).
// Threads: --threads=N (default 2) for LibTorch and our kernels.
//
//   build/bench/bench_sparse_conv --benchmark_min_time=0.05 --benchmark_out=conv.json
//       --benchmark_out_format=json
//   python3 bench/scripts/sparse_table.py --shape-label layer conv.json   # markdown table
#include <benchmark/benchmark.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gossamer/kernels/conv.h"

#include "micro_main.h"

namespace gk = gossamer::kernels;


namespace {

struct Layer {
  std::string name;
  int64_t in, out, k, pad, hw;
  bool first;  // no input gradient
  std::string id() const {
    return name + "_" + std::to_string(in) + "x" + std::to_string(out) + "k" + std::to_string(k) +
           (pad ? "p" + std::to_string(pad) : std::string()) + "_" + std::to_string(hw);
  }
};

struct Pattern {
  std::string name;
  double sparsity;
};

struct Problem {
  at::Tensor x, dy, bias, w;  // w dense, masked
  std::shared_ptr<gk::SparseConvWeight> sw;
  gk::ConvGeometry g;
  double sparsity = 0;
};

std::map<std::string, std::shared_ptr<Problem>>& problems() {
  static std::map<std::string, std::shared_ptr<Problem>> p;
  return p;
}

std::shared_ptr<Problem> problem(const Layer& l, int64_t batch, const Pattern& pat) {
  const std::string key = l.id() + "/" + std::to_string(batch) + "/" + pat.name;
  auto& all = problems();
  auto it = all.find(key);
  if (it != all.end()) return it->second;
  auto p = std::make_shared<Problem>();
  auto gen = at::make_generator<at::CPUGeneratorImpl>(42);
  p->g.padding = {l.pad, l.pad};
  const auto o = gk::conv_output_size(l.hw, l.hw, l.k, l.k, p->g);
  p->x = at::empty({batch, l.in, l.hw, l.hw}).uniform_(-1, 1, gen);
  p->dy = at::empty({batch, l.out, o[0], o[1]}).uniform_(-1, 1, gen);
  p->bias = at::empty({l.out}).uniform_(-1, 1, gen);
  at::Tensor w = at::empty({l.out, l.in, l.k, l.k}).uniform_(-1, 1, gen);
  if (pat.name != "dense") {
    at::Tensor mask = at::empty({l.out, l.in, l.k, l.k}).uniform_(0, 1, gen).ge(pat.sparsity);
    p->w = w * mask;
    p->sw = std::make_shared<gk::SparseConvWeight>(gk::sparse_conv_weight(w, mask));
    p->sparsity = 1.0 - mask.to(at::kDouble).mean().item<double>();
  } else {
    p->w = w;
  }
  all[key] = p;
  return p;
}

using Op = std::function<void()>;

std::map<std::string, double>& dense_best() {
  static std::map<std::string, double> d;
  return d;
}

Op make_op(const std::string& op, const std::string& impl, const Layer& l, const std::shared_ptr<Problem>& p) {
  const bool need_dx = !l.first;
  const std::vector<int64_t> pad{l.pad, l.pad};
  if (impl == "dense") {
    auto fwd = [p, pad] { benchmark::DoNotOptimize(at::conv2d(p->x, p->w, p->bias, {1, 1}, pad)); };
    const std::vector<int64_t> bias_sizes{l.out};
    auto bwd = [p, pad, need_dx, bias_sizes] {
      benchmark::DoNotOptimize(at::convolution_backward(p->dy, p->x, p->w, bias_sizes, {1, 1}, pad, {1, 1}, false,
                                                        {0, 0}, 1, {need_dx, true, true}));
    };
    if (op == "fwd") return fwd;
    if (op == "bwd") return bwd;
    return [fwd, bwd] { fwd(); bwd(); };
  }
  auto fwd = [p] { benchmark::DoNotOptimize(gk::sparse_conv2d_forward(p->x, *p->sw, p->bias, p->g)); };
  auto bwd = [p, need_dx] {
    benchmark::DoNotOptimize(
        gk::sparse_conv2d_backward(p->dy, p->x, {p->x.size(2), p->x.size(3)}, *p->sw, p->g, need_dx, true));
    benchmark::DoNotOptimize(p->dy.sum({0, 2, 3}));
  };
  if (op == "fwd") return fwd;
  if (op == "bwd") return bwd;
  // A training step also refreshes the values from the dense weight the optimizer updates.
  return [p, fwd, bwd] {
    gk::sparse_conv_update_values(*p->sw, p->w);
    fwd();
    bwd();
  };
}

void run(benchmark::State& state, const std::string& op, const Layer& l, int64_t batch, const Pattern& pat,
         const std::string& impl) {
  at::set_num_threads(g_threads);
  auto p = problem(l, batch, pat);
  Op f;
  try {
    f = make_op(op, impl, l, p);
    f();  // warm-up: fills the per-thread scratch and the heap
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  double best = std::numeric_limits<double>::infinity();
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.SetIterationTime(dt);
    best = std::min(best, dt);
  }
  const std::string ref_key = op + "/" + l.id() + "/" + std::to_string(batch);
  if (impl == "dense") dense_best()[ref_key] = best;
  state.counters["best_ms"] = best * 1e3;
  state.counters["sparsity"] = p->sparsity;
  auto it = dense_best().find(ref_key);
  if (impl != "dense" && it != dense_best().end()) {
    const double speedup = it->second / best;
    state.counters["speedup"] = speedup;
    state.counters["ideal_frac"] = speedup * (1.0 - p->sparsity);
  }
}

void register_all() {
  const std::vector<Layer> layers = {{"lenet_c1", 1, 6, 5, 2, 28, true},  {"lenet_c2", 6, 16, 5, 0, 14, false},
                                     {"resnet_s1", 16, 16, 3, 1, 32, false}, {"resnet_s2", 32, 32, 3, 1, 16, false},
                                     {"resnet_s3", 64, 64, 3, 1, 8, false}};
  const std::vector<Pattern> patterns = {{"s50", 0.5}, {"s80", 0.8}, {"s90", 0.9}, {"s95", 0.95}, {"s98", 0.98}};
  for (const Layer& l : layers) {
    for (int64_t batch : {64, 256}) {
      for (const std::string op : {"fwd", "bwd", "step"}) {
        const std::string base = op + "/" + l.id() + "/b" + std::to_string(batch) + "/";
        auto reg = [&](const Pattern& pat, const std::string& impl) {
          auto* b = benchmark::RegisterBenchmark((base + pat.name + "/" + impl).c_str(),
                                                 [op, l, batch, pat, impl](benchmark::State& st) {
                                                   run(st, op, l, batch, pat, impl);
                                                 });
          b->UseManualTime()->Unit(benchmark::kMillisecond);
        };
        reg({"dense", 0.0}, "dense");
        for (const Pattern& pat : patterns) reg(pat, "ours");
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) { return run_micro_benchmarks(argc, argv, register_all); }
