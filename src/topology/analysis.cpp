#include "gossamer/topology/analysis.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <queue>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace gossamer::topology {

namespace {

using Adjacency = std::vector<std::vector<int>>;

std::vector<double> row_sums(const MixingMatrix& w) {
  std::vector<double> s(static_cast<size_t>(w.size()), 0.0);
  for (int i = 0; i < w.size(); ++i)
    for (const auto& nb : w.row(i)) s[static_cast<size_t>(i)] += nb.weight;
  return s;
}

std::vector<double> column_sums(const MixingMatrix& w) {
  std::vector<double> s(static_cast<size_t>(w.size()), 0.0);
  for (int i = 0; i < w.size(); ++i)
    for (const auto& nb : w.row(i)) s[static_cast<size_t>(nb.rank)] += nb.weight;
  return s;
}

bool all_one(const std::vector<double>& sums, double tol) {
  return std::all_of(sums.begin(), sums.end(), [tol](double s) { return std::abs(s - 1.0) <= tol; });
}

// out[j] = ranks that receive from j at some step of the period (j -> i when w_ij != 0).
Adjacency union_out(const Topology& t) {
  const int n = t.size();
  Adjacency out(static_cast<size_t>(n));
  for (int k = 0; k < t.period(); ++k) {
    const auto& w = t.matrix(k);
    for (int i = 0; i < n; ++i)
      for (const auto& nb : w.row(i))
        if (nb.rank != i) out[static_cast<size_t>(nb.rank)].push_back(i);
  }
  for (auto& v : out) {
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
  }
  return out;
}

Adjacency reversed(const Adjacency& adj) {
  Adjacency rev(adj.size());
  for (size_t j = 0; j < adj.size(); ++j)
    for (int i : adj[j]) rev[static_cast<size_t>(i)].push_back(static_cast<int>(j));
  return rev;
}

// Hop counts from `source`; -1 for unreachable.
std::vector<int> bfs(const Adjacency& adj, int source) {
  std::vector<int> dist(adj.size(), -1);
  std::queue<int> q;
  dist[static_cast<size_t>(source)] = 0;
  q.push(source);
  while (!q.empty()) {
    int u = q.front();
    q.pop();
    for (int v : adj[static_cast<size_t>(u)]) {
      if (dist[static_cast<size_t>(v)] < 0) {
        dist[static_cast<size_t>(v)] = dist[static_cast<size_t>(u)] + 1;
        q.push(v);
      }
    }
  }
  return dist;
}

int first_negative(const std::vector<int>& dist) {
  auto it = std::find(dist.begin(), dist.end(), -1);
  return it == dist.end() ? -1 : static_cast<int>(it - dist.begin());
}

double beta_of(const at::Tensor& p) {
  const int64_t n = p.size(0);
  at::Tensor centred = p - at::full({n, n}, 1.0 / static_cast<double>(n), at::kDouble);
  return at::linalg_svdvals(centred).max().item<double>();
}

}  // namespace

bool is_row_stochastic(const MixingMatrix& w, double tol) { return all_one(row_sums(w), tol); }
bool is_column_stochastic(const MixingMatrix& w, double tol) { return all_one(column_sums(w), tol); }
bool is_doubly_stochastic(const MixingMatrix& w, double tol) {
  return is_row_stochastic(w, tol) && is_column_stochastic(w, tol);
}
bool is_symmetric(const MixingMatrix& w, double tol) {
  for (int i = 0; i < w.size(); ++i)
    for (const auto& nb : w.row(i))
      if (std::abs(nb.weight - w.get(nb.rank, i)) > tol) return false;
  return true;
}

namespace {
template <typename Pred>
bool all_steps(const Topology& t, Pred pred) {
  for (int k = 0; k < t.period(); ++k)
    if (!pred(t.matrix(k))) return false;
  return true;
}
}  // namespace

bool is_row_stochastic(const Topology& t, double tol) {
  return all_steps(t, [tol](const MixingMatrix& w) { return is_row_stochastic(w, tol); });
}
bool is_column_stochastic(const Topology& t, double tol) {
  return all_steps(t, [tol](const MixingMatrix& w) { return is_column_stochastic(w, tol); });
}
bool is_doubly_stochastic(const Topology& t, double tol) {
  return all_steps(t, [tol](const MixingMatrix& w) { return is_doubly_stochastic(w, tol); });
}
bool is_symmetric(const Topology& t, double tol) {
  return all_steps(t, [tol](const MixingMatrix& w) { return is_symmetric(w, tol); });
}

std::string stochasticity_violation(const Topology& t, bool check_rows, bool check_columns, double tol) {
  double worst_err = tol, worst_sum = 1.0;
  std::string worst;
  auto consider = [&](const std::vector<double>& sums, const char* what, int k) {
    for (size_t i = 0; i < sums.size(); ++i) {
      const double err = std::abs(sums[i] - 1.0);
      if (err > worst_err) {
        worst_err = err;
        worst_sum = sums[i];
        worst = std::string(what) + " " + std::to_string(i) + " of W(" + std::to_string(k) + ")";
      }
    }
  };
  for (int k = 0; k < t.period(); ++k) {
    if (check_rows) consider(row_sums(t.matrix(k)), "row", k);
    if (check_columns) consider(column_sums(t.matrix(k)), "column", k);
  }
  if (worst.empty()) return "";
  std::ostringstream os;
  os.precision(6);
  os << worst << " sums to " << worst_sum;
  return os.str();
}

