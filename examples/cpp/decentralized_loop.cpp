// Your own LibTorch model and training loop, made decentralized and sparse with Gossamer.
//
// Four workers train a small classifier on their own shards of a synthetic data set. Each worker
// talks only to its two neighbours on a ring: after every local step it averages its model with
// theirs (D-SGD with momentum, optim::make_distributed_optimizer("dsgd", ...)). A GMP pruner
// (sparse::Pruner) removes 80% of the weights gradually while it trains.
//
// Run it as four threads of one process (comm::InProcessGroup):
//   ./decentralized_loop
// or as one process per worker over Gloo, with the same code (comm::make_gloo_from_env):
//   gossamer launch --workers 4 -- ./decentralized_loop
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "gossamer/gossamer.h"

namespace {

// The user's model: nothing Gossamer-specific about it.
struct TwoLayerNet : torch::nn::Module {
  TwoLayerNet(int64_t in, int64_t hidden, int64_t classes)
      : fc1(register_module("fc1", torch::nn::Linear(in, hidden))),
        fc2(register_module("fc2", torch::nn::Linear(hidden, classes))) {}
  torch::Tensor forward(const torch::Tensor& x) { return fc2(torch::relu(fc1(x))); }
  torch::nn::Linear fc1, fc2;
};

constexpr int64_t kFeatures = 32, kClasses = 10, kTrainPerWorker = 2048, kTest = 2000;
constexpr int64_t kSteps = 400, kBatch = 64;

// A Gaussian mixture: class c is centred on a fixed random point. `seed` picks the samples; the
// centres are the same for every seed, so every worker learns the same task.
std::pair<torch::Tensor, torch::Tensor> make_data(int64_t n, uint64_t seed) {
  auto centres_gen = at::make_generator<at::CPUGeneratorImpl>(12345);
  // Overlapping classes: a trained model reaches about 93%.
  const torch::Tensor centres = at::randn({kClasses, kFeatures}, centres_gen) * 0.6;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const torch::Tensor labels = at::randint(kClasses, {n}, gen, torch::kLong);
  const torch::Tensor x = centres.index_select(0, labels) + at::randn({n, kFeatures}, gen);
  return {x, labels};
}

// One worker's whole run; `comm` is an in-process or a Gloo communicator, the code is the same.
void train_worker(gossamer::comm::Communicator& comm) {
  namespace g = gossamer;
  const int rank = comm.rank(), workers = comm.size();
  torch::manual_seed(1);  // the same initial model on every worker
  auto model = std::make_shared<TwoLayerNet>(kFeatures, 128, kClasses);

  // One flat buffer for all parameters: one message per step, and the pruner's mask covers it.
  g::train::FlatParameters flat(*model);
  std::vector<g::sparse::ParamSlice> slices;
  for (const auto& s : flat.slices()) slices.push_back({s.name, s.offset, s.numel, s.shape});

  // Decentralized SGD with momentum over a ring; the local update is plain LibTorch SGD.
  g::topology::TopologySpec ring;
  ring.name = "ring";
  ring.workers = workers;
  const g::topology::Topology topology = g::topology::make_topology(ring);
  auto local = std::make_unique<torch::optim::SGD>(std::vector<torch::Tensor>{flat.optimizer_parameter()},
                                                   torch::optim::SGDOptions(0.05).momentum(0.9));
  auto optimizer = g::optim::make_distributed_optimizer("dsgd", {}, {flat.optimizer_parameter()}, comm,
                                                        &topology, std::move(local));

  // Gradual magnitude pruning to 80% between steps 50 and 300, one mask shared by all workers.
  g::sparse::PruneSpec prune;
  prune.method = g::sparse::PruneMethod::Gmp;
  prune.sparsity = 0.8;
  prune.start_step = 50;
  prune.end_step = 300;
  prune.update_every = 25;
  g::sparse::PrunerContext context;
  context.comm = &comm;
  g::sparse::Pruner pruner(prune, slices, flat.values(), flat.gradients(), context);
  pruner.start();

  auto [x, y] = make_data(kTrainPerWorker, 100 + rank);  // this worker's shard
  for (int64_t step = 0; step < kSteps; ++step) {
    const int64_t begin = (step * kBatch) % kTrainPerWorker;
    pruner.before_forward(step);
    flat.zero_grad();
    const torch::Tensor loss =
        torch::cross_entropy_loss(model->forward(x.narrow(0, begin, kBatch)), y.narrow(0, begin, kBatch));
    loss.backward();
    pruner.after_backward(step);
    optimizer->step();  // local SGD step, then average with the ring neighbours
    pruner.after_step(step, optimizer->state_tensors());
    if (rank == 0 && (step + 1) % 100 == 0) {
      std::printf("step %lld/%lld  loss %.4f (worker 0)\n", static_cast<long long>(step + 1),
                  static_cast<long long>(kSteps), loss.item<double>());
      std::fflush(stdout);
    }
  }
  pruner.finish(kSteps, optimizer->state_tensors());

  // Every worker evaluates its own model on the same test set; rank 0 prints the worst one.
  torch::NoGradGuard no_grad;
  auto [test_x, test_y] = make_data(kTest, 999);
  const double accuracy =
      model->forward(test_x).argmax(1).eq(test_y).to(torch::kDouble).mean().item<double>() * 100.0;
  double worst = accuracy;
  for (const torch::Tensor& a : comm.allgather(torch::tensor({accuracy}, torch::kDouble))) {
    worst = std::min(worst, a.item<double>());
  }
  // The pruner keeps biases dense; the sparsity is that of the two weight matrices.
  const double weights = static_cast<double>(model->fc1->weight.numel() + model->fc2->weight.numel());
  const double zeros =
      (model->fc1->weight.eq(0).sum().item<double>() + model->fc2->weight.eq(0).sum().item<double>()) / weights;
  if (rank == 0) {
    std::printf("workers %d (%s), worst worker test accuracy %.2f%%, %.1f%% of the weights zero\n", workers,
                comm.backend().c_str(), worst, 100.0 * zeros);
  }
}

}  // namespace

int main() {
  try {
    if (std::getenv("WORLD_SIZE")) {  // started by `gossamer launch` or torchrun: one worker per process
      auto comm = gossamer::comm::make_gloo_from_env();
      train_worker(*comm);
    } else {
      torch::set_num_threads(1);  // four workers share the cores
      gossamer::comm::run_inprocess(4, [](gossamer::comm::Communicator& comm) { train_worker(comm); });
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "decentralized_loop: %s\n", e.what());
    return 1;
  }
  return 0;
}
