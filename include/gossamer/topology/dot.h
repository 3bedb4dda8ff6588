// Graphviz DOT text for a topology, for pictures of small graphs.
//
// A symmetric static topology is drawn as an undirected graph with the weight on each edge.
// Anything else is drawn as the directed union graph over one period, edges sender -> receiver;
// for a time-varying topology each edge is labelled with the steps that use it ("k=0,2").
#pragma once

#include <string>

#include "gossamer/topology/topology.h"

namespace gossamer::topology {

std::string to_dot(const Topology& t);

}  // namespace gossamer::topology
