// One worker's training loop: batches -> forward/backward -> optimizer step, with a learning-rate
// schedule, periodic metrics (JSON lines), evaluation, atomic checkpoints and exact resume.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gossamer/config/config.h"
#include "gossamer/data/dataset.h"

namespace gossamer::comm {
class Communicator;
}
namespace gossamer::topology {
class Topology;
}

namespace gossamer::train {

// Where a worker stands in a multi-worker run. The default is a single worker: the Trainer then
// makes its own group of one (a worker that talks to nobody runs the same code path).
struct WorkerContext {
  comm::Communicator* comm = nullptr;             // required when the run has more than one worker
  const topology::Topology* topology = nullptr;   // required by gossip algorithms
};

struct RunSummary {
  int workers = 1;
  int rank = 0;                // the worker that returned it; rank 0's summary is the run's (Gloo: one per process)
  int64_t steps = 0;           // completed optimizer steps
  int64_t total_steps = 0;     // planned
  double test_accuracy = 0;    // in [0, 1], at the end
  double test_loss = 0;
  int64_t start_step = 0;      // where this invocation began (> 0 when resumed)
  double wall_s = 0;           // this invocation's time in run(): steps, evaluations, checkpoints, export
  double samples_per_s = 0;    // training samples per second of wall_s, this invocation
  double step_s = 0;           // the part of wall_s spent in training steps (forward, backward, optimizer)
  bool stopped_early = false;  // interrupted or train.max_steps reached
  bool interrupted = false;    // stopped by a signal (Ctrl-C), not by train.max_steps
  int64_t max_steps = 0;       // the train.max_steps this invocation stopped at (0: none applied)
  std::string metrics_path, checkpoint_path;
  // Multi-worker runs (zeros otherwise): the training algorithm's own traffic per worker (metric
  // reductions excluded), and the models' agreement at the end.
  double bytes_sent_per_worker = 0;       // total over the run, mean over workers
  double bytes_sent_per_step = 0;         // per worker per step
  // What bytes_sent_per_worker would have been with the optimizer's messages dense (the seam's
  // dense_bytes_sent, computed from comm/traffic.h; every other message as sent).
  double dense_bytes_sent_per_worker = 0;
  std::string messages;                   // how the optimizer's messages travel (MessageSeam::describe)
  double pack_s_per_worker = 0;           // measured time packing/unpacking messages (this invocation)
  double modelled_comm_s = 0;             // α-β modelled communication time, mean over workers
  double consensus_distance = 0;          // (1/n) sum_i ||x_i - x_mean||^2
  double worst_worker_accuracy = 0;       // lowest test accuracy of any honest worker's own model
  // [robust] / [attack]: the attacking ranks (left out of the accuracy, the mean model and the
  // consensus distance), the workers the aggregator excluded (SafeguardSGD's evictions), and the
  // messages rejected by their receivers over the run (summed over workers).
  std::vector<int> byzantine;
  std::vector<int> excluded;
  int64_t rejected_messages = 0;
  // Sparse runs (sparse.method != "none"; zeros otherwise), at the end of the run.
  bool sparse = false;
  double sparsity = 0;                    // fraction of zeros over the pruned layers
  double dense_flops = 0, sparse_flops = 0;  // per sample, pruned layers only (sparse/metrics.h)
  std::vector<std::pair<std::string, double>> layer_sparsity;
  std::string sparse_model_path;          // exported non-zeros (rank 0 writes it)
  std::string torch_model_path;           // model.pt: the deployed model as a state_dict Python's torch.load reads
  int64_t sparse_model_bytes = 0;
  int64_t dense_model_bytes = 0;          // the same parameters stored dense (float32)
  std::vector<std::string> kernel_decisions;  // sparse.kernels = auto: which layers ran sparse, measured times
};

class Trainer {
 public:
  // `train` is this worker's shard; `test` is evaluated at the end of every epoch. Results go to
  // `out_dir` (created): metrics.jsonl and config.toml (written by rank 0), checkpoint.pt
  // (one worker) or checkpoint-rank<R>.pt (one per worker).
  // With ctx.comm set, every worker of the run constructs its Trainer and calls run() together:
  // the loop makes the same collective calls in the same order on every rank. The constructor
  // itself makes one (it sums the shard sizes so that every worker plans the same steps per epoch).
  Trainer(const config::Config& config, data::Dataset train, const data::Dataset& test, std::string out_dir,
          WorkerContext ctx = {});
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // Trains until the planned number of steps, train.max_steps, or until *stop becomes true (then
  // it finishes the current step and writes a checkpoint). With resume = true it continues from
  // its checkpoint, producing the same metrics the uninterrupted run would have. In multi-worker
  // runs the stop request is agreed on at the next log step, so that every worker stops together.
  RunSummary run(bool resume, const std::atomic<bool>* stop = nullptr);

  int64_t steps_per_epoch() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// Sets LibTorch's intra-op threads (0 = every core) and OpenBLAS's own threads (`blas_threads`;
// 0 = leave OpenBLAS's default); returns the number of intra-op threads set.
int configure_threads(int64_t requested, int64_t blas_threads);

}  // namespace gossamer::train
