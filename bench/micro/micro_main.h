// The shared main() of the sparse-kernel benchmarks (sparse_linear, sparse_conv).
#pragma once

#include <benchmark/benchmark.h>

#include <ATen/Parallel.h>

#include <string>

#include "gossamer/util/allocator.h"

// Threads for LibTorch's pool and our kernels: --threads=N (default 2). OpenBLAS reads
// OPENBLAS_NUM_THREADS at load time: set both to the same value.
inline int g_threads = 2;

inline int run_micro_benchmarks(int argc, char** argv, void (*register_all)()) {
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]).rfind("--threads=", 0) == 0) {
      g_threads = std::stoi(std::string(argv[i]).substr(10));
      for (int j = i; j + 1 < argc; ++j) argv[j] = argv[j + 1];
      --argc;
      break;
    }
  }
  // Keep freed blocks mapped: on this VM a page fault costs ~2.5 ms per MiB, so with glibc's
  // defaults every fresh multi-MiB tensor (dense outputs, our panels) pays more than the arithmetic
  // of a sparse product (packing 256x4096 floats: 31 ms with faults, 0.4 ms without). Applies to
  // the dense reference and ours alike.
  gossamer::util::keep_freed_memory_mapped();
  at::set_num_threads(g_threads);
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
