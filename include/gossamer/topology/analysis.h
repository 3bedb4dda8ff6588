// Properties of mixing matrices and topologies: stochasticity, connectivity, diameter, degrees,
// traffic and the spectral gap; validate() turns the ones an optimizer relies on into errors.
//
// Graph notions refer to the directed UNION graph over one period: j -> i is an edge when
// w_ij(k) != 0 (i receives from j) for some step k of the period, self excluded. For undirected
// families this is the ordinary graph. "Connected" means strongly connected: every rank's value
// reaches every other rank within one period's worth of edges.
#pragma once

#include <string>

#include "gossamer/topology/topology.h"

namespace at {
class Tensor;
}

namespace gossamer::topology {

constexpr double kStochasticTolerance = 1e-9;

bool is_row_stochastic(const MixingMatrix& w, double tol = kStochasticTolerance);
bool is_column_stochastic(const MixingMatrix& w, double tol = kStochasticTolerance);
bool is_doubly_stochastic(const MixingMatrix& w, double tol = kStochasticTolerance);
bool is_symmetric(const MixingMatrix& w, double tol = kStochasticTolerance);
// The same, for every matrix of the period.
bool is_row_stochastic(const Topology& t, double tol = kStochasticTolerance);
bool is_column_stochastic(const Topology& t, double tol = kStochasticTolerance);
bool is_doubly_stochastic(const Topology& t, double tol = kStochasticTolerance);
bool is_symmetric(const Topology& t, double tol = kStochasticTolerance);

// "" when every row (check_rows) and every column (check_columns) of every W(k) sums to 1 within
// tol; otherwise the worst one, e.g. "column 0 of W(0) sums to 2.75".
std::string stochasticity_violation(const Topology& t, bool check_rows, bool check_columns,
                                    double tol = kStochasticTolerance);

bool is_connected(const Topology& t);
// "" when connected; otherwise which rank is cut off, e.g. "rank 5 cannot be reached from rank 0".
std::string connectivity_violation(const Topology& t);
// Longest shortest directed path in the union graph (0 for n = 1); -1 when not strongly connected.
int diameter(const Topology& t);

// Out-degrees (number of receivers, self excluded) in the union graph.
struct DegreeStats {
  int min = 0;
  double mean = 0.0;
  int max = 0;
};
DegreeStats union_degree_stats(const Topology& t);

// Messages a worker sends per step: out-degree at step k, averaged over the period; `mean` over
// workers as well, `max` for the busiest worker. Multiply by the message size for bytes per step.
struct SendStats {
  double mean = 0.0;
  double max = 0.0;
};
SendStats sends_per_step(const Topology& t);

// W(period-1) ... W(1) W(0) as a [n, n] float64 tensor: the map applied by one whole period.
at::Tensor period_product(const Topology& t);
// beta = ||P - 11^T/n||_2 (largest singular value) for P = period_product(t). For a doubly
// stochastic W this is the second largest singular value of W, and for a symmetric one the second
// largest |eigenvalue|; consensus error shrinks by at least beta per period. For a static topology
// the period is one step. For W that is not doubly stochastic the number is still computed but is
// no consensus rate (W^k tends to 1 pi^T, not 11^T/n).
double mixing_beta(const Topology& t);
// 1 - mixing_beta(t): the spectral gap per period (per step for static topologies). For a
// time-varying topology of period p, 1 - beta^(1/p) is the equivalent per-step gap.
double spectral_gap(const Topology& t);
double spectral_gap(const MixingMatrix& w);

// When a static topology's graph is a simpler family than its name says (a torus of 7 workers is
// a 1 x 7 torus, i.e. a ring; an exponential graph of 3 is complete): "a ring" or "the complete
// graph". Empty when the graph is what its name says, or the topology changes with the step.
std::string degenerate_as(const Topology& t);

// Throws std::invalid_argument naming the topology and the first problem:
// - some row or column sum differs from 1 (the worst one is named). allow_column_stochastic = true
//   accepts matrices whose columns sum to 1 but whose rows do not (push-sum style).
// - the union graph is not strongly connected (a rank that cannot be reached is named).
void validate(const Topology& t, bool allow_column_stochastic = false);
// Only the connectivity half of validate().
void validate_connected(const Topology& t);

}  // namespace gossamer::topology
