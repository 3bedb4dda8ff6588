// Encode + decode throughput of every compressor on N float32 coordinates (default 25M, the
// issue's size), next to a memcpy of the same bytes; bytes_per_second counts the float32 input
// (4N bytes) per encode+decode. Also reports the compression ratio (input bytes / packet bytes).
//
//   build/bench/bench_compress_throughput [--threads=1] --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <ATen/ATen.h>

#include <cstring>

#include "gossamer/compress/compressor.h"
#include "micro_main.h"

namespace {

using namespace gossamer;

constexpr int64_t kN = 25'000'000;

const at::Tensor& input() {
  static const at::Tensor x = [] {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
    return at::randn({kN}, gen);
  }();
  return x;
}

void BM_Memcpy(benchmark::State& state) {
  const at::Tensor& x = input();
  at::Tensor y = at::empty_like(x);
  std::memcpy(y.data_ptr(), x.data_ptr(), x.nbytes());  // touch the output once outside the loop
  for (auto _ : state) {
    std::memcpy(y.data_ptr(), x.data_ptr(), x.nbytes());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(x.nbytes()));
}

void BM_EncodeDecode(benchmark::State& state, const std::string& method) {
  compress::CompressorOptions o;
  o.method = method;
  o.density = 0.01;
  o.levels = 7;
  o.bucket = 512;
  auto c = compress::make_compressor(o);
  const at::Tensor& x = input();
  // Buffers reused across calls, as a training loop would (and touched once before timing).
  comm::Bytes p;
  at::Tensor y = at::empty({kN});
  c->encode_into(x, {0, 0}, p);
  c->decode_into(p, y, {0, 0});
  int64_t step = 1;
  for (auto _ : state) {
    const compress::EncodeKey key{step++, 0};
    c->encode_into(x, key, p);
    c->decode_into(p, y, key);
    benchmark::DoNotOptimize(y.data_ptr());
  }
  const size_t packet = p.size();
  state.SetBytesProcessed(state.iterations() * kN * 4);
  state.counters["ratio"] = static_cast<double>(kN * 4) / static_cast<double>(packet);
}

void register_all() {
  benchmark::RegisterBenchmark("memcpy", BM_Memcpy)->Unit(benchmark::kMillisecond)->Iterations(5)->UseRealTime();
  for (const auto& m : compress::compressor_names()) {
    benchmark::RegisterBenchmark(("encode_decode/" + m).c_str(), BM_EncodeDecode, m)
        ->Unit(benchmark::kMillisecond)
        ->Iterations(3)
        ->UseRealTime();
  }
}

}  // namespace

int main(int argc, char** argv) { return run_micro_benchmarks(argc, argv, register_all); }
