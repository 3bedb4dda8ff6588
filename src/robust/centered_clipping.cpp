// Centered clipping (Karimireddy et al. 2021, arXiv 2012.10333): from the previous aggregate v,
// L times v <- v + (1/n) sum_i clip_tau(x_i - v), clip_tau(u) = u min(1, tau / ||u||). With an
// infinite radius one iteration gives the mean. The first call starts from v = 0, as the paper's
// code does.
#include <ATen/ATen.h>

#include <algorithm>

#include "rules.h"

namespace gossamer::robust::detail {
namespace {

class CenteredClipping final : public Aggregator {
 public:
  CenteredClipping(double radius, int64_t iterations) : tau_(radius), iterations_(iterations) {}

  void aggregate(const at::Tensor& inputs, const std::vector<int>& senders, at::Tensor& out,
                 AggregateReport& report) override {
    check_call(name(), inputs, senders, out, 1, "at least one input");
    const int64_t n = inputs.size(0), d = inputs.size(1);
    if (!previous_.defined() || previous_.numel() != d) previous_ = at::zeros({d}, at::kFloat);
    at::Tensor v = previous_.to(at::kDouble);
    std::vector<double> factor(static_cast<size_t>(n), 1.0);
    const at::Tensor x = inputs.to(at::kDouble);
    for (int64_t it = 0; it < iterations_; ++it) {
      const at::Tensor diff = x - v.view({1, -1});
      const at::Tensor norm = diff.pow(2).sum(1).sqrt();
      auto len = norm.accessor<double, 1>();
      at::Tensor c = at::empty({n}, at::kDouble);
      for (int64_t k = 0; k < n; ++k) {
        factor[static_cast<size_t>(k)] = len[k] > tau_ ? tau_ / len[k] : 1.0;
        c[k].fill_(factor[static_cast<size_t>(k)] / static_cast<double>(n));
      }
      v.add_(at::mv(diff.t(), c));
    }
    report = AggregateReport{};
    double total = 0;
    for (double c : factor) total += c;
    for (double c : factor) {
      report.share.push_back(c / total);
      report.clipped.push_back(c < 1.0);
    }
    out.view({-1}).copy_(v);
    previous_.copy_(out.view({-1}));
  }
  std::string name() const override {
    return "cc (tau = " + std::to_string(tau_) + ", " + std::to_string(iterations_) + " iterations)";
  }
  void reserve(int64_t d) override {
    if (!previous_.defined() || previous_.numel() != d) previous_ = at::zeros({d}, at::kFloat);
  }
  std::map<std::string, at::Tensor> state() const override {
    if (!previous_.defined()) return {};
    return {{"previous", previous_}};
  }
  void load_state(const std::map<std::string, at::Tensor>& state) override {
    auto it = state.find("previous");
    if (it != state.end()) previous_ = it->second.to(at::kFloat).reshape({-1}).clone();
  }
  std::vector<at::Tensor*> coordinate_state() override {
    if (!previous_.defined()) return {};
    return {&previous_};
  }

 private:
  double tau_;
  int64_t iterations_;
  at::Tensor previous_;  // [d] the last aggregate
};

}  // namespace

std::unique_ptr<Aggregator> make_centered_clipping(double radius, int64_t iterations) {
  return std::make_unique<CenteredClipping>(radius, iterations);
}

}  // namespace gossamer::robust::detail
