// Coordinate-wise rules: the median and the trimmed mean of every coordinate separately.
#include <ATen/ATen.h>

#include "rules.h"

namespace gossamer::robust::detail {

void sorted_range_mean(const at::Tensor& inputs, int64_t lo, int64_t hi, at::Tensor& out, std::vector<double>* shares) {
  const int64_t n = inputs.size(0), d = inputs.size(1);
  const float* x = inputs.data_ptr<float>();
  float* o = out.data_ptr<float>();
  std::vector<float> v(static_cast<size_t>(n));
  std::vector<int64_t> idx(static_cast<size_t>(n));
  std::vector<int64_t> counts(static_cast<size_t>(n), 0);
  const double kept = static_cast<double>(hi - lo);
  for (int64_t c = 0; c < d; ++c) {
    // Insertion sort of one coordinate's n values (n is small), ties kept in row order.
    for (int64_t k = 0; k < n; ++k) {
      const float value = x[k * d + c];
      int64_t j = k;
      while (j > 0 && v[static_cast<size_t>(j - 1)] > value) {
        v[static_cast<size_t>(j)] = v[static_cast<size_t>(j - 1)];
        idx[static_cast<size_t>(j)] = idx[static_cast<size_t>(j - 1)];
        --j;
      }
      v[static_cast<size_t>(j)] = value;
      idx[static_cast<size_t>(j)] = k;
    }
    double sum = 0;
    for (int64_t j = lo; j < hi; ++j) {
      sum += v[static_cast<size_t>(j)];
      ++counts[static_cast<size_t>(idx[static_cast<size_t>(j)])];
    }
    o[c] = static_cast<float>(sum / kept);
  }
  if (shares) {
    shares->assign(static_cast<size_t>(n), 0.0);
    const double total = kept * static_cast<double>(d);
    for (int64_t k = 0; k < n; ++k) (*shares)[static_cast<size_t>(k)] = total > 0 ? counts[static_cast<size_t>(k)] / total : 0.0;
  }
}

namespace {

// The mean of the sorted values in rows [lo, hi) of every coordinate.
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
    report = AggregateReport{};
    sorted_range_mean(inputs, lo, hi, out, &report.share);
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
