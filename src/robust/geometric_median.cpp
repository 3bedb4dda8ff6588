// Geometric median by smoothed Weiszfeld iterations (Pillutla et al., RFA): z <- sum_i b_i x_i /
// sum_i b_i with b_i = 1 / max(nu, ||z - x_i||), a fixed number of times. RFA starts from the mean;
// we start from the coordinate-wise median: with inputs at 1e6 the mean lies so far out that a
// few iterations (each roughly halving the distance) do not come back (docs/robust.md).
#include <ATen/ATen.h>

#include <algorithm>

#include "rules.h"

namespace gossamer::robust::detail {
namespace {

class GeometricMedian final : public Aggregator {
 public:
  GeometricMedian(int64_t iterations, double smoothing) : iterations_(iterations), nu_(smoothing) {}

  void aggregate(const at::Tensor& inputs, const std::vector<int>& senders, at::Tensor& out,
                 AggregateReport& report) override {
    check_call(name(), inputs, senders, out, 1, "at least one input");
    const int64_t n = inputs.size(0);
    std::vector<double> w(static_cast<size_t>(n), 1.0);
    report = AggregateReport{};
    sorted_range_mean(inputs, (n - 1) / 2, n / 2 + 1, out, nullptr);  // z0: the coordinate median
    at::Tensor z = out.view({-1}).to(at::kDouble);
    const at::Tensor x = inputs.to(at::kDouble);
    at::Tensor b = at::empty({n}, at::kDouble);
    for (int64_t it = 0; it < iterations_; ++it) {
      const at::Tensor dist = (x - z.view({1, -1})).pow_(2).sum(1).sqrt_();
      auto d = dist.accessor<double, 1>();
      for (int64_t k = 0; k < n; ++k) w[static_cast<size_t>(k)] = 1.0 / std::max(nu_, d[k]);
      double total = 0;
      for (double v : w) total += v;
      for (int64_t k = 0; k < n; ++k) b[k].fill_(w[static_cast<size_t>(k)] / total);
      z = at::mv(x.t(), b);
    }
    report.share.assign(static_cast<size_t>(n), 1.0 / static_cast<double>(n));
    if (iterations_ > 0) {
      double total = 0;
      for (double v : w) total += v;
      for (int64_t k = 0; k < n; ++k) report.share[static_cast<size_t>(k)] = w[static_cast<size_t>(k)] / total;
    }
    out.view({-1}).copy_(z);
  }
  std::string name() const override { return "geomed (" + std::to_string(iterations_) + " Weiszfeld iterations)"; }

 private:
  int64_t iterations_;
  double nu_;
};

}  // namespace

std::unique_ptr<Aggregator> make_geometric_median(int64_t iterations, double smoothing) {
  return std::make_unique<GeometricMedian>(iterations, smoothing);
}

}  // namespace gossamer::robust::detail
