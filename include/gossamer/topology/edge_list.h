// A user-defined undirected graph from an edge-list file.
//
// Format, one edge per line:   i j      or   i j w
// Ranks are 0-based integers; '#' starts a comment; blank lines are ignored. Each edge is
// undirected and may appear once (in either orientation). Either every edge has a weight w or none
// does: without weights the weight scheme (uniform / metropolis) makes W; with weights,
// w_ij = w_ji = w in (0, 1] and each self weight is 1 minus the rest of its row, which must not
// go below 0. Errors name the file and the line ("edges.txt:3: ...").
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "gossamer/topology/graph.h"
#include "gossamer/topology/topology.h"
#include "gossamer/topology/weights.h"

namespace gossamer::topology {

struct WeightedEdge {
  int i = 0;
  int j = 0;
  double weight = 0.0;  // 0 when the file gives no weights
};

struct EdgeList {
  int size = 0;  // number of ranks
  bool weighted = false;
  std::vector<WeightedEdge> edges;
};

// Parses `in`; `source` names it in errors (the file path). workers >= 1: ranks must lie in
// [0, workers). workers = 0: the size is the largest rank + 1. Throws std::invalid_argument.
EdgeList parse_edge_list(std::istream& in, const std::string& source, int workers = 0);
// Opens and parses `path`; throws std::invalid_argument if it cannot be read.
EdgeList read_edge_list(const std::string& path, int workers = 0);

// The graph of the edges, ignoring weights.
Graph edge_list_graph(const EdgeList& edges);
// Static topology named "edge-list": the file's weights if it has them, else `scheme` on its graph.
Topology edge_list_topology(const EdgeList& edges, WeightScheme scheme);

}  // namespace gossamer::topology
