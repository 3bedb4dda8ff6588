// Gradient tracking (DIGing / NEXT family): each worker keeps y_i, an estimate of the average
// gradient, and steps along it, which removes the heterogeneity bias of D-SGD.
//   x^{k+1} = W(k) x^k - lr * y^k
//   y^{k+1} = W(k) y^k + g^{k+1} - g^k,   y^0 = g^0
// x and y travel in ONE neighbour exchange per step (a [2, numel] buffer: twice the bytes of D-SGD,
// the same number of messages). W(k) need only be doubly stochastic (directed and time-varying
// graphs are fine). Requires a plain SGD local optimizer (momentum 0): g = grad + weight_decay * x.
#pragma once

#include "gossamer/optim/distributed_optimizer.h"

namespace gossamer::topology {
class Topology;
}

namespace gossamer::optim {

class GradientTracking : public DistributedOptimizer {
 public:
  GradientTracking(std::vector<at::Tensor> params, comm::Communicator& comm,
                   std::unique_ptr<torch::optim::Optimizer> local, const topology::Topology& topology);
  void step() override;
  std::string name() const override { return "gradient-tracking"; }
  bool gossips() const override { return true; }
  std::map<std::string, at::Tensor> state() const override;
  void load_state(const std::map<std::string, at::Tensor>& state) override;
  std::string exact_mixing_need() const override;

 protected:
  std::vector<at::Tensor> algorithm_state_tensors() override;

 private:
  const topology::Topology& topology_;
  double weight_decay_ = 0.0;
  std::vector<at::Tensor> y_mixed_;  // W(k-1) y^{k-1}, per parameter
  std::vector<at::Tensor> g_prev_;   // g^{k-1}
};

}  // namespace gossamer::optim
