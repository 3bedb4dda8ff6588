// CHOCO-SGD (Koloskova, Lin, Stich, Jaggi 2019, arXiv 1907.09356): decentralized SGD whose gossip
// sends compressed differences to public model copies (CompressedGossip, compressed_gossip.h).
//   x½_i = x_i - lr * u_i                                (the local step; u = update direction)
//   q_i = C(x½_i - x̂_i);  x̂_j += D(q_j) for i and its neighbours j
//   x_i = x½_i + γ sum_j w_ij (x̂_j - x̂_i)
// It is D-SGD adapt-then-combine (dsgd.h) with that mixing rule; the compressor is any of
// compress/ (top-k, sign, QSGD, ...), and γ (consensus_step) trades consensus speed against
// stability under stronger compression (the paper tunes it on a grid; 0.5 is a common start).
#pragma once

#include "gossamer/compress/compressor.h"
#include "gossamer/optim/dsgd.h"

namespace gossamer::optim {

struct ChocoOptions {
  double consensus_step = 0.5;           // γ in (0, 1]
  compress::CompressorOptions compressor;  // what q_i is (method "topk" etc.; seed: the run's)
};

class Choco final : public DSgd {
 public:
  // Throws std::invalid_argument for a bad γ or compressor, or a topology that changes with the step.
  Choco(std::vector<at::Tensor> params, comm::Communicator& comm, std::unique_ptr<torch::optim::Optimizer> local,
        const topology::Topology& topology, const ChocoOptions& options);
  std::string name() const override { return "choco"; }
};

}  // namespace gossamer::optim
