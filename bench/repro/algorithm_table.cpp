// The README's algorithm table: every distributed optimizer of the library on every topology of
// interest, on one small, fixed budget. Fashion-MNIST, LeNet-5 ("CNN"), 16 in-process workers,
// Dirichlet(α = 0.3) label skew, the real trainer (train::run_training) with a configuration built
// in code. Per (algorithm, topology): final test accuracy of the averaged model, the worst
// worker's own accuracy, bytes each worker sent, and the communication time the α-β network model
// gives on a 1 Gbit/s, 50 µs network (cluster.bandwidth_gbps / cluster.latency_us).
//
// Algorithms that only use global collectives (parallel-sgd, local-sgd, wagma, diloco) do not read
// the topology: they run once. Combinations an algorithm refuses (d2 on a directed graph) are
// printed as "n/a (reason)".
#include <exception>
#include <map>

#include "gossamer/optim/factory.h"
#include "gossamer/topology/analysis.h"
#include "gossamer/topology/spec.h"
#include "gossamer/train/run.h"
#include "repro_common.h"
#include "trainer_runs.h"

namespace gossamer::repro {
namespace {

// Local-optimizer settings per algorithm: what each one accepts (docs/optimizers.md) and a
// learning rate in its usual range. One setting each, not tuned per topology.
std::vector<std::string> algorithm_overrides(const std::string& alg, const Flags& flags) {
  const std::string lr = flags.str("lr"), plain_lr = flags.str("plain-lr");
  if (alg == "d2" || alg == "gradient-tracking") {
    // Plain SGD only: "lr·g" in their recursions is undefined with momentum.
    return {"optimizer.name=\"sgd\"", "optimizer.lr=" + plain_lr, "optimizer.momentum=0.0", "optimizer.nesterov=false"};
  }
  if (alg == "dadam") {
    // Adam moments are the algorithm's own; the local SGD only carries lr and weight decay.
    return {"optimizer.name=\"sgd\"", "optimizer.lr=" + flags.str("adam-lr"), "optimizer.momentum=0.0",
            "optimizer.nesterov=false"};
  }
  if (alg == "diloco") {
    return {"optimizer.name=\"adamw\"", "optimizer.lr=" + flags.str("adam-lr")};
  }
  if (alg == "decentlam") {
    return {"optimizer.name=\"sgd\"", "optimizer.lr=" + lr, "optimizer.momentum=0.9", "optimizer.nesterov=false"};
  }
  return {"optimizer.name=\"sgd\"", "optimizer.lr=" + lr, "optimizer.momentum=0.9", "optimizer.nesterov=true"};
}

// A worker's error message, shortened for a table cell.
std::string short_reason(std::string s) {
  if (s.rfind("rank ", 0) == 0) {  // "rank R: ..." from the worker threads
    if (const auto c = s.find(": "); c != std::string::npos) s = s.substr(c + 2);
  }
  if (const auto p = s.find("; lower optimizer.lr"); p != std::string::npos) s = s.substr(0, p);
  if (s.size() > 100) s = s.substr(0, 97) + "...";
  return s;
}

int main_impl(int argc, char** argv) {
  Flags flags(argc, argv,
              "repro_algorithm_table: every distributed optimizer x {ring, torus, one-peer exponential, complete} on\n"
              "Fashion-MNIST LeNet-5, 16 in-process workers, Dirichlet(0.3) label skew, a small fixed budget;\n"
              "accuracy, bytes per worker, modelled communication time. Prints a table, writes CSV and Markdown.",
              {{"csv", {"runs/repro/algorithm_table.csv", "CSV, one row per (algorithm, topology)"}},
               {"markdown", {"runs/repro/algorithm_table.md", "the same table as Markdown (for the README)"}},
               {"out-dir", {"runs/repro/algorithm_table", "the trainer's metrics and checkpoints, one folder per run"}},
               {"data", {"/usr/share/datasets/fashion-mnist", "Fashion-MNIST folder"}},
               {"algorithms", {"", "comma-separated subset (default: all of optim::algorithm_names())"}},
               {"topologies", {"ring,torus,one-peer-exponential,complete", "gossip topologies"}},
               {"workers", {"16", "in-process workers"}},
               {"alpha", {"0.3", "Dirichlet concentration of the label-skew partition"}},
               {"epochs", {"1", "epochs per run"}},
               {"train-limit", {"20000", "use the first N training images (0 = all 60000)"}},
               {"test-limit", {"2000", "evaluate on the first N test images (0 = all 10000)"}},
               {"batch", {"16", "batch per worker"}},
               {"lr", {"0.05", "lr of the momentum-SGD algorithms (momentum 0.9)"}},
               {"plain-lr", {"0.1", "lr of d2 and gradient-tracking (plain SGD)"}},
               {"adam-lr", {"0.002", "lr of dadam and of diloco's inner AdamW"}},
               {"period", {"8", "H of gossip-pga, local-sgd and diloco"}},
               {"latency-us", {"50", "α of the network model"}},
               {"bandwidth-gbps", {"1", "β of the network model"}},
               {"threads", {"1", "train.threads"}},
               {"seed", {"1", "train.seed (also the partition's seed)"}}});
  util::keep_freed_memory_mapped();  // before the worker threads start (util/allocator.h)
  Stopwatch clock;
  std::vector<std::string> algorithms = flags.strings("algorithms");
  if (algorithms.empty()) algorithms = optim::algorithm_names();
  const std::vector<std::string> topologies = flags.strings("topologies");
  const int workers = static_cast<int>(flags.integer("workers"));

  Table table({"algorithm", "topology", "1-beta", "test acc %", "worst worker %", "MB sent/worker",
               "modelled comm s", "train wall_s", "note"});
  int runs = 0;
  for (const std::string& alg : algorithms) {
    const bool gossip = optim::algorithm_needs_topology(alg);
    const std::vector<std::string> tops = gossip ? topologies : std::vector<std::string>{"(global collectives)"};
    for (const std::string& tname : tops) {
      std::string gap_s = "";
      std::string na;
      if (gossip) {
        topology::TopologySpec ts;
        ts.name = tname;
        ts.workers = workers;
        const topology::Topology topo = topology::make_topology(ts);
        gap_s = sci(topology::spectral_gap(topo));
        // Refused by the optimizers themselves (docs/optimizers.md); said here in a table-sized form.
        if (alg == "d2" && !topology::is_symmetric(topo)) na = "n/a (d2 needs a symmetric W; " + tname + " is directed)";
        if (alg == "decentlam" && !topology::is_symmetric(topo)) {
          na = "n/a (decentlam with momentum needs a symmetric W; " + tname + " is directed)";
        }
      }
      if (!na.empty()) {
        table.add({alg, tname, gap_s, na, "", "", "", "", ""});
        progress(clock, alg + " on " + tname + ": " + na);
        continue;
      }
      std::vector<std::string> ov{
          "data.path=\"" + flags.str("data") + "\"",
          "data.partition=\"dirichlet\"",
          "data.dirichlet_alpha=" + flags.str("alpha"),
          "data.train_limit=" + flags.str("train-limit"),
          "data.test_limit=" + flags.str("test-limit"),
          "model.name=\"lenet5\"",
          "train.epochs=" + flags.str("epochs"),
          "train.batch_size=" + flags.str("batch"),
          "train.threads=" + flags.str("threads"),
          "train.seed=" + flags.str("seed"),
          "train.log_every=25",
          "optimizer.algorithm=\"" + alg + "\"",
          "optimizer.period=" + flags.str("period"),
          "schedule.name=\"cosine\"",
          "output.dir=\"" + flags.str("out-dir") + "/" + alg + (gossip ? "-" + tname : "") + "\"",
          "output.progress=\"lines\"",
          "output.checkpoint_every=1000000",  // only the final checkpoint
          "cluster.workers=" + std::to_string(workers),
          "cluster.topology=\"" + (gossip ? tname : std::string("ring")) + "\"",
          "cluster.latency_us=" + flags.str("latency-us"),
          "cluster.bandwidth_gbps=" + flags.str("bandwidth-gbps"),
      };
      for (auto& o : algorithm_overrides(alg, flags)) ov.push_back(o);
      const config::Config cfg = make_config(ov);
      progress(clock, alg + (gossip ? " on " + tname : std::string(" (global collectives)")) + ": training");
      ++runs;
      try {
        train::RunSummary s;
        {
          StdoutToStderr redirect;  // the trainer's progress lines go to stderr
          s = train::run_training(cfg, /*resume=*/false);
        }
        table.add({alg, tname, gap_s, fixed(100 * s.test_accuracy, 2), fixed(100 * s.worst_worker_accuracy, 2),
                   fixed(s.bytes_sent_per_worker / 1e6, 2), fixed(s.modelled_comm_s, 3), fixed(s.wall_s, 1),
                   std::to_string(s.steps) + " steps"});
        progress(clock, "  -> " + fixed(100 * s.test_accuracy, 2) + "% (worst worker " +
                            fixed(100 * s.worst_worker_accuracy, 2) + "%), " + fixed(s.bytes_sent_per_worker / 1e6, 2) +
                            " MB/worker, modelled comm " + fixed(s.modelled_comm_s, 3) + " s, wall " + fixed(s.wall_s, 1) +
                            " s");
      } catch (const std::invalid_argument& e) {
        // An algorithm refusing a combination (a config it cannot use) is reported, not fatal.
        const std::string why = "n/a (" + short_reason(e.what()) + ")";
        table.add({alg, tname, gap_s, why, "", "", "", "", ""});
        progress(clock, "  -> " + why);
      } catch (const std::exception& e) {
        const std::string why = "diverged/failed (" + short_reason(e.what()) + ")";
        table.add({alg, tname, gap_s, why, "", "", "", "", ""});
        progress(clock, "  -> " + why);
      }
    }
  }

  const std::string train_n = flags.str("train-limit") == "0" ? "60000" : flags.str("train-limit");
  const std::string test_n = flags.str("test-limit") == "0" ? "10000" : flags.str("test-limit");
  const std::string setup =
      "Fashion-MNIST LeNet-5, " + std::to_string(workers) + " in-process workers, Dirichlet(alpha = " +
      flags.str("alpha") + ") label skew over the first " + train_n + " training images, " + flags.str("epochs") +
      " epoch(s), batch " + flags.str("batch") + " per worker, cosine schedule; accuracy of the averaged model on " +
      test_n + " test images. Network model: " + flags.str("bandwidth-gbps") + " Gbit/s, " + flags.str("latency-us") +
      " us per message. Momentum-SGD methods lr " + flags.str("lr") + " (momentum 0.9); d2 and gradient-tracking " +
      "plain SGD lr " + flags.str("plain-lr") + "; dadam and diloco (inner AdamW) lr " + flags.str("adam-lr") +
      "; H = " + flags.str("period") + " for gossip-pga, local-sgd and diloco; wagma groups of 4, global every 10.";
  std::cout << "\n" << setup << "\n\n";
  table.print(std::cout);
  table.write_csv(flags.str("csv"));
  table.write_markdown(flags.str("markdown"), setup + " Command: `build/bench/repro_algorithm_table`.");
  std::cout << "\nwrote " << flags.str("csv") << " and " << flags.str("markdown") << " (" << runs << " runs, "
            << fixed(clock.seconds(), 1) << " s)\n";
  return 0;
}

}  // namespace
}  // namespace gossamer::repro

int main(int argc, char** argv) {
  return gossamer::repro::run_main("repro_algorithm_table", argc, argv, gossamer::repro::main_impl);
}
