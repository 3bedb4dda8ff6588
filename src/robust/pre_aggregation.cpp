// Pre-aggregators: each replaces the n inputs by combinations of them, P x ([n', n] rows summing
// to 1), before the inner rule runs; the inner rule's shares map back through P (share = P^T s).
//   NNM (Allouah et al. 2023, arXiv 2302.01772): row i becomes the mean of its n - f nearest
//       inputs (itself included).
//   Bucketing (Karimireddy et al. 2022): a random permutation, then means of consecutive buckets
//       of s inputs; the permutation is drawn from (seed, call), the same on every rank.
#include <ATen/ATen.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "rules.h"

namespace gossamer::robust::detail {
namespace {

class PreAggregated : public Aggregator {
 public:
  explicit PreAggregated(std::unique_ptr<Aggregator> inner) : inner_(std::move(inner)) {}

  void aggregate(const at::Tensor& inputs, const std::vector<int>& senders, at::Tensor& out,
                 AggregateReport& report) override {
    check_call(name(), inputs, senders, out, min_inputs(), why());
    const at::Tensor p = combination(inputs);  // [n', n] float64
    const at::Tensor mixed = at::matmul(p, inputs.to(at::kDouble)).to(at::kFloat).contiguous();
    // The combined rows have no single sender; name them by position.
    std::vector<int> rows(static_cast<size_t>(mixed.size(0)));
    std::iota(rows.begin(), rows.end(), 0);
    AggregateReport inner;
    inner_->aggregate(mixed, rows, out, inner);
    const at::Tensor s = at::matmul(p.t(), at::tensor(inner.share, at::kDouble));
    report = AggregateReport{};
    for (int64_t k = 0; k < inputs.size(0); ++k) report.share.push_back(s[k].item<double>());
    ++calls_;
  }
  std::map<std::string, at::Tensor> state() const override {
    auto s = inner_->state();
    s["pre_calls"] = at::tensor({calls_}, at::kLong);
    return s;
  }
  void load_state(const std::map<std::string, at::Tensor>& state) override {
    inner_->load_state(state);
    auto it = state.find("pre_calls");
    if (it != state.end()) calls_ = it->second.item<int64_t>();
  }
  std::vector<at::Tensor*> coordinate_state() override { return inner_->coordinate_state(); }
  void reserve(int64_t d) override { inner_->reserve(d); }

 protected:
  virtual at::Tensor combination(const at::Tensor& inputs) = 0;
  virtual std::string why() const = 0;
  std::unique_ptr<Aggregator> inner_;
  int64_t calls_ = 0;
};

class Nnm final : public PreAggregated {
 public:
  Nnm(int64_t f, std::unique_ptr<Aggregator> inner) : PreAggregated(std::move(inner)), f_(f) {}
  int64_t min_inputs() const override { return std::max<int64_t>(f_ + 1, inner_->min_inputs()); }
  std::string name() const override { return "nnm (f = " + std::to_string(f_) + ") + " + inner_->name(); }

 protected:
  std::string why() const override { return "NNM averages n - f nearest inputs and the inner rule needs its own"; }
  at::Tensor combination(const at::Tensor& inputs) override {
    const int64_t n = inputs.size(0), keep = n - f_;
    const at::Tensor d = pairwise_squared_distances(inputs);
    auto acc = d.accessor<double, 2>();
    at::Tensor p = at::zeros({n, n}, at::kDouble);
    std::vector<int64_t> order(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      std::iota(order.begin(), order.end(), 0);
      // Itself first (distance 0), ties to the lower row.
      std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
        if (a == i || b == i) return a == i && b != i;
        return acc[i][a] < acc[i][b];
      });
      for (int64_t k = 0; k < keep; ++k) p[i][order[static_cast<size_t>(k)]].fill_(1.0 / static_cast<double>(keep));
    }
    return p;
  }

 private:
  int64_t f_;
};

class Bucketing final : public PreAggregated {
 public:
  Bucketing(int64_t size, uint64_t seed, std::unique_ptr<Aggregator> inner)
      : PreAggregated(std::move(inner)), size_(size), seed_(seed) {}
  // ceil(n / s) buckets must satisfy the inner rule.
  int64_t min_inputs() const override { return (inner_->min_inputs() - 1) * size_ + 1; }
  std::string name() const override { return "bucketing (s = " + std::to_string(size_) + ") + " + inner_->name(); }

 protected:
  std::string why() const override { return "the inner rule runs on ceil(n / s) bucket means"; }
  at::Tensor combination(const at::Tensor& inputs) override {
    const int64_t n = inputs.size(0);
    std::vector<int64_t> perm(static_cast<size_t>(n));
    std::iota(perm.begin(), perm.end(), 0);
    std::mt19937_64 rng(seed_ * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(calls_) + 1);
    for (int64_t k = n - 1; k > 0; --k) {  // Fisher-Yates with our own draws: the same on every platform
      const int64_t j = static_cast<int64_t>(rng() % static_cast<uint64_t>(k + 1));
      std::swap(perm[static_cast<size_t>(k)], perm[static_cast<size_t>(j)]);
    }
    const int64_t buckets = (n + size_ - 1) / size_;
    at::Tensor p = at::zeros({buckets, n}, at::kDouble);
    for (int64_t b = 0; b < buckets; ++b) {
      const int64_t lo = b * size_, hi = std::min(n, lo + size_);
      for (int64_t k = lo; k < hi; ++k) p[b][perm[static_cast<size_t>(k)]].fill_(1.0 / static_cast<double>(hi - lo));
    }
    return p;
  }

 private:
  int64_t size_;
  uint64_t seed_;
};

}  // namespace

std::unique_ptr<Aggregator> make_nnm(int64_t f, std::unique_ptr<Aggregator> inner) {
  return std::make_unique<Nnm>(f, std::move(inner));
}

std::unique_ptr<Aggregator> make_bucketing(int64_t size, uint64_t seed, std::unique_ptr<Aggregator> inner) {
  return std::make_unique<Bucketing>(size, seed, std::move(inner));
}

}  // namespace gossamer::robust::detail
