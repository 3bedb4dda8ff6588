#include "gossamer/robust/aggregator.h"

#include <ATen/ATen.h>

#include <stdexcept>

#include "rules.h"

namespace gossamer::robust {

Aggregator::~Aggregator() = default;

const std::vector<std::string>& aggregator_names() {
  static const std::vector<std::string> names = {"mean", "median", "trimmed-mean", "krum",
                                                 "multi-krum", "geomed", "cc", "safeguard"};
  return names;
}

namespace {

[[noreturn]] void bad(const std::string& field, const std::string& value, const std::string& allowed) {
  throw std::invalid_argument("aggregator: " + field + " = " + value + " is not allowed: " + allowed);
}

}  // namespace

void AggregatorOptions::validate() const {
  bool known = false;
  for (const auto& n : aggregator_names()) known = known || n == rule;
  if (!known) {
    std::string list;
    for (const auto& n : aggregator_names()) list += (list.empty() ? "" : ", ") + n;
    bad("rule", "\"" + rule + "\"", "use one of " + list);
  }
  if (f < 0) bad("f", std::to_string(f), "must be >= 0");
  if (trim < -1) bad("trim", std::to_string(trim), "must be >= 0 (or -1 for f)");
  if (select < -1 || select == 0) bad("select", std::to_string(select), "must be >= 1 (or -1 for n - f)");
  if (!(radius > 0)) bad("radius", std::to_string(radius), "must be > 0");
  if (cc_iterations < 1) bad("cc_iterations", std::to_string(cc_iterations), "must be >= 1");
  if (geomed_iterations < 1) bad("geomed_iterations", std::to_string(geomed_iterations), "must be >= 1");
  if (!(geomed_smoothing > 0)) bad("geomed_smoothing", std::to_string(geomed_smoothing), "must be > 0");
  if (pre != "none" && pre != "nnm" && pre != "bucketing") bad("pre", "\"" + pre + "\"", "use none, nnm or bucketing");
  if (bucket_size < 1) bad("bucket_size", std::to_string(bucket_size), "must be >= 1");
  if (rule == "safeguard") {
    const SafeguardOptions& s = safeguard;
    if (s.world < 1) bad("safeguard.world", std::to_string(s.world), "must be the number of senders (>= 1)");
    if (s.window0 < 1) bad("safeguard.window0", std::to_string(s.window0), "must be >= 1");
    if (s.window1 < s.window0) {
      bad("safeguard.window1", std::to_string(s.window1), "must be >= window0 (" + std::to_string(s.window0) + ")");
    }
    if (s.threshold0 < 0) bad("safeguard.threshold0", std::to_string(s.threshold0), "must be >= 0 (0 = automatic)");
    if (s.threshold1 < 0) bad("safeguard.threshold1", std::to_string(s.threshold1), "must be >= 0 (0 = automatic)");
    if (pre != "none") bad("pre", "\"" + pre + "\"", "SafeguardSGD keeps state per sender: use pre = none with it");
  }
}

std::unique_ptr<Aggregator> make_aggregator(const AggregatorOptions& o) {
  o.validate();
  std::unique_ptr<Aggregator> rule;
  if (o.rule == "mean") rule = detail::make_mean();
  if (o.rule == "median") rule = detail::make_median();
  if (o.rule == "trimmed-mean") rule = detail::make_trimmed_mean(o.trim >= 0 ? o.trim : o.f);
  if (o.rule == "krum") rule = detail::make_krum(o.f, 1);
  if (o.rule == "multi-krum") rule = detail::make_krum(o.f, o.select > 0 ? o.select : 0);
  if (o.rule == "geomed") rule = detail::make_geometric_median(o.geomed_iterations, o.geomed_smoothing);
  if (o.rule == "cc") rule = detail::make_centered_clipping(o.radius, o.cc_iterations);
  if (o.rule == "safeguard") rule = detail::make_safeguard(o.safeguard);
  if (o.pre == "nnm") rule = detail::make_nnm(o.f, std::move(rule));
  if (o.pre == "bucketing") rule = detail::make_bucketing(o.bucket_size, o.seed, std::move(rule));
  return rule;
}

namespace detail {

void check_call(const std::string& rule, const at::Tensor& inputs, const std::vector<int>& senders,
                const at::Tensor& out, int64_t min_n, const std::string& why) {
  if (!inputs.defined() || inputs.dim() != 2 || inputs.scalar_type() != at::kFloat || !inputs.is_contiguous()) {
    throw std::invalid_argument(rule + ": inputs must be one contiguous [n, d] float32 tensor");
  }
  const int64_t n = inputs.size(0);
  if (static_cast<int64_t>(senders.size()) != n) {
    throw std::invalid_argument(rule + ": " + std::to_string(senders.size()) + " senders for " + std::to_string(n) +
                                " inputs");
  }
  if (n < min_n) {
    throw std::invalid_argument(rule + ": " + std::to_string(n) + " inputs, needs at least " + std::to_string(min_n) +
                                " (" + why + ")");
  }
  if (!out.defined() || out.numel() != inputs.size(1) || out.scalar_type() != at::kFloat || !out.is_contiguous()) {
    throw std::invalid_argument(rule + ": out must be a contiguous float32 tensor of " + std::to_string(inputs.size(1)) +
                                " values");
  }
}

at::Tensor pairwise_squared_distances(const at::Tensor& inputs) {
  const int64_t n = inputs.size(0);
  at::Tensor d = at::zeros({n, n}, at::kDouble);
  auto acc = d.accessor<double, 2>();
  const at::Tensor x = inputs.to(at::kDouble);
  at::Tensor diff = at::empty({inputs.size(1)}, at::kDouble);  // reused: one buffer for every pair
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = i + 1; j < n; ++j) {
      at::sub_out(diff, x[i], x[j]);
      const double v = at::dot(diff, diff).item<double>();
      acc[i][j] = v;
      acc[j][i] = v;
    }
  }
  return d;
}

void weighted_mean(const at::Tensor& inputs, const std::vector<double>& w, at::Tensor& out, AggregateReport& report) {
  double total = 0;
  for (double v : w) total += v;
  if (!(total > 0)) throw std::logic_error("robust: a weighted mean with no positive weight");
  report.share.assign(w.size(), 0.0);
  at::Tensor acc = at::zeros({inputs.size(1)}, at::kDouble);
  for (size_t k = 0; k < w.size(); ++k) {
    report.share[k] = w[k] / total;
    if (w[k] != 0) acc.add_(inputs[static_cast<int64_t>(k)].to(at::kDouble), w[k] / total);
  }
  out.view({-1}).copy_(acc);
}

namespace {

class Mean final : public Aggregator {
 public:
  void aggregate(const at::Tensor& inputs, const std::vector<int>& senders, at::Tensor& out,
                 AggregateReport& report) override {
    check_call(name(), inputs, senders, out, 1, "at least one input");
    const int64_t n = inputs.size(0);
    report = AggregateReport{};
    report.share.assign(static_cast<size_t>(n), 1.0 / static_cast<double>(n));
    // Summed in row order in float32, as the communicator's allreduce sums in rank order.
    at::Tensor sum = inputs[0].clone();
    for (int64_t k = 1; k < n; ++k) sum.add_(inputs[k]);
    out.view({-1}).copy_(sum.div_(static_cast<double>(n)));
  }
  std::string name() const override { return "mean"; }
};

}  // namespace

std::unique_ptr<Aggregator> make_mean() { return std::make_unique<Mean>(); }

}  // namespace detail
}  // namespace gossamer::robust
