// The report's picture of a run's communication graph: the topology rebuilt from the run's
// config.toml the way `gossamer train` builds it, drawn as SVG with the workers on a circle.
#pragma once

#include <string>

#include "gossamer/report/run_data.h"

namespace gossamer::topology {
class Topology;
}

namespace gossamer::report {

struct TopologyDrawing {
  std::string svg;      // "" when there is nothing to draw (see note)
  std::string summary;  // "ring, 8 workers, static, degree 2, spectral gap 0.1464, metropolis weights"
  std::string note;     // why there is no drawing, or what to keep in mind reading it
};

// One worker, no config.toml, a config this gossamer cannot read, or an algorithm that does not
// gossip (it averages over all workers): no svg, and the note says which.
TopologyDrawing draw_topology(const RunData& run);

// The union graph over one period (an edge j -> i when i receives from j at some step): worker
// r at angle 2*pi*r/n, an undirected line where both directions exist, an arrow otherwise.
// One <circle class="node"> per worker and one <line class="edge"> per drawn edge.
std::string topology_svg(const topology::Topology& t);

}  // namespace gossamer::report
