// Sparse linear layer kernels vs dense LibTorch (OpenBLAS) and LibTorch's own CSR, same run.
//
// Names: <op>/<out>x<in>/b<batch>/<pattern>/<impl>
//   op       fwd (Y = X Wᵀ + b), bwd (dX and dW at the pattern; X already packed by fwd), step (both)
//   pattern  dense, s50 .. s98 (unstructured, % zeros), 2:4, 1:4
//   impl     dense (at::addmm / at::mm), ours (gossamer kernels; N:M format for 2:4 and 1:4),
//            torch_csr (at::Tensor::to_sparse_csr then at::addmm / at::matmul / sparse_sampled_addmm)
// Counters: best_ms (fastest iteration: the machine is shared, the best is the least noisy),
//           speedup = dense best_ms / best_ms, ideal_frac = speedup / (1 / (1 - s)).
// Threads: --threads=N (default 2) for LibTorch and our kernels; OpenBLAS uses OPENBLAS_NUM_THREADS
// (its default here: 2, one per core).
//
//   build-kern/bench/bench_sparse_linear --benchmark_filter='4096' --benchmark_out=sparse.json
//       --benchmark_out_format=json
//   python3 bench/scripts/sparse_table.py sparse.json      # markdown table for docs/kernels.md
#include <benchmark/benchmark.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gossamer/kernels/csr.h"
#include "gossamer/kernels/nm.h"
#include "gossamer/kernels/spmm.h"

#include "micro_main.h"

namespace gk = gossamer::kernels;


