#include "gossamer/topology/edge_list.h"

#include "gossamer/topology/spec.h"

#include <algorithm>
#include <fstream>
#include <istream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <utility>

namespace gossamer::topology {

namespace {

std::string where(const std::string& source, int line) { return source + ":" + std::to_string(line) + ": "; }

// Reads a whole token as an int: "3x" or "2.5" are errors, not 3 and 2.
bool parse_int(const std::string& s, long long& out) {
  size_t used = 0;
  try {
    out = std::stoll(s, &used);
  } catch (const std::exception&) {
    return false;
  }
  return used == s.size();
}

bool parse_double(const std::string& s, double& out) {
  size_t used = 0;
  try {
    out = std::stod(s, &used);
  } catch (const std::exception&) {
    return false;
  }
  return used == s.size();
}

}  // namespace

EdgeList parse_edge_list(std::istream& in, const std::string& source, int workers) {
  if (workers < 0) {
    throw std::invalid_argument(source + ": number of workers must be >= 0 (0 = from the file), got " +
                                std::to_string(workers));
  }
  EdgeList out;
  std::map<std::pair<int, int>, int> first_line;  // edge {min, max} -> line that defined it
  int first_weight_line = 0, first_plain_line = 0;
  int max_rank = -1;
  std::string text;
  int line_no = 0;
  while (std::getline(in, text)) {
    ++line_no;
    const auto hash = text.find('#');
    if (hash != std::string::npos) text.resize(hash);
    std::istringstream fields(text);
    std::vector<std::string> tok;
    for (std::string t; fields >> t;) tok.push_back(t);
    if (tok.empty()) continue;
    const std::string at = where(source, line_no);
    if (tok.size() != 2 && tok.size() != 3) {
      throw std::invalid_argument(at + "expected 'i j' or 'i j w', got '" + text + "' (" + std::to_string(tok.size()) +
                                  " fields)");
    }
    long long a = 0, b = 0;
    if (!parse_int(tok[0], a) || !parse_int(tok[1], b)) {
      throw std::invalid_argument(at + "ranks must be integers, got '" + tok[0] + " " + tok[1] + "'");
    }
    const long long limit = workers > 0 ? workers : kMaxWorkers;
    for (long long r : {a, b}) {
      if (r < 0 || r >= limit) {
        throw std::invalid_argument(at + "rank " + std::to_string(r) + " outside 0.." + std::to_string(limit - 1) +
                                    (workers > 0 ? " (" + std::to_string(workers) + " workers)"
                                                 : " (at most " + std::to_string(kMaxWorkers) + " workers)"));
      }
    }
    if (a == b) {
      throw std::invalid_argument(at + "self-loop " + tok[0] + " " + tok[1] +
                                  "; self weights are implied (1 minus the rest of the row), leave the line out");
    }
    WeightedEdge e{static_cast<int>(a), static_cast<int>(b), 0.0};
    if (tok.size() == 3) {
      if (!parse_double(tok[2], e.weight) || !(e.weight > 0.0 && e.weight <= 1.0)) {
        throw std::invalid_argument(at + "weight must be a number in (0, 1], got '" + tok[2] + "'");
      }
      if (first_weight_line == 0) first_weight_line = line_no;
    } else if (first_plain_line == 0) {
      first_plain_line = line_no;
    }
    if (first_weight_line != 0 && first_plain_line != 0) {
      throw std::invalid_argument(at + (tok.size() == 3 ? "has a weight but line " + std::to_string(first_plain_line) +
                                                              " has none"
                                                        : "has no weight but line " + std::to_string(first_weight_line) +
                                                              " has one") +
                                  "; give a weight on every line or on none");
    }
    const auto key = std::make_pair(std::min(e.i, e.j), std::max(e.i, e.j));
    auto [it, inserted] = first_line.emplace(key, line_no);
    if (!inserted) {
      throw std::invalid_argument(at + "edge " + tok[0] + " " + tok[1] + " repeats line " +
                                  std::to_string(it->second) + " (edges are undirected; list each once)");
    }
    max_rank = std::max({max_rank, e.i, e.j});
    out.edges.push_back(e);
  }
  if (in.bad()) throw std::invalid_argument(source + ": read error");
  out.size = workers > 0 ? workers : max_rank + 1;
  if (out.size < 1) {
    throw std::invalid_argument(source + ": no edges and no number of workers; list edges 'i j' or give the workers");
  }
  out.weighted = first_weight_line != 0;
  if (out.weighted) {
    // Self weight = 1 - row sum must stay >= 0, else W has a negative diagonal and is not a mixing step.
    std::vector<double> row_sum(static_cast<size_t>(out.size), 0.0);
    for (const auto& e : out.edges) {
      row_sum[static_cast<size_t>(e.i)] += e.weight;
      row_sum[static_cast<size_t>(e.j)] += e.weight;
    }
    for (int r = 0; r < out.size; ++r) {
      if (row_sum[static_cast<size_t>(r)] > 1.0 + 1e-12) {
        std::ostringstream os;
        os << source << ": the weights of rank " << r << "'s edges sum to " << row_sum[static_cast<size_t>(r)]
           << " > 1, which would leave it a negative self weight; scale its edge weights down";
        throw std::invalid_argument(os.str());
      }
    }
  }
  return out;
}

EdgeList read_edge_list(const std::string& path, int workers) {
  std::ifstream f(path);
  if (!f) throw std::invalid_argument("cannot open edge file '" + path + "'; check the path");
  return parse_edge_list(f, path, workers);
}

Graph edge_list_graph(const EdgeList& edges) {
  Graph g(edges.size);
  for (const auto& e : edges.edges) g.add_edge(e.i, e.j);
  return g;
}

Topology edge_list_topology(const EdgeList& edges, WeightScheme scheme) {
  if (!edges.weighted) return Topology("edge-list", {mixing_matrix(edge_list_graph(edges), scheme)});
  MixingMatrix m(edges.size);
  for (const auto& e : edges.edges) {
    m.set(e.i, e.j, e.weight);
    m.set(e.j, e.i, e.weight);
  }
  for (int i = 0; i < edges.size; ++i) {
    double off = 0.0;
    for (const auto& nb : m.row(i)) off += nb.weight;
    m.set(i, i, std::max(0.0, 1.0 - off));
  }
  return Topology("edge-list", {m});
}

}  // namespace gossamer::topology
