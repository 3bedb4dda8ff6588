// Random pairwise gossip: at each step the workers are split into random disjoint pairs (a perfect
// matching for even n; for odd n one worker, chosen at random, sits the step out) and each pair
// averages: w_ii = w_ij = w_ji = w_jj = 1/2, an idle worker keeps w_ii = 1. Every W is symmetric
// and doubly stochastic.
//
// A real run would draw a fresh matching every step; here the schedule is a finite period of
// matchings drawn once from the seed, so that every worker (thread or process) derives the same
// schedule without communicating, and so that the analysis of one period applies to the whole run.
#pragma once

#include <cstdint>

#include "gossamer/topology/topology.h"

namespace gossamer::topology {

constexpr int kDefaultGossipPeriod = 64;

// `period` >= 1 matchings from `seed`. A schedule whose union graph is disconnected (likely for a
// short period and many workers) is drawn again, up to `max_tries` in all, then
// std::invalid_argument asks for a longer period. Name "random-gossip".
Topology random_gossip_topology(int n, int period = kDefaultGossipPeriod, uint64_t seed = 0, int max_tries = 100);

}  // namespace gossamer::topology
