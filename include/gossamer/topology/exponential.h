// Exponential graphs (Ying et al., "Exponential Graph is Provably Efficient for Decentralized Deep
// Training", arXiv 2110.13363). Both are directed and, for every n, doubly stochastic.
//
// Direction: rank i SENDS to (i + 2^t) mod n, so row i of W (what i receives) has its entries at
// columns (i - 2^t) mod n. This is the transpose of the paper's W; every property used here (doubly
// stochastic, spectrum, exact averaging of the one-peer product) is the same, because all these
// matrices are polynomials in the cyclic shift and therefore commute.
#pragma once

#include "gossamer/topology/topology.h"

namespace gossamer::topology {

// Number of offsets 2^t below n: ceil(log2 n) (0 for n = 1).
int exponential_degree(int n);

// Static: i sends to i + 2^t for every 2^t < n; uniform weights 1 / (ceil(log2 n) + 1).
// Period 1, name "exponential".
Topology exponential_topology(int n);

// One-peer, time-varying: at step k, i sends to i + 2^(k mod tau), tau = ceil(log2 n); weights 1/2
// self and 1/2 peer. Period tau (1 for n = 1, where W is the identity). For n a power of two the
// product W(tau-1)...W(0) is exactly 11^T / n: one period averages exactly. Name
// "one-peer-exponential".
Topology one_peer_exponential_topology(int n);

}  // namespace gossamer::topology
