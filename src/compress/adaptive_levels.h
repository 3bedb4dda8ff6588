// Fitting the quantisation levels of ALQ and AMQ (Faghri et al. 2020, arXiv 2010.12460) to the
// normalised magnitudes r = |v_i| / ||bucket|| in [0, 1] of one message (internal).
//
// Both minimise the expected variance of unbiased stochastic rounding between neighbouring levels,
// sum_i (r_i - l_j)(l_{j+1} - r_i) for r_i in [l_j, l_{j+1}], over levels 0 = l_0 < ... < l_top = 1:
//   ALQ: every interior level free, by coordinate descent (each level in turn set to the root of the
//        derivative with its neighbours fixed: sum over [l_{j-1}, l_j] of (r - l_{j-1}) equals the
//        sum over [l_j, l_{j+1}] of (l_{j+1} - r)), a few sweeps from uniform levels.
//   AMQ: exponential levels l_j = p^(top - j) for j >= 1, one parameter p in (0, 1), by a grid
//        then golden-section search.
// Where this differs from the paper: the distribution is the message's own histogram of r (from up
// to 65 536 sampled coordinates) instead of a truncated normal fitted over ~10 gradients, and the
// levels are refitted for every message and sent with it (adaptive_quantizer.cpp), so no schedule
// and no agreement between ranks is needed.
#pragma once

#include <cstdint>
#include <vector>

namespace gossamer::compress::detail {

// The histogram of the r values, with prefix sums of count, r and r^2 at the bin edges so that the
// variance of any interval is O(1) to evaluate (r spread uniformly within a bin).
class MagnitudeHistogram {
 public:
  static constexpr int kBins = 2048;
  explicit MagnitudeHistogram(const std::vector<float>& r);
  // sum over r in [a, b] of (r - a)(b - r): the variance that rounding those r between a and b adds.
  double interval_variance(double a, double b) const;
  // The variance of a whole level table (levels[0] = 0, increasing, levels.back() = 1).
  double variance(const std::vector<float>& levels) const;
  // sum over r in [a, x] of (r - a) minus sum over r in [x, b] of (b - r): increasing in x.
  double derivative(double a, double x, double b) const;
  double total() const { return count_.back(); }

 private:
  // Prefix sums at position x in [0, 1] (interpolated within the bin).
  void prefix(double x, double& c, double& s, double& q) const;
  std::vector<double> count_, sum_, sq_;  // kBins + 1 prefix values each
};

// `top` + 1 levels, strictly increasing from 0 to 1.
std::vector<float> fit_alq_levels(const MagnitudeHistogram& h, int top);
std::vector<float> fit_amq_levels(const MagnitudeHistogram& h, int top);
// 0, 1/top, ..., 1 (what both fall back to when every r is 0).
std::vector<float> uniform_levels(int top);

}  // namespace gossamer::compress::detail
