// Runs a pruned model's layers on Gossamer's sparse CPU kernels (kernels/), so that its zeros turn
// into speed during training, evaluation and inference from an exported sparse model file.
//
// For every pruned linear and convolution layer the router installs a Model layer override that
// computes the layer through the CSR kernels. Two sources of the sparse weights:
//  * training (a Pruner): the override uses the SAME parameters (views into the flat buffer), with
//    the gradient of the dense weight (zeros off the mask), so optimizers, gossip and the pruner
//    are unchanged. The CSR form is rebuilt when the mask changes and its values refreshed
//    (O(nnz)) at every forward.
//  * inference (the CSR weights read by sparse::load_sparse_model): the CSR is used as stored and
//    never rebuilt; the model's dense weights (equal to it at the pattern, zeros elsewhere) serve
//    the dense path.
// Mode "auto" times both paths the first time a layer sees a batch size and keeps the sparse one
// only if it was faster: in training, forward + backward on copies of the weights; in evaluation,
// on the model's own first 6 calls at that batch size (dense and sparse alternating, the first of
// each a warm-up), because a layer timed in isolation can run faster than between the model's
// other layers. "sparse" forces the sparse path; "dense" installs nothing for training, and for
// inference installs overrides that always run dense (so that the dense baseline is profiled the
// same way).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace gossamer::models {
class Model;
}
namespace gossamer::sparse {
class Pruner;
}
namespace gossamer::kernels {
struct CsrWeight;
}

namespace gossamer::train {

// Throws std::invalid_argument unless mode is "auto", "sparse" or "dense".
void check_kernels_mode(const std::string& mode);

class SparseKernelRouter {
 public:
  // Training and evaluation of a model being pruned. Throws std::invalid_argument for a bad mode.
  SparseKernelRouter(models::Model& model, const sparse::Pruner& pruner, const std::string& mode);
  // Inference: `layers` maps weight names ("fc1.weight") to their CSR [out, in·kernel] (copied).
  // Throws std::invalid_argument for a bad mode, a name the model lacks, or a CSR whose shape does
  // not match the weight.
  SparseKernelRouter(models::Model& model, const std::map<std::string, kernels::CsrWeight>& layers,
                     const std::string& mode);
  ~SparseKernelRouter();
  SparseKernelRouter(const SparseKernelRouter&) = delete;
  SparseKernelRouter& operator=(const SparseKernelRouter&) = delete;

  // One line per routed layer and batch size: "fc1.weight b64 train: sparse (sparse 0.41 ms, dense
  // 0.97 ms)", "... eval: dense (forced)"; then one line per pruned layer that runs dense because
  // it cannot be routed ("...: dense (not routed: ...)") and, once something ran, per routed layer
  // the model never called through its override.
  std::vector<std::string> decisions() const;

  // Wall time spent inside the routed layers' forwards (the chosen path only, not the one-off
  // timing of the two paths), for the share of a model's time that the pruned layers take. The
  // kernels return only when their parallel work is done, so the wall time around a call is the
  // layer's cost. set_profiling(true) clears the counters and starts counting.
  struct LayerTime {
    std::string name;
    double seconds = 0;
    int64_t calls = 0;
  };
  void set_profiling(bool on);
  // True while some layer is still timing its two paths on the model's calls (evaluation, "auto"):
  // run forwards until it is false before timing the model.
  bool deciding() const;
  std::vector<LayerTime> profile() const;

  struct Layer;

 private:
  void install(const std::shared_ptr<Layer>& layer);

  models::Model& model_;
  std::vector<std::shared_ptr<Layer>> layers_;
  std::vector<std::string> not_routed_;  // "name: why"
};

}  // namespace gossamer::train
