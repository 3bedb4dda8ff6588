// `gossamer infer MODEL.sparse [--kernels auto|sparse|dense] [--bench]`: test accuracy and speed of
// an exported sparse model, with its pruned layers on the sparse kernels (with the file's masks).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <stdexcept>

#include "commands.h"
#include "errors.h"
#include "gossamer/data/dataset.h"
#include "gossamer/data/fashion_mnist.h"
#include "gossamer/sparse/export.h"
#include "gossamer/train/infer.h"
#include "gossamer/train/run.h"
#include "gossamer/train/trainer.h"

namespace gossamer::cli {

namespace {

struct InferArgs {
  std::string model_path, data_dir = data::kDefaultFashionMnistDir, kernels = "auto";
  int64_t limit = 0, batch = 256, threads = 0;
  bool bench = false;
  std::vector<int64_t> bench_batches{1, 16, 64, 256};
  double bench_seconds = 1.0;
};

std::string shape_text(int64_t rows, int64_t cols) {
  return "[" + std::to_string(rows) + ", " + std::to_string(cols) + "]";
}

int run_infer(const InferArgs& a) {
  sparse::SparseModel m;
  try {
    m = sparse::load_sparse_model(a.model_path);
  } catch (const std::exception& e) {
    throw InputError(e.what());
  }
  data::Dataset test;
  try {
    test = train::first_samples(data::load_fashion_mnist_test(a.data_dir), a.limit);
  } catch (const data::DataError& e) {
    throw InputError(std::string("data error: ") + e.what());
  }
  const int threads = train::configure_threads(a.threads, /*blas_threads=*/1);  // as train.blas_threads defaults

  int64_t numel = 0, nnz = 0;
  for (const auto& [name, csr] : m.sparse) {
    numel += csr.rows * csr.cols;
    nnz += csr.nnz();
  }
  std::printf("gossamer infer: %s  (%s, %.1f kB, %zu pruned layers %.1f%% sparse)\n", a.model_path.c_str(),
              m.spec.name.c_str(), static_cast<double>(m.file_bytes) / 1e3, m.sparse.size(),
              numel > 0 ? 100.0 * static_cast<double>(numel - nnz) / static_cast<double>(numel) : 0.0);
  std::printf("data             %lld test images from %s, batch %lld, %d threads, kernels %s\n",
              static_cast<long long>(test.size()), a.data_dir.c_str(), static_cast<long long>(a.batch), threads,
              a.kernels.c_str());
  for (const auto& [name, csr] : m.sparse) {
    const auto enc = m.encodings.find(name);
    const bool masked = enc != m.encodings.end() && enc->second == "masked";
    std::printf("layer            %-14s %-12s %6.1f%% sparse (%lld non-zeros; stored as %s)\n", name.c_str(),
                shape_text(csr.rows, csr.cols).c_str(), 100.0 * csr.sparsity(), static_cast<long long>(csr.nnz()),
                masked ? "values + bitmask" : "CSR");
  }
  std::fflush(stdout);

  train::InferOptions o;
  o.batch_size = a.batch;
  o.kernels = a.kernels;
  const train::InferResult r = train::infer(m, test, o);
  std::printf("test accuracy    %.2f%%  (loss %.4f)\n", 100.0 * r.eval.accuracy, r.eval.loss);
  std::printf("throughput       %.0f images/s  (%.3f s for %lld images; the kernel choice on a warm-up batch not counted)\n",
              r.images_per_s, r.seconds, static_cast<long long>(r.eval.samples));
  for (const auto& d : r.decisions) std::printf("kernels          %s\n", d.c_str());
  std::fflush(stdout);
  if (!a.bench) return 0;

  std::printf("\n== timing: forward only, best of 3 rounds of >= %.2f s per batch size and kernels ==\n",
              a.bench_seconds / 3);
  std::printf("%6s  %-7s %12s %11s %16s %13s %11s %11s\n", "batch", "kernels", "images/s", "ms/batch",
              "pruned ms/batch", "pruned share", "vs dense", "Amdahl max");
  std::fflush(stdout);
  const std::vector<std::string> modes{"dense", "sparse", "auto"};
  for (int64_t b : a.bench_batches) {
    const auto rows = train::time_inference(m, test.inputs, {b}, modes, a.bench_seconds);
    double dense_ips = 0;
    for (const auto& t : rows) {
      if (t.kernels == "dense") dense_ips = t.images_per_s;
    }
    for (const auto& t : rows) {
      // Amdahl max: the speedup over this row if the pruned layers cost nothing, 1 / (1 - share).
      std::printf("%6lld  %-7s %12.0f %11.3f %16.3f %12.1f%% %10.2fx %10.2fx\n", static_cast<long long>(t.batch),
                  t.kernels.c_str(), t.images_per_s, 1e3 * t.seconds_per_batch, 1e3 * t.pruned_seconds_per_batch,
                  100.0 * t.pruned_share, t.images_per_s / std::max(1e-12, dense_ips),
                  1.0 / std::max(1e-12, 1.0 - t.pruned_share));
    }
    std::fflush(stdout);
  }
  std::printf("pruned share: wall time inside the pruned layers' forwards (timed around each call) over the whole\n"
              "forward's; Amdahl max = 1 / (1 - share), the most that faster pruned layers could still gain.\n");
  return 0;
}

}  // namespace

void add_infer_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<InferArgs>();
  auto* cmd = app.add_subcommand(
      "infer", "Test accuracy and speed of an exported sparse model (model.sparse) on the sparse kernels");
  cmd->add_option("model", args->model_path, "model.sparse written by `gossamer train` or `gossamer prune`")->required();
  cmd->add_option("--data", args->data_dir, "Fashion-MNIST folder (the four .gz IDX files)");
  cmd->add_option("--limit", args->limit, "evaluate the first N test images (0: all)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--batch", args->batch, "images per forward")->check(CLI::PositiveNumber);
  cmd->add_option("--threads", args->threads, "intra-op threads (0: every core)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--kernels", args->kernels,
                  "auto: per layer and batch size the faster of the two, timed once; sparse / dense: forced")
      ->check(CLI::IsMember({"auto", "sparse", "dense"}));
  cmd->add_flag("--bench", args->bench, "also print dense vs sparse vs auto images/s per batch size");
  cmd->add_option("--bench-batches", args->bench_batches, "batch sizes for --bench")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--bench-seconds", args->bench_seconds, "seconds timed per batch size and kernels")
      ->check(CLI::PositiveNumber);
  cmd->callback([args, &exit_code] {
    exit_code = run_reported("infer", [&] { return run_infer(*args); });
  });
}

}  // namespace gossamer::cli
