// SafeguardSGD (Allen-Zhu, Ebrahimian, Li, Alistarh; ICLR 2021, arXiv 2012.14368), as an
// aggregator over the senders' messages (gradients, or worker momenta).
//
// Per good sender i: A_i, the sum of its messages since the last window1 boundary, and B_i since
// the last window0 boundary, each message divided by the number of good senders. A_med is the A_i
// of a good sender with more than world/2 good senders within threshold1 of it (B_med likewise
// with threshold0); a sender is evicted when ||A_i - A_med|| > 2 threshold1 or ||B_i - B_med|| >
// 2 threshold0. The result is the mean of the good senders' messages of this call.
//
// Where we differ from the paper (docs/robust.md): thresholds 0 mean "automatic", the median
// distance of the good senders' sums to the good medoid's (the paper sets them by hand from
// concentration bounds); no Gaussian perturbation is added (the paper's saddle-point escape);
// with readmit, evicted senders return at the next window1 boundary (the paper never re-admits).
// A sender whose message did not arrive this call (rejected by the caller) adds nothing to its
// sums.
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "rules.h"

namespace gossamer::robust::detail {
namespace {

class Safeguard final : public Aggregator {
 public:
  explicit Safeguard(const SafeguardOptions& o) : o_(o), good_(static_cast<size_t>(o.world), true) {}

  void aggregate(const at::Tensor& inputs, const std::vector<int>& senders, at::Tensor& out,
                 AggregateReport& report) override {
    check_call(name(), inputs, senders, out, 1, "at least one input");
    const int64_t d = inputs.size(1);
    reserve(d);
    for (int s : senders) {
      if (s < 0 || s >= o_.world) {
        throw std::invalid_argument(name() + ": sender " + std::to_string(s) + " outside 0.." +
                                    std::to_string(o_.world - 1));
      }
    }
    report = AggregateReport{};
    const double good_count = static_cast<double>(std::count(good_.begin(), good_.end(), true));
    for (size_t k = 0; k < senders.size(); ++k) {
      const int s = senders[k];
      if (!good_[static_cast<size_t>(s)]) continue;
      a_[s].add_(inputs[static_cast<int64_t>(k)], 1.0 / good_count);
      b_[s].add_(inputs[static_cast<int64_t>(k)], 1.0 / good_count);
    }
    // Senders present and good are judged (an absent one keeps its sums for the next call).
    std::vector<int> judged;
    for (int s : senders) {
      if (good_[static_cast<size_t>(s)]) judged.push_back(s);
    }
    std::vector<bool> evict(static_cast<size_t>(o_.world), false);
    mark(a_, judged, o_.threshold1, evict);
    mark(b_, judged, o_.threshold0, evict);
    std::vector<double> w(senders.size(), 0.0);
    for (size_t k = 0; k < senders.size(); ++k) {
      const int s = senders[k];
      if (evict[static_cast<size_t>(s)]) {
        good_[static_cast<size_t>(s)] = false;
        report.evicted.push_back(s);
      }
      if (good_[static_cast<size_t>(s)]) w[k] = 1.0;
    }
    if (std::find(w.begin(), w.end(), 1.0) == w.end()) {
      throw std::runtime_error(name() + ": every sender of this call has been evicted; nothing left to average "
                               "(raise robust.safeguard_threshold0/1 or set robust.safeguard_readmit = true)");
    }
    weighted_mean(inputs, w, out, report);
    ++calls_;
    if (calls_ % o_.window0 == 0) b_.zero_();
    if (calls_ % o_.window1 == 0) {
      a_.zero_();
      if (o_.readmit) std::fill(good_.begin(), good_.end(), true);
    }
  }
  std::string name() const override { return "safeguard"; }
  void reserve(int64_t d) override {
    if (!a_.defined() || a_.size(1) != d) {
      a_ = at::zeros({o_.world, d}, at::kFloat);
      b_ = at::zeros({o_.world, d}, at::kFloat);
    }
  }
  std::map<std::string, at::Tensor> state() const override {
    at::Tensor good = at::empty({o_.world}, at::kLong);
    for (int64_t i = 0; i < o_.world; ++i) good[i].fill_(good_[static_cast<size_t>(i)] ? 1 : 0);
    std::map<std::string, at::Tensor> s{{"good", good}, {"calls", at::tensor({calls_}, at::kLong)}};
    if (a_.defined()) {
      s["window1_sums"] = a_;
      s["window0_sums"] = b_;
    }
    return s;
  }
  void load_state(const std::map<std::string, at::Tensor>& state) override {
    auto g = state.find("good");
    if (g == state.end() || g->second.numel() != o_.world) {
      throw std::runtime_error("safeguard: the checkpoint has no 'good' flags for " + std::to_string(o_.world) +
                               " workers (was it written with another robust.aggregator or cluster.workers?)");
    }
    for (int64_t i = 0; i < o_.world; ++i) good_[static_cast<size_t>(i)] = g->second[i].item<int64_t>() != 0;
    calls_ = state.at("calls").item<int64_t>();
    auto a = state.find("window1_sums"), b = state.find("window0_sums");
    if (a != state.end() && b != state.end()) {
      a_ = a->second.to(at::kFloat).clone();
      b_ = b->second.to(at::kFloat).clone();
    }
  }
  std::vector<at::Tensor*> coordinate_state() override {
    if (!a_.defined()) return {};
    return {&a_, &b_};
  }
  std::vector<int> excluded() const override {
    std::vector<int> e;
    for (int i = 0; i < o_.world; ++i) {
      if (!good_[static_cast<size_t>(i)]) e.push_back(i);
    }
    return e;
  }

