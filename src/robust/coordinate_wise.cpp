// Coordinate-wise rules: the median and the trimmed mean of every coordinate separately.
#include <ATen/ATen.h>

#include "rules.h"

namespace gossamer::robust::detail {
namespace {

// share[k] = (number of coordinates whose kept sorted values came from row k) / (kept rows x d).
std::vector<double> shares_of(const at::Tensor& kept_indices, int64_t n) {
  const at::Tensor counts = at::bincount(kept_indices.reshape({-1}), {}, n).to(at::kDouble);
  const double total = static_cast<double>(kept_indices.numel());
  std::vector<double> s(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) s[static_cast<size_t>(k)] = counts[k].item<double>() / total;
  return s;
}

// The mean of the sorted values in rows [lo, hi) of every coordinate (rows sorted per coordinate).
class SortedRange final : public Aggregator {
 public:
  SortedRange(std::string name, int64_t trim) : name_(std::move(name)), trim_(trim) {}

  void aggregate(const at::Tensor& inputs, const std::vector<int>& senders, at::Tensor& out,
                 AggregateReport& report) override {
    const bool median = trim_ < 0;
    check_call(name_, inputs, senders, out, min_inputs(),
               median ? "at least one input" : "trimmed mean drops " + std::to_string(trim_) + " at each end, n > 2b");
    const int64_t n = inputs.size(0);
    int64_t lo = trim_, hi = n - trim_;
    if (median) {
      // The middle value, or the mean of the two middle values when n is even.
      lo = (n - 1) / 2;
      hi = n / 2 + 1;
    }
    auto [values, indices] = at::sort(inputs, 0);
    report = AggregateReport{};
    report.share = shares_of(indices.narrow(0, lo, hi - lo), n);
    out.view({-1}).copy_(values.narrow(0, lo, hi - lo).mean(0));
  }
  int64_t min_inputs() const override { return trim_ < 0 ? 1 : 2 * trim_ + 1; }
  std::string name() const override { return name_; }

 private:
  std::string name_;
  int64_t trim_;  // -1: median
};

}  // namespace

std::unique_ptr<Aggregator> make_median() { return std::make_unique<SortedRange>("median", -1); }

std::unique_ptr<Aggregator> make_trimmed_mean(int64_t trim) {
  return std::make_unique<SortedRange>("trimmed-mean (b = " + std::to_string(trim) + ")", trim);
}

}  // namespace gossamer::robust::detail
