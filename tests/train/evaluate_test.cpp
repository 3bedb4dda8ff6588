// evaluate(): the test-set figures, and how many in-process workers evaluate at once.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <thread>
#include <vector>

#include "gossamer/train/evaluate.h"

namespace evaluate_test {

using gossamer::train::evaluate;

// Logits that are a fixed function of the input (class = the first feature's sign) and a forward
// that records how many forwards run at the same moment across threads.
class CountingModel : public gossamer::models::Model {
 public:
  at::Tensor forward(const at::Tensor& x) override {
    const int now = ++running_;
    int seen = max_running_.load();
    while (now > seen && !max_running_.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    --running_;
    const at::Tensor first = x.select(1, 0);
    return at::stack({-first, first}, 1);  // class 1 wins where the first feature is positive
  }
  static std::atomic<int> running_, max_running_;
};
std::atomic<int> CountingModel::running_{0};
std::atomic<int> CountingModel::max_running_{0};

gossamer::data::Dataset four_samples() {
  gossamer::data::Dataset d;
  d.inputs = torch::tensor({{1.f, 0.f}, {-1.f, 0.f}, {2.f, 0.f}, {-3.f, 0.f}});
  d.targets = torch::tensor({1, 0, 0, 0}, torch::kLong);  // the third is misclassified
  return d;
}

TEST(Evaluate, AccuracyAndLossAreTheTestSetMeans) {
  CountingModel model;
  const auto r = evaluate(model, four_samples(), 3);  // batches of 3 and 1
  EXPECT_EQ(r.samples, 4);
  EXPECT_DOUBLE_EQ(r.accuracy, 0.75);
  // Cross-entropy of logits (-a, a): log(1 + exp(-2a)) when right, log(1 + exp(2a)) when wrong.
  const double want = (std::log1p(std::exp(-2.0)) + std::log1p(std::exp(-2.0)) + std::log1p(std::exp(4.0)) +
                       std::log1p(std::exp(-6.0))) / 4.0;
  EXPECT_NEAR(r.loss, want, 1e-6);
}

// In-process workers evaluate at the same moments; each evaluation holds a batch of activations,
// so at most one per core runs at a time (64 LeNet-5 workers peaked at 3.7 GB, 0.8 GB with this).
TEST(Evaluate, AtMostOneEvaluationPerCoreRunsAtATime) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int threads = 2 * cores + 2;
  CountingModel::max_running_ = 0;
  std::vector<std::thread> pool;
  std::vector<CountingModel> models(static_cast<size_t>(threads));
  const auto data = four_samples();
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] { evaluate(models[static_cast<size_t>(t)], data, 1); });  // 4 forwards each
  }
  for (auto& th : pool) th.join();
  EXPECT_LE(CountingModel::max_running_.load(), cores);
  EXPECT_GE(CountingModel::max_running_.load(), 1);
}

}  // namespace evaluate_test
