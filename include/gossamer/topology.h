// Gossamer's topology layer: communication graphs, mixing weights and their analysis. Includes every public header of
// include/gossamer/topology/ (the installed ones; tests/install/check_install.sh checks the list).
#pragma once

#include "gossamer/topology/analysis.h"
#include "gossamer/topology/dot.h"
#include "gossamer/topology/edge_list.h"
#include "gossamer/topology/exponential.h"
#include "gossamer/topology/gossip.h"
#include "gossamer/topology/graph.h"
#include "gossamer/topology/graph_builders.h"
#include "gossamer/topology/spec.h"
#include "gossamer/topology/topology.h"
#include "gossamer/topology/weights.h"
