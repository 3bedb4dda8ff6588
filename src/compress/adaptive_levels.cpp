#include "adaptive_levels.h"

#include <algorithm>
#include <cmath>

namespace gossamer::compress::detail {

MagnitudeHistogram::MagnitudeHistogram(const std::vector<float>& r)
    : count_(kBins + 1, 0.0), sum_(kBins + 1, 0.0), sq_(kBins + 1, 0.0) {
  std::vector<double> c(kBins, 0.0), s(kBins, 0.0), q(kBins, 0.0);
  for (float x : r) {
    const double v = std::min(1.0, std::max(0.0, static_cast<double>(x)));
    const int b = std::min(kBins - 1, static_cast<int>(v * kBins));
    c[b] += 1;
    s[b] += v;
    q[b] += v * v;
  }
  for (int b = 0; b < kBins; ++b) {
    count_[b + 1] = count_[b] + c[b];
    sum_[b + 1] = sum_[b] + s[b];
    sq_[b + 1] = sq_[b] + q[b];
  }
}

void MagnitudeHistogram::prefix(double x, double& c, double& s, double& q) const {
  x = std::min(1.0, std::max(0.0, x));
  const double pos = x * kBins;
  const int b = std::min(kBins - 1, static_cast<int>(pos));
  const double f = pos - b;
  c = count_[b] + f * (count_[b + 1] - count_[b]);
  s = sum_[b] + f * (sum_[b + 1] - sum_[b]);
  q = sq_[b] + f * (sq_[b + 1] - sq_[b]);
}

double MagnitudeHistogram::interval_variance(double a, double b) const {
  double ca, sa, qa, cb, sb, qb;
  prefix(a, ca, sa, qa);
  prefix(b, cb, sb, qb);
  // sum (r - a)(b - r) = -sum r^2 + (a + b) sum r - a b count
  return std::max(0.0, -(qb - qa) + (a + b) * (sb - sa) - a * b * (cb - ca));
}

double MagnitudeHistogram::variance(const std::vector<float>& levels) const {
  double v = 0;
  for (size_t j = 0; j + 1 < levels.size(); ++j) v += interval_variance(levels[j], levels[j + 1]);
  return v;
}

double MagnitudeHistogram::derivative(double a, double x, double b) const {
  double ca, sa, qa, cx, sx, qx, cb, sb, qb;
  prefix(a, ca, sa, qa);
  prefix(x, cx, sx, qx);
  prefix(b, cb, sb, qb);
  return ((sx - sa) - a * (cx - ca)) - (b * (cb - cx) - (sb - sx));
}

std::vector<float> uniform_levels(int top) {
  std::vector<float> l(static_cast<size_t>(top) + 1);
  for (int j = 0; j <= top; ++j) l[static_cast<size_t>(j)] = static_cast<float>(j) / static_cast<float>(top);
  l.back() = 1.0f;
  return l;
}

namespace {

// Levels must stay strictly increasing after rounding to float (the decoder checks it).
void keep_increasing(std::vector<float>& l) {
  constexpr float kGap = 1e-6f;
  const int top = static_cast<int>(l.size()) - 1;
  for (int j = 1; j < top; ++j) l[j] = std::min(std::max(l[j], l[j - 1] + kGap), 1.0f - kGap * (top - j));
  l[0] = 0.0f;
  l[top] = 1.0f;
}

}  // namespace

std::vector<float> fit_alq_levels(const MagnitudeHistogram& h, int top) {
  std::vector<float> l = uniform_levels(top);
  if (h.total() <= 0 || top < 2) return l;
  std::vector<double> d(l.begin(), l.end());
  constexpr int kSweeps = 20, kBisections = 40;
  for (int sweep = 0; sweep < kSweeps; ++sweep) {
    for (int j = 1; j < top; ++j) {
      double lo = d[j - 1], hi = d[j + 1];
      // derivative(lo) <= 0 <= derivative(hi); no mass between the neighbours leaves the level be.
      if (h.derivative(lo, lo, hi) >= 0 || h.derivative(lo, hi, hi) <= 0) continue;
      for (int it = 0; it < kBisections; ++it) {
        const double mid = 0.5 * (lo + hi);
        (h.derivative(d[j - 1], mid, d[j + 1]) < 0 ? lo : hi) = mid;
      }
      d[j] = 0.5 * (lo + hi);
    }
  }
  for (int j = 0; j <= top; ++j) l[j] = static_cast<float>(d[j]);
  keep_increasing(l);
  return l;
}

std::vector<float> fit_amq_levels(const MagnitudeHistogram& h, int top) {
  auto table = [top](double p) {
    std::vector<float> l(static_cast<size_t>(top) + 1);
    l[0] = 0.0f;
    for (int j = 1; j <= top; ++j) l[j] = static_cast<float>(std::pow(p, top - j));
    keep_increasing(l);
    return l;
  };
  if (h.total() <= 0 || top < 2) return uniform_levels(top);
  // A grid over p, then golden-section search around its best point.
  constexpr int kGrid = 64;
  double best_p = 0.5, best_v = h.variance(table(0.5));
  for (int g = 1; g < kGrid; ++g) {
    const double p = static_cast<double>(g) / kGrid;
    const double v = h.variance(table(p));
    if (v < best_v) best_v = v, best_p = p;
  }
  double a = std::max(1e-3, best_p - 1.0 / kGrid), b = std::min(1.0 - 1e-3, best_p + 1.0 / kGrid);
  const double phi = 0.5 * (std::sqrt(5.0) - 1.0);
  for (int it = 0; it < 40; ++it) {
    const double x1 = b - phi * (b - a), x2 = a + phi * (b - a);
    if (h.variance(table(x1)) < h.variance(table(x2))) {
      b = x2;
    } else {
      a = x1;
    }
  }
  const double p = 0.5 * (a + b);
  return h.variance(table(p)) <= best_v ? table(p) : table(best_p);
}

}  // namespace gossamer::compress::detail
