// L-GreCo (Alimohammadi, Markov, Frantar, Alistarh 2022, arXiv 2210.17357): a compression strength
// per layer instead of one for the whole model, chosen so that the total bytes are smallest while
// the total compression error stays at or below what the uniform setting would make.
//
// Every `every` calls to adapt() (the first one included), each worker measures, for every layer l
// and every strength c of the ladder, the error e[l][c] = ||m_l - D(C_c(m_l))||^2 of its own message
// m (with error feedback: the compensated one), the errors are summed over the workers (so every
// worker decides the same), and a dynamic programme picks one c per layer:
//   minimise sum_l bytes[l][c_l]  subject to  sum_l e[l][c_l] <= sum_l e[l][uniform].
// The error constraint is discretised: each e[l][c] is rounded up to a multiple of
// (sum_l e[l][uniform]) / resolution, and the budget is the uniform choice's rounded total, so the
// uniform choice is always feasible and a chosen set's true error exceeds the uniform one by at most
// layers / resolution of it. Where this differs from the paper: the ladder is fixed by the method
// (below), and errors come from one message per worker at the re-choice step.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "gossamer/compress/compressor.h"

namespace gossamer::compress {

// The strengths L-GreCo chooses from for `uniform`'s method, weakest (most bytes) first; `index`
// receives the position of `uniform` itself. topk, randk: density x {8, 4, 2, 1, 1/2, 1/4, 1/8}
// (capped at 1); qsgd, alq, amq: levels 127, 7 and 1 (8, 4 and 2 bits a coordinate) and
// uniform.levels. Throws std::invalid_argument for a method without a strength (fp16, bf16, sign,
// terngrad).
std::vector<CompressorOptions> strength_ladder(const CompressorOptions& uniform, size_t* index);

// The dynamic programme above: error[l][c], bytes[l][c] for L layers and C candidates; returns c_l.
// Throws std::invalid_argument for ragged or empty tables, a bad `uniform`, or resolution < 1.
std::vector<int> choose_per_layer(const std::vector<std::vector<double>>& error,
                                  const std::vector<std::vector<double>>& bytes, int uniform, int resolution = 1000);

struct LayerwiseOptions {
  int64_t every = 100;    // adapt() calls between two choices (>= 1)
  int resolution = 1000;  // the error constraint's discretisation
};

// A Compressor for messages made of consecutive layers of the given sizes: layer l is encoded by
// ladder[choice[l]], and its packet (header included) is appended to this packet's payload. The
// choice starts uniform and is remade by adapt(). Every worker must make the same choice (adapt()
// sums the errors), or packets are rejected for their size.
std::unique_ptr<Compressor> make_layerwise(const CompressorOptions& uniform, std::vector<int64_t> layer_numels,
                                           const LayerwiseOptions& options);

}  // namespace gossamer::compress