 private:
  // Marks in `evict` the judged senders whose sum lies farther than 2 threshold from the median's.
  void mark(const at::Tensor& sums, const std::vector<int>& judged, double threshold, std::vector<bool>& evict) const {
    const size_t m = judged.size();
    if (m < 2) return;
    // Distances from the Gram matrix in float64 (one product instead of m^2 / 2 differences).
    std::vector<int64_t> rows(judged.begin(), judged.end());
    const at::Tensor s = sums.index_select(0, at::tensor(rows, at::kLong)).to(at::kDouble);
    const at::Tensor gram = at::mm(s, s.t());
    auto g = gram.accessor<double, 2>();
    std::vector<std::vector<double>> dist(m, std::vector<double>(m, 0.0));
    for (size_t i = 0; i < m; ++i) {
      for (size_t j = i + 1; j < m; ++j) {
        dist[i][j] = dist[j][i] = std::sqrt(std::max(0.0, g[i][i] + g[j][j] - 2 * g[i][j]));
      }
    }
    auto median_of = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
    };
    // The medoid: the judged sender whose median distance to the others is smallest.
    auto others = [&](size_t i) {
      std::vector<double> v;
      for (size_t j = 0; j < m; ++j) {
        if (j != i) v.push_back(dist[i][j]);
      }
      return v;
    };
    size_t medoid = 0;
    double best = 0;
    for (size_t i = 0; i < m; ++i) {
      const double md = median_of(others(i));
      if (i == 0 || md < best) {
        best = md;
        medoid = i;
      }
    }
    size_t med = medoid;
    double t = threshold;
    if (t > 0) {
      // The paper's A_med: a sender with more than world/2 good senders within the threshold.
      for (size_t i = 0; i < m; ++i) {
        size_t close = 0;
        for (size_t j = 0; j < m; ++j) close += dist[i][j] <= t ? 1 : 0;
        if (2 * close > static_cast<size_t>(o_.world)) {
          med = i;
          break;
        }
      }
    } else {
      t = median_of(others(medoid));
      if (!(t > 0)) return;  // every sum equal: nobody to tell apart
    }
    for (size_t i = 0; i < m; ++i) {
      if (dist[med][i] > 2 * t) evict[static_cast<size_t>(judged[i])] = true;
    }
  }

  SafeguardOptions o_;
  std::vector<bool> good_;
  at::Tensor a_, b_;  // [world, d] the window1 and window0 sums
  int64_t calls_ = 0;
};

}  // namespace

std::unique_ptr<Aggregator> make_safeguard(const SafeguardOptions& options) {
  return std::make_unique<Safeguard>(options);
}

}  // namespace gossamer::robust::detail