namespace {

struct Shape {
  int64_t out, in;
  const char* what;
};

struct Pattern {
  std::string name;
  double sparsity;  // fraction of zeros
  int64_t n = 0, m = 0;  // N:M when m > 0
};

at::Tensor make_mask(int64_t out, int64_t in, const Pattern& p, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  if (p.m == 0) {
    at::Tensor u = at::empty({out, in}).uniform_(0, 1, gen);
    return u.ge(p.sparsity);
  }
  const int64_t groups = (in + p.m - 1) / p.m;
  at::Tensor score = at::empty({out, groups * p.m}).uniform_(0, 1, gen);
  at::Tensor idx = std::get<1>(score.view({out, groups, p.m}).topk(p.n, 2));
  at::Tensor mask = at::zeros({out, groups, p.m}, at::kBool);
  mask.scatter_(2, idx, true);
  return mask.view({out, groups * p.m}).narrow(1, 0, in).contiguous();
}

// Everything one (shape, batch, pattern) needs, built once.
struct Problem {
  at::Tensor x, dy, bias, w;           // w dense and masked
  std::shared_ptr<gk::CsrWeight> csr;  // unstructured patterns
  std::shared_ptr<gk::NmWeight> nm;    // N:M patterns
  at::Tensor w_csr, wt_csr;            // LibTorch CSR of W and Wᵀ
  double sparsity = 0;
};

std::map<std::string, std::shared_ptr<Problem>>& problems() {
  static std::map<std::string, std::shared_ptr<Problem>> p;
  return p;
}

std::shared_ptr<Problem> problem(const Shape& s, int64_t batch, const Pattern& pat) {
  const std::string key = std::to_string(s.out) + "x" + std::to_string(s.in) + "/" + std::to_string(batch) + "/" + pat.name;
  auto& all = problems();
  auto it = all.find(key);
  if (it != all.end()) return it->second;
  auto p = std::make_shared<Problem>();
  auto gen = at::make_generator<at::CPUGeneratorImpl>(42);
  p->x = at::empty({batch, s.in}).uniform_(-1, 1, gen);
  p->dy = at::empty({batch, s.out}).uniform_(-1, 1, gen);
  p->bias = at::empty({s.out}).uniform_(-1, 1, gen);
  at::Tensor w = at::empty({s.out, s.in}).uniform_(-1, 1, gen);
  if (pat.name != "dense") {
    at::Tensor mask = make_mask(s.out, s.in, pat, 7);
    p->w = w * mask;
    if (pat.m > 0) p->nm = std::make_shared<gk::NmWeight>(gk::nm_from_dense(w, mask, pat.n, pat.m));
    else p->csr = std::make_shared<gk::CsrWeight>(gk::csr_from_dense(w, mask));
    p->w_csr = p->w.to_sparse_csr();
    p->wt_csr = p->w.t().contiguous().to_sparse_csr();
    p->sparsity = 1.0 - mask.to(at::kDouble).mean().item<double>();
  } else {
    p->w = w;
  }
  all[key] = p;
  return p;
}

using Op = std::function<void()>;

// Dense reference per (op, shape, batch): best of the dense benchmark's iterations.
std::map<std::string, double>& dense_best() {
  static std::map<std::string, double> d;
  return d;
}

Op make_op(const std::string& op, const std::string& impl, const std::shared_ptr<Problem>& p) {
  if (impl == "dense") {
    // Outputs written into buffers allocated once, as a caching allocator would give them: a fresh
    // 64 MiB dW (4096x4096) is above glibc's largest mmap threshold (32 MiB), so at::mm would map
    // and page-fault it on every call (~160 ms on this VM, more than the product itself), and the
    // dense baseline would measure the page faults.
    auto y = std::make_shared<at::Tensor>(at::empty({p->x.size(0), p->w.size(0)}));
    auto dx = std::make_shared<at::Tensor>(at::empty_like(p->x));
    auto dw = std::make_shared<at::Tensor>(at::empty_like(p->w));
    auto fwd = [p, y] { benchmark::DoNotOptimize(at::addmm_out(*y, p->bias, p->x, p->w.t())); };
    auto bwd = [p, dx, dw] {
      benchmark::DoNotOptimize(at::mm_out(*dx, p->dy, p->w));
      benchmark::DoNotOptimize(at::mm_out(*dw, p->dy.t(), p->x));
      benchmark::DoNotOptimize(p->dy.sum(0));
    };
    if (op == "fwd") return fwd;
    if (op == "bwd") return bwd;
    return [fwd, bwd] { fwd(); bwd(); };
  }
  if (impl == "torch_csr") {
    // Y = X Wᵀ as (W Xᵀ)ᵀ; dX = dY W as (Wᵀ dYᵀ)ᵀ; dW at the pattern with sparse_sampled_addmm.
    auto fwd = [p] { benchmark::DoNotOptimize(at::addmm(p->bias.unsqueeze(1), p->w_csr, p->x.t()).t()); };
    auto bwd = [p] {
      benchmark::DoNotOptimize(at::matmul(p->wt_csr, p->dy.t()).t());
      benchmark::DoNotOptimize(at::sparse_sampled_addmm(p->w_csr, p->dy.t(), p->x, 0.0, 1.0));
      benchmark::DoNotOptimize(p->dy.sum(0));
    };
    if (op == "fwd") return fwd;
    if (op == "bwd") return bwd;
    return [fwd, bwd] { fwd(); bwd(); };
  }
  // ours: the forward packs X once and the backward reuses the packing, as the autograd node does.
  auto xp = std::make_shared<gk::Panels>(gk::pack_panels(p->x));
  auto fwd = [p, xp] {
    *xp = gk::pack_panels(p->x);
    if (p->nm) benchmark::DoNotOptimize(gk::nm_forward(*xp, *p->nm, p->bias));
    else benchmark::DoNotOptimize(gk::csr_forward(*xp, *p->csr, p->bias));
  };
  auto bwd = [p, xp] {
    gk::Panels gp = gk::pack_panels(p->dy, xp->width);
    if (p->nm) {
      benchmark::DoNotOptimize(gk::nm_input_grad(gp, *p->nm));
      benchmark::DoNotOptimize(gk::nm_weight_grad(gp, *xp, *p->nm));
    } else {
      benchmark::DoNotOptimize(gk::csr_input_grad(gp, *p->csr));
      benchmark::DoNotOptimize(gk::csr_weight_grad(gp, *xp, *p->csr));
    }
    benchmark::DoNotOptimize(p->dy.sum(0));
  };
  if (op == "fwd") return fwd;
  if (op == "bwd") return [fwd, bwd] { bwd(); };
  // A training step also refreshes the values from the dense weight the optimizer updates.
  return [p, fwd, bwd] {
    if (p->nm) gk::nm_update_values(*p->nm, p->w);
    else gk::csr_update_values(*p->csr, p->w);
    fwd();
    bwd();
  };
}

void run(benchmark::State& state, const std::string& op, const Shape& s, int64_t batch, const Pattern& pat,
         const std::string& impl) {
  at::set_num_threads(g_threads);
  auto p = problem(s, batch, pat);
  Op f;
  try {
    f = make_op(op, impl, p);
    f();  // warm-up (and a check that the op is supported)
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
  const std::string ref_key = op + "/" + std::to_string(s.out) + "x" + std::to_string(s.in) + "/" + std::to_string(batch);
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
  const std::vector<Shape> shapes = {{300, 784, "mlp fc1"}, {100, 300, "mlp fc2"}, {120, 400, "lenet fc1"},
                                     {4096, 4096, "large"}};
  std::vector<Pattern> patterns = {{"s50", 0.5}, {"s80", 0.8}, {"s90", 0.9}, {"s95", 0.95}, {"s98", 0.98}};
  patterns.push_back({"2:4", 0.5, 2, 4});
  patterns.push_back({"1:4", 0.75, 1, 4});
  for (const Shape& s : shapes) {
    for (int64_t batch : {64, 256}) {
      for (const std::string op : {"fwd", "bwd", "step"}) {
        const std::string base = op + "/" + std::to_string(s.out) + "x" + std::to_string(s.in) + "/b" + std::to_string(batch) + "/";
        const bool large = s.out * s.in > 1000000;
        auto reg = [&](const Pattern& pat, const std::string& impl) {
          auto* b = benchmark::RegisterBenchmark((base + pat.name + "/" + impl).c_str(),
                                                 [op, s, batch, pat, impl](benchmark::State& st) {
                                                   run(st, op, s, batch, pat, impl);
                                                 });
          b->UseManualTime()->Unit(benchmark::kMillisecond);
          if (large) b->MinTime(0.5);
          else b->MinTime(0.2);
        };
        reg({"dense", 0.0}, "dense");
        for (const Pattern& pat : patterns) {
          reg(pat, "ours");
          // LibTorch's CSR is 7-15x slower than dense below 90% (measured): skip it there on the
          // large layer, where one iteration would take seconds.
          if (!large || pat.sparsity >= 0.9) reg(pat, "torch_csr");
        }
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) { return run_micro_benchmarks(argc, argv, register_all); }
