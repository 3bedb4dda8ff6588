// Inference from an exported sparse model file (sparse/export.h): the pruned layers run on the
// sparse CPU kernels from the CSR weights as stored in the file (SparseKernelRouter), everything
// else on the rebuilt model's dense LibTorch layers. What `gossamer infer` runs.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "gossamer/data/dataset.h"
#include "gossamer/sparse/export.h"
#include "gossamer/train/evaluate.h"

namespace gossamer::train {

struct InferOptions {
  int64_t batch_size = 256;      // >= 1
  std::string kernels = "auto";  // auto | sparse | dense, as SparseKernelRouter
};

struct InferResult {
  EvalResult eval;
  double seconds = 0;       // the timed evaluation pass, without the one-off choice of kernels
  double images_per_s = 0;  // eval.samples / seconds
  std::vector<std::string> decisions;  // SparseKernelRouter::decisions()
};

// Checks that `data` fits the model of `m` (sample shape and classes); throws std::invalid_argument
// naming both shapes otherwise.
void check_inference_data(const sparse::SparseModel& m, const data::Dataset& data);

// Test loss and accuracy of `m` on `test` in batches of o.batch_size (train::evaluate), with the
// pruned layers routed as o.kernels says. One warm-up forward per batch size that occurs (the full
// batch and the last, shorter one) makes the "auto" choices before the timed pass. Throws
// std::invalid_argument for bad options or data.
InferResult infer(sparse::SparseModel& m, const data::Dataset& test, const InferOptions& o);

struct InferTiming {
  int64_t batch = 0;
  std::string kernels;        // auto | sparse | dense
  double images_per_s = 0;    // of the best round
  double pruned_share = 0;    // fraction of that round's forward wall time inside the pruned layers
  double pruned_seconds_per_batch = 0;
  double seconds_per_batch = 0;
};

// Forward throughput for every batch size and kernel mode, and the share of the time spent in the
// pruned layers (measured directly: SparseKernelRouter::set_profiling times every routed layer's
// call, and the share is that time over the whole forward's). Batches of `batch` images are taken in
// order from `inputs` ([N, ...], wrapping around). Each (batch, mode) is timed in `rounds` rounds,
// interleaved over the modes so that a change in machine load hits all of them; a round runs
// forwards until at least `min_seconds` / rounds and 3 forwards have passed, after one warm-up
// forward (which also makes the "auto" choice); the best round is reported.
std::vector<InferTiming> time_inference(sparse::SparseModel& m, const at::Tensor& inputs,
                                        const std::vector<int64_t>& batches, const std::vector<std::string>& modes,
                                        double min_seconds = 1.0, int rounds = 3);

}  // namespace gossamer::train
