// Encode + decode throughput of every compressor on N = 25M float32 coordinates, on 1 and on 2
// threads in one run (the /threads:T suffix), next to a memcpy of the same bytes; bytes_per_second
// counts the float32 input (4N bytes) per encode+decode. Also reports the compression ratio (input
// bytes / packet bytes) and whether compression pays for itself on a network: gain_100Mbit_ms and
// gain_10Gbit_ms are the transfer time saved (the bytes not sent, at 100 Mbit/s or 10 Gbit/s,
// computed from the bandwidth, no latency) minus the measured encode + decode time; negative means
// sending the float32 vector would have been faster.
//
// PowerSGD is not a Compressor (it needs two allreduces, optim/powersgd_averaging.h); its row is
// the arithmetic of one rank-r round on a 5000 x 5000 matrix: P = M Q, orthogonalise P, Q = M^T P,
// the error M - P Q^T and the decode P Q^T.
//
//   build/bench/bench_compress_throughput --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <ATen/ATen.h>

#include <ATen/Parallel.h>

#include <chrono>
#include <cstring>

#include "gossamer/compress/compressor.h"
#include "gossamer/compress/low_rank.h"
#include "micro_main.h"

namespace {

using namespace gossamer;

constexpr int64_t kN = 25'000'000;

// Transfer time saved by sending `packet` bytes instead of the float32 input, minus the codec time,
// in ms, at `bits_per_second`.
double gain_ms(double packet_bytes, double codec_s, double bits_per_second) {
  const double saved_s = (static_cast<double>(kN) * 4 - packet_bytes) * 8 / bits_per_second;
  return (saved_s - codec_s) * 1e3;
}

void report_network(benchmark::State& state, double packet_bytes, double codec_s) {
  state.counters["ratio"] = static_cast<double>(kN * 4) / packet_bytes;
  state.counters["gain_100Mbit_ms"] = gain_ms(packet_bytes, codec_s, 100e6);
  state.counters["gain_10Gbit_ms"] = gain_ms(packet_bytes, codec_s, 10e9);
}

// Benchmarks run on the main thread; the /threads:T argument is ATen's pool size for that row.
struct ThreadsForRow {
  int saved;
  explicit ThreadsForRow(int t) : saved(at::get_num_threads()) { at::set_num_threads(t); }
  ~ThreadsForRow() { at::set_num_threads(saved); }
};

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
  const ThreadsForRow threads(static_cast<int>(state.range(0)));
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
  double total_s = 0;
  for (auto _ : state) {
    const compress::EncodeKey key{step++, 0};
    const auto t0 = std::chrono::steady_clock::now();
    c->encode_into(x, key, p);
    c->decode_into(p, y, key);
    total_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    benchmark::DoNotOptimize(y.data_ptr());
  }
  state.SetBytesProcessed(state.iterations() * kN * 4);
  report_network(state, static_cast<double>(p.size()), total_s / static_cast<double>(state.iterations()));
}

void BM_PowerSgd(benchmark::State& state) {
  const ThreadsForRow threads(static_cast<int>(state.range(0)));
  const int64_t rank = state.range(1), side = 5000;
  const at::Tensor m = input().view({side, side});
  auto gen = at::make_generator<at::CPUGeneratorImpl>(2);
  at::Tensor q = at::randn({side, rank}, gen), p = at::empty({side, rank});
  at::Tensor err = at::empty({side, side}), out = at::empty({side, side});
  double total_s = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    at::mm_out(p, m, q);
    compress::orthogonalize_columns(p);
    at::mm_out(q, m.t(), p);
    at::mm_out(out, p, q.t());
    at::sub_out(err, m, out);
    total_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    benchmark::DoNotOptimize(err.data_ptr());
  }
  state.SetBytesProcessed(state.iterations() * kN * 4);
  report_network(state, static_cast<double>(2 * side * rank * 4), total_s / static_cast<double>(state.iterations()));
}

void register_all() {
  benchmark::RegisterBenchmark("memcpy", BM_Memcpy)->Unit(benchmark::kMillisecond)->Iterations(5)->UseRealTime();
  for (const auto& m : compress::compressor_names()) {
    benchmark::RegisterBenchmark(("encode_decode/" + m).c_str(), BM_EncodeDecode, m)
        ->ArgName("threads")
        ->Arg(1)
        ->Arg(2)
        ->Unit(benchmark::kMillisecond)
        ->Iterations(3)
        ->UseRealTime();
  }
  benchmark::RegisterBenchmark("encode_decode/powersgd", BM_PowerSgd)
      ->ArgNames({"threads", "rank"})
      ->Args({1, 1})
      ->Args({2, 1})
      ->Args({1, 4})
      ->Args({2, 4})
      ->Unit(benchmark::kMillisecond)
      ->Iterations(3)
      ->UseRealTime();
}

}  // namespace

int main(int argc, char** argv) { return run_micro_benchmarks(argc, argv, register_all); }
