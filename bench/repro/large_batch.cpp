// Reproduction of the shape claimed by arXiv 2104.11981 (DecentLaM): as the total batch grows
// (with the learning rate scaled linearly and a warm-up), decentralized momentum SGD (DmSGD) loses
// accuracy because its momentum amplifies the inconsistency bias between workers; DecentLaM, which
// puts the momentum on the mixed direction, keeps up with (or beats) parallel momentum SGD.
//
// Fashion-MNIST, LeNet-5, 8 in-process workers on a ring, the real trainer (train::run_training)
// with a configuration built in code. DmSGD is algorithm "dsgd" with the local SGD's heavy-ball
// momentum (docs/optimizers.md); parallel momentum SGD is "parallel-sgd" with the same local SGD.
#include <algorithm>
#include <cmath>
#include <exception>

#include "gossamer/train/run.h"
#include "repro_common.h"
#include "trainer_runs.h"

namespace gossamer::repro {
namespace {

struct Algo {
  std::string label, algorithm;
};

int main_impl(int argc, char** argv) {
  Flags flags(argc, argv,
              "repro_large_batch: DmSGD vs DecentLaM vs parallel momentum SGD as the total batch grows\n"
              "(arXiv 2104.11981); Fashion-MNIST LeNet-5, 8 in-process workers; prints a table, writes CSV.",
              {{"csv", {"runs/repro/large_batch.csv", "summary CSV, one row per (batch, algorithm)"}},
               {"out-dir", {"runs/repro/large_batch", "the trainer's metrics and checkpoints, one folder per run"}},
               {"data", {"/usr/share/datasets/fashion-mnist", "Fashion-MNIST folder"}},
               {"batches", {"256,2048,8192", "total batch sizes (split evenly over the workers)"}},
               {"workers", {"8", "in-process workers"}},
               {"algorithms", {"parallel-sgd,dsgd,decentlam", "subset, in this order: parallel mSGD, DmSGD, DecentLaM"}},
               {"topology", {"ring", "gossip topology for DmSGD and DecentLaM"}},
               {"epochs", {"3", "epochs per run (the same for every batch size)"}},
               {"train-limit", {"0", "use the first N training images (0 = all 60000)"}},
               {"test-limit", {"2000", "evaluate on the first N test images (0 = all 10000)"}},
               {"base-lr", {"0.005", "learning rate at total batch 256; scaled linearly with the batch"}},
               {"warmup-epochs", {"1", "linear warm-up (schedule.warmup_epochs), then cosine decay"}},
               {"momentum", {"0.9", "heavy-ball momentum of every algorithm (no Nesterov)"}},
               {"weight-decay", {"1e-4", "L2 weight decay"}},
               {"threads", {"1", "train.threads (intra-op threads per process; the workers are threads too)"}},
               {"seed", {"1", "train.seed"}}});
  util::keep_freed_memory_mapped();  // before the worker threads start (util/allocator.h)
  Stopwatch clock;
  std::vector<Algo> algos;
  for (const std::string& name : flags.strings("algorithms")) {
    if (name == "parallel-sgd") algos.push_back({"parallel mSGD", name});
    else if (name == "dsgd") algos.push_back({"DmSGD", name});
    else if (name == "decentlam") algos.push_back({"DecentLaM", name});
    else throw std::invalid_argument("--algorithms: '" + name + "' is not one of parallel-sgd, dsgd, decentlam");
  }
  const int64_t workers = flags.integer("workers");
  const double base_lr = flags.num("base-lr");

  Table summary({"total batch", "per worker", "lr", "algorithm", "steps", "test acc %", "worst worker %",
                 "consensus dist", "train wall_s", "status"});
  std::vector<std::string> wide_cols{"total batch", "lr", "steps"};
  for (const auto& a : algos) wide_cols.push_back(a.label + " acc %");
  Table wide(wide_cols);

  for (int64_t batch : flags.integers("batches")) {
    if (batch % workers != 0) {
      throw std::invalid_argument("--batches: " + std::to_string(batch) + " is not divisible by --workers " +
                                  std::to_string(workers));
    }
    const double lr = base_lr * static_cast<double>(batch) / 256.0;
    const int64_t train_n = flags.integer("train-limit") > 0 ? std::min<int64_t>(60000, flags.integer("train-limit")) : 60000;
    const int64_t log_every = std::max<int64_t>(1, (train_n + batch - 1) / batch / 3);  // ~3 progress lines an epoch
    std::vector<std::string> row{std::to_string(batch), fixed(lr, 4), ""};
    for (const Algo& a : algos) {
      const std::string dir = flags.str("out-dir") + "/b" + std::to_string(batch) + "-" + a.algorithm;
      const config::Config cfg = make_config({
          "data.path=\"" + flags.str("data") + "\"",
          "data.train_limit=" + flags.str("train-limit"),
          "data.test_limit=" + flags.str("test-limit"),
          "model.name=\"lenet5\"",
          "train.epochs=" + flags.str("epochs"),
          "train.batch_size=" + std::to_string(batch / workers),
          "train.threads=" + flags.str("threads"),
          "train.seed=" + flags.str("seed"),
          "train.log_every=" + std::to_string(log_every),
          "optimizer.algorithm=\"" + a.algorithm + "\"",
          "optimizer.name=\"sgd\"",
          "optimizer.lr=" + sci(lr, 6),
          "optimizer.momentum=" + flags.str("momentum"),
          "optimizer.nesterov=false",
          "optimizer.weight_decay=" + flags.str("weight-decay"),
          "schedule.name=\"cosine\"",
          "schedule.warmup_epochs=" + flags.str("warmup-epochs"),
          "output.dir=\"" + dir + "\"",
          "output.progress=\"lines\"",
          "cluster.workers=" + std::to_string(workers),
          "cluster.topology=\"" + flags.str("topology") + "\"",
      });
      progress(clock, "batch " + std::to_string(batch) + " (" + std::to_string(batch / workers) + "/worker), lr " +
                          fixed(lr, 4) + ", " + a.label + ": training " + flags.str("epochs") + " epoch(s)");
      std::string status = "ok";
      train::RunSummary s;
      try {
        StdoutToStderr redirect;  // the trainer's progress lines go to stderr
        s = train::run_training(cfg, /*resume=*/false);
      } catch (const std::exception& e) {
        // A NaN loss at a too-large lr is a result (divergence), not a failure of the command.
        status = std::string("failed: ") + e.what();
      }
      const bool ok = status == "ok";
      progress(clock, "  -> " + (ok ? "test accuracy " + fixed(100 * s.test_accuracy, 2) + "% in " +
                                           fixed(s.wall_s, 1) + " s"
                                     : status));
      summary.add({std::to_string(batch), std::to_string(batch / workers), fixed(lr, 4), a.label,
                   ok ? std::to_string(s.steps) : "", ok ? fixed(100 * s.test_accuracy, 2) : "",
                   ok ? fixed(100 * s.worst_worker_accuracy, 2) : "", ok ? sci(s.consensus_distance) : "",
                   ok ? fixed(s.wall_s, 1) : "", ok ? "ok" : "diverged or failed"});
      if (ok) row[2] = std::to_string(s.steps);
      row.push_back(ok ? fixed(100 * s.test_accuracy, 2) : "diverged");
    }
    wide.add(row);
  }

  std::cout << "\nFashion-MNIST LeNet-5, " << workers << " in-process workers (" << flags.str("topology")
            << " for the gossip methods), " << flags.str("epochs") << " epoch(s) per run"
            << (flags.str("train-limit") == "0" ? "" : " on the first " + flags.str("train-limit") + " images")
            << ", lr = " << flags.str("base-lr") << " x batch/256, " << flags.str("warmup-epochs")
            << " warm-up epoch(s) then cosine, momentum " << flags.str("momentum")
            << "; test accuracy of the averaged model.\n\n";
  wide.print(std::cout);
  std::cout << "\nper run:\n";
  summary.print(std::cout);
  summary.write_csv(flags.str("csv"));
  std::cout << "\nwrote " << flags.str("csv") << " (" << fixed(clock.seconds(), 1) << " s)\n";
  return 0;
}

}  // namespace
}  // namespace gossamer::repro

int main(int argc, char** argv) {
  return gossamer::repro::run_main("repro_large_batch", argc, argv, gossamer::repro::main_impl);
}