std::string connectivity_violation(const Topology& t) {
  const Adjacency out = union_out(t);
  // Forward from 0: does rank 0's value reach everyone? Backward: does everyone's reach rank 0?
  const int lost = first_negative(bfs(out, 0));
  if (lost >= 0) return "rank " + std::to_string(lost) + " cannot be reached from rank 0";
  const int mute = first_negative(bfs(reversed(out), 0));
  if (mute >= 0) return "rank 0 cannot be reached from rank " + std::to_string(mute);
  return "";
}

bool is_connected(const Topology& t) { return connectivity_violation(t).empty(); }

std::string degenerate_as(const Topology& t) {
  const int n = t.size();
  if (!t.is_static() || n < 3) return "";
  int min_deg = n, max_deg = 0;
  for (int r = 0; r < n; ++r) {
    const int d = static_cast<int>(t.out_neighbors(r, 0).size());
    min_deg = std::min(min_deg, d);
    max_deg = std::max(max_deg, d);
  }
  // A connected graph where every vertex has two neighbours, both ways, is a cycle.
  if (t.name() != "complete" && min_deg == n - 1) return "the complete graph";
  if (t.name() != "ring" && min_deg == 2 && max_deg == 2 && is_symmetric(t) && is_connected(t)) return "a ring";
  return "";
}

int diameter(const Topology& t) {
  const Adjacency out = union_out(t);
  int longest = 0;
  for (int s = 0; s < t.size(); ++s) {
    const auto dist = bfs(out, s);
    for (int d : dist) {
      if (d < 0) return -1;
      longest = std::max(longest, d);
    }
  }
  return longest;
}

DegreeStats union_degree_stats(const Topology& t) {
  const Adjacency out = union_out(t);
  DegreeStats s;
  s.min = static_cast<int>(out[0].size());
  s.max = s.min;
  double total = 0.0;
  for (const auto& v : out) {
    const int d = static_cast<int>(v.size());
    s.min = std::min(s.min, d);
    s.max = std::max(s.max, d);
    total += d;
  }
  s.mean = total / t.size();
  return s;
}

SendStats sends_per_step(const Topology& t) {
  const int n = t.size();
  std::vector<double> per_rank(static_cast<size_t>(n), 0.0);
  for (int k = 0; k < t.period(); ++k) {
    const auto& w = t.matrix(k);
    for (int i = 0; i < n; ++i)
      for (const auto& nb : w.row(i))
        if (nb.rank != i) per_rank[static_cast<size_t>(nb.rank)] += 1.0;
  }
  SendStats s;
  for (double& c : per_rank) {
    c /= t.period();
    s.mean += c;
    s.max = std::max(s.max, c);
  }
  s.mean /= n;
  return s;
}

at::Tensor period_product(const Topology& t) {
  // P <- W(k) P with W(k) sparse: row i of the new P is sum_j w_ij P[j, :], so one step costs
  // nnz(W) * n instead of the n^3 of a dense product (gossip periods have 64 steps).
  const int n = t.size();
  const size_t nn = static_cast<size_t>(n);
  std::vector<double> p(nn * nn, 0.0), next(nn * nn);
  for (size_t i = 0; i < nn; ++i) p[i * nn + i] = 1.0;
  for (int k = 0; k < t.period(); ++k) {
    std::fill(next.begin(), next.end(), 0.0);
    const auto& w = t.matrix(k);
    for (int i = 0; i < n; ++i) {
      double* dst = &next[static_cast<size_t>(i) * nn];
      for (const auto& nb : w.row(i)) {
        const double* src = &p[static_cast<size_t>(nb.rank) * nn];
        for (size_t c = 0; c < nn; ++c) dst[c] += nb.weight * src[c];
      }
    }
    p.swap(next);
  }
  at::Tensor out = at::empty({n, n}, at::kDouble);
  std::copy(p.begin(), p.end(), out.data_ptr<double>());
  return out;
}

double mixing_beta(const Topology& t) { return beta_of(period_product(t)); }

double spectral_gap(const Topology& t) { return 1.0 - mixing_beta(t); }

double spectral_gap(const MixingMatrix& w) { return 1.0 - beta_of(w.dense()); }

void validate_connected(const Topology& t) {
  const std::string why = connectivity_violation(t);
  if (!why.empty()) {
    throw std::invalid_argument("topology '" + t.name() + "' is disconnected: " + why +
                                (t.is_static() ? std::string()
                                               : " (union graph over its " + std::to_string(t.period()) + "-step period)") +
                                "; add edges so that every rank can reach every other");
  }
}

void validate(const Topology& t, bool allow_column_stochastic) {
  const std::string why = stochasticity_violation(t, !allow_column_stochastic, true);
  if (!why.empty()) {
    std::ostringstream os;
    os << "topology '" << t.name() << "' is not " << (allow_column_stochastic ? "column" : "doubly")
       << " stochastic: " << why << " (every " << (allow_column_stochastic ? "column" : "row and column")
       << " must sum to 1 within " << kStochasticTolerance
       << "); use metropolis weights, which are doubly stochastic on any undirected graph";
    throw std::invalid_argument(os.str());
  }
  validate_connected(t);
}

}  // namespace gossamer::topology
