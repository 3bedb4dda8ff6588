#include "gossamer/train/run.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <stdexcept>

#include "gossamer/comm/communicator.h"
#include "gossamer/comm/gloo_communicator.h"
#include "gossamer/comm/inprocess_communicator.h"
#include "gossamer/data/fashion_mnist.h"
#include "gossamer/data/partition.h"
#include "gossamer/topology/spec.h"
#include "gossamer/topology/topology.h"
#include "gossamer/topology/weights.h"
#include "gossamer/train/preflight.h"
#include "gossamer/util/log.h"

namespace gossamer::train {

namespace {

std::vector<data::Dataset> shards(const data::Dataset& train, const config::Config& cfg) {
  const int n = static_cast<int>(cfg.cluster.workers);
  if (n == 1) return {train};
  data::PartitionSpec ps;
  ps.kind = data::parse_partition_kind(cfg.data.partition);
  ps.alpha = cfg.data.dirichlet_alpha;
  ps.classes_per_worker = static_cast<int>(cfg.data.classes_per_worker);
  ps.seed = static_cast<uint64_t>(cfg.train.seed);
  std::vector<data::Dataset> out;
  for (const auto& idx : data::partition(train.targets, train.num_classes, n, ps)) out.push_back(train.subset(idx));
  return out;
}

comm::NetworkModel network(const config::Config& cfg) {
  comm::NetworkModel m;
  m.latency_s = cfg.cluster.latency_us * 1e-6;
  m.bandwidth_bytes_per_s = cfg.cluster.bandwidth_gbps * 1e9 / 8.0;
  return m;
}

}  // namespace

data::Dataset first_samples(const data::Dataset& d, int64_t n) {
  if (n <= 0 || n >= d.size()) return d;
  data::Dataset out = d;
  out.inputs = d.inputs.narrow(0, 0, n);
  out.targets = d.targets.narrow(0, 0, n);
  return out;
}

RunSummary run_training(const config::Config& cfg, bool resume, const std::atomic<bool>* stop) {
  // Every problem the configuration has, at once, before any data loads.
  const PreflightReport checked = preflight(cfg, resume);
  for (const auto& note : checked.notes) util::log_info("note: " + note);
  if (checked.memory_available > 0) {
    char line[160];
    std::snprintf(line, sizeof line, "memory: about %.2f GB estimated for this machine's workers, %.1f GB available",
                  checked.memory_needed / 1e9, checked.memory_available / 1e9);
    util::log_info(line);
  }
  const int workers = static_cast<int>(cfg.cluster.workers);
  const bool gloo = cfg.cluster.backend == "gloo";
  // In-process workers share the cores: by default one intra-op thread each.
  // In-process workers share the cores: by default one intra-op thread each. Gloo processes on one
  // machine share them too: by default the cores divided by the local processes (LOCAL_WORLD_SIZE,
  // set by gossamer launch and torchrun), or every process would spin on every core.
  int64_t requested = cfg.train.threads;
  std::string why;
  if (requested == 0 && workers > 1 && !gloo) requested = 1;
  if (requested == 0 && gloo) {
    const char* local = std::getenv("LOCAL_WORLD_SIZE");
    const int64_t local_workers = local ? std::max<int64_t>(1, std::atoll(local)) : 1;
    const int64_t cores = std::max(1u, std::thread::hardware_concurrency());
    requested = std::max<int64_t>(1, cores / local_workers);
    if (local_workers > 1) {
      why = "; " + std::to_string(local_workers) + " local Gloo workers share " + std::to_string(cores) +
            " cores (train.threads changes it)";
    }
  }
  const int threads = configure_threads(requested, cfg.train.blas_threads);
  util::log_info("loading Fashion-MNIST from " + cfg.data.path + " (" + std::to_string(threads) +
                 " intra-op thread(s) per worker, BLAS threads " +
                 (cfg.train.blas_threads > 0 ? std::to_string(cfg.train.blas_threads) : std::string("default")) + why +
                 ")");
  data::FashionMnist fm = data::load_fashion_mnist(cfg.data.path);
  const data::Dataset train = first_samples(fm.train, cfg.data.train_limit);
  const data::Dataset test = first_samples(fm.test, cfg.data.test_limit);
  const std::vector<data::Dataset> parts = shards(train, cfg);
  const std::chrono::milliseconds timeout(cfg.cluster.timeout_ms);

  if (workers == 1 && !gloo) {
    Trainer trainer(cfg, parts[0], test, cfg.output.dir);
    return trainer.run(resume, stop);
  }
  const topology::Topology topo = build_topology(cfg);

  if (gloo) {
    // This process is one worker; `gossamer launch` (or torchrun, mpirun) starts the others.
    auto comm = comm::make_gloo_from_env(timeout);
    if (comm->size() != workers) {
      throw std::invalid_argument("cluster.workers = " + std::to_string(workers) + " but the launcher started " +
                                  std::to_string(comm->size()) + " processes (WORLD_SIZE)");
    }
    comm->set_network(network(cfg));
    WorkerContext ctx{comm.get(), &topo};
    Trainer trainer(cfg, parts[static_cast<size_t>(comm->rank())], test, cfg.output.dir, ctx);
    return trainer.run(resume, stop);
  }

  RunSummary summary;
  std::mutex mu;
  comm::run_inprocess(
      workers,
      [&](comm::Communicator& c) {
        c.set_network(network(cfg));
        WorkerContext ctx{&c, &topo};
        Trainer trainer(cfg, parts[static_cast<size_t>(c.rank())], test, cfg.output.dir, ctx);
        RunSummary s = trainer.run(resume, stop);
        if (c.rank() == 0) {
          std::lock_guard<std::mutex> lock(mu);
          summary = s;
        }
      },
      timeout);
  return summary;
}

}  // namespace gossamer::train
