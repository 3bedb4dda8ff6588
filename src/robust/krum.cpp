// Krum and Multi-Krum (Blanchard et al. 2017): score(i) = the sum of the squared distances from
// input i to its n - f - 2 nearest other inputs; Krum returns the input of lowest score,
// Multi-Krum the mean of the m inputs of lowest scores (scores computed once, as in the paper).
#include <ATen/ATen.h>

#include <algorithm>
#include <numeric>

#include "rules.h"

namespace gossamer::robust::detail {
namespace {

class Krum final : public Aggregator {
 public:
  Krum(int64_t f, int64_t select) : f_(f), select_(select) {}

  void aggregate(const at::Tensor& inputs, const std::vector<int>& senders, at::Tensor& out,
                 AggregateReport& report) override {
    check_call(name(), inputs, senders, out, min_inputs(), "Krum needs n > 2f + 2 with f = " + std::to_string(f_));
    const int64_t n = inputs.size(0);
    const at::Tensor d = pairwise_squared_distances(inputs);
    auto acc = d.accessor<double, 2>();
    const int64_t nearest = n - f_ - 2;
    std::vector<double> score(static_cast<size_t>(n));
    std::vector<double> row;
    for (int64_t i = 0; i < n; ++i) {
      row.clear();
      for (int64_t j = 0; j < n; ++j) {
        if (j != i) row.push_back(acc[i][j]);
      }
      std::partial_sort(row.begin(), row.begin() + nearest, row.end());
      score[static_cast<size_t>(i)] = std::accumulate(row.begin(), row.begin() + nearest, 0.0);
    }
    // Lowest scores first; ties go to the lower row (the lower rank), the same on every worker.
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return score[a] < score[b]; });
    const int64_t m = select_ > 0 ? std::min(select_, n) : n - f_;
    std::vector<double> w(static_cast<size_t>(n), 0.0);
    for (int64_t k = 0; k < m; ++k) w[static_cast<size_t>(order[static_cast<size_t>(k)])] = 1.0;
    report = AggregateReport{};
    weighted_mean(inputs, w, out, report);
  }
  int64_t min_inputs() const override { return 2 * f_ + 3; }
  std::string name() const override {
    if (select_ == 1) return "krum (f = " + std::to_string(f_) + ")";
    return "multi-krum (f = " + std::to_string(f_) + ", m = " + (select_ > 0 ? std::to_string(select_) : "n - f") + ")";
  }

 private:
  int64_t f_, select_;
};

}  // namespace

std::unique_ptr<Aggregator> make_krum(int64_t f, int64_t select) { return std::make_unique<Krum>(f, select); }

}  // namespace gossamer::robust::detail
