#include "gossamer/train/infer.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <stdexcept>

#include "gossamer/models/model.h"
#include "gossamer/train/sparse_kernels.h"

namespace gossamer::train {

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::string shape_text(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

}  // namespace

void check_inference_data(const sparse::SparseModel& m, const data::Dataset& data) {
  if (data.size() == 0) throw std::invalid_argument("inference: the test set is empty");
  const std::vector<int64_t> sample = data.inputs.sizes().slice(1).vec();
  if (sample != m.spec.input_shape) {
    throw std::invalid_argument("inference: the data's samples are " + shape_text(sample) + " but model '" +
                                m.spec.name + "' takes " + shape_text(m.spec.input_shape));
  }
  if (data.num_classes > 0 && data.num_classes != m.spec.num_classes) {
    throw std::invalid_argument("inference: the data has " + std::to_string(data.num_classes) + " classes but model '" +
                                m.spec.name + "' predicts " + std::to_string(m.spec.num_classes));
  }
}

InferResult infer(sparse::SparseModel& m, const data::Dataset& test, const InferOptions& o) {
  check_kernels_mode(o.kernels);
  if (o.batch_size < 1) throw std::invalid_argument("inference: batch size " + std::to_string(o.batch_size) + " < 1");
  check_inference_data(m, test);
  models::Model& model = *m.model;
  SparseKernelRouter router(model, m.sparse, o.kernels);
  {
    // Warm-up per batch size the pass will see, until "auto" has timed both paths on the model's
    // calls, so that the timed pass below includes neither that nor first-call allocations.
    at::NoGradGuard no_grad;
    model.eval();
    const int64_t n = test.size(), full = std::min(o.batch_size, n), tail = n % o.batch_size;
    do model.forward(test.inputs.narrow(0, 0, full));
    while (router.deciding());
    if (tail != 0 && tail != full) {
      do model.forward(test.inputs.narrow(0, 0, tail));
      while (router.deciding());
    }
  }
  InferResult r;
  const auto t0 = Clock::now();
  r.eval = evaluate(model, test, o.batch_size);
  r.seconds = since(t0);
  r.images_per_s = static_cast<double>(r.eval.samples) / std::max(1e-12, r.seconds);
  r.decisions = router.decisions();
  return r;
}

std::vector<InferTiming> time_inference(sparse::SparseModel& m, const at::Tensor& inputs,
                                        const std::vector<int64_t>& batches, const std::vector<std::string>& modes,
                                        double min_seconds, int rounds) {
  for (const auto& mode : modes) check_kernels_mode(mode);
  if (rounds < 1) throw std::invalid_argument("inference timing: rounds " + std::to_string(rounds) + " < 1");
  const int64_t n = inputs.size(0);
  if (n == 0) throw std::invalid_argument("inference timing: no inputs");
  models::Model& model = *m.model;
  at::NoGradGuard no_grad;
  model.eval();
  std::vector<InferTiming> out;
  for (int64_t batch : batches) {
    if (batch < 1) throw std::invalid_argument("inference timing: batch size " + std::to_string(batch) + " < 1");
    // Up to 8 distinct batches of consecutive inputs (wrapping around the data), made before the
    // timed loops so that slicing and copying are not timed; the loops cycle through them.
    std::vector<at::Tensor> pool;
    for (int64_t k = 0; k < std::max<int64_t>(1, std::min<int64_t>(8, n / batch)); ++k) {
      const int64_t start = (k * batch) % n;
      pool.push_back(start + batch <= n
                         ? inputs.narrow(0, start, batch).contiguous()
                         : inputs.index_select(0, at::arange(start, start + batch, at::kLong).remainder(n)));
    }
    auto batch_at = [&](int64_t k) -> const at::Tensor& { return pool[static_cast<size_t>(k) % pool.size()]; };
    std::map<std::string, InferTiming> best;
    for (int round = 0; round < rounds; ++round) {
      for (const auto& mode : modes) {
        SparseKernelRouter router(model, m.sparse, mode);
        do model.forward(batch_at(0));  // warm-up, and the "auto" choice for this batch size
        while (router.deciding());
        router.set_profiling(true);
        int64_t k = 0;
        const auto t0 = Clock::now();
        double elapsed = 0;
        while (k < 3 || elapsed < min_seconds / rounds) {
          model.forward(batch_at(k + 1));
          ++k;
          elapsed = since(t0);
        }
        double pruned = 0;
        for (const auto& l : router.profile()) pruned += l.seconds;
        InferTiming t;
        t.batch = batch;
        t.kernels = mode;
        t.images_per_s = static_cast<double>(k * batch) / elapsed;
        t.seconds_per_batch = elapsed / static_cast<double>(k);
        t.pruned_seconds_per_batch = pruned / static_cast<double>(k);
        t.pruned_share = pruned / elapsed;
        auto it = best.find(mode);
        if (it == best.end() || t.images_per_s > it->second.images_per_s) best[mode] = t;
      }
    }
    for (const auto& mode : modes) out.push_back(best.at(mode));
  }
  return out;
}

}  // namespace gossamer::train
