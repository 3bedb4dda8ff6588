// One-shot pruning of a trained checkpoint (`gossamer prune`): magnitude or WoodFisher, evaluated
// before and after, written as a masked checkpoint (to fine-tune with train.init_from) and as an
// exported sparse model.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "gossamer/config/config.h"

namespace gossamer::train {

struct OneShotPruneRequest {
  std::string checkpoint;       // checkpoint.pt or checkpoint-rank<R>.pt of a run
  config::Config config;        // the run's configuration (its config.toml); [sparse] says how to prune
  std::string out_dir;          // where pruned.pt and model.sparse go
  bool overwrite = false;       // replace pruned.pt / model.sparse already in out_dir
};

// out_dir already holds an earlier result (pruned.pt or model.sparse) and overwrite is false.
struct OutputExistsError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Throws OutputExistsError (naming the directory and the files) unless request.overwrite or
// out_dir holds neither pruned.pt nor model.sparse; throws train::CheckpointError if the
// checkpoint cannot be one (train/checkpoint.h). Cheap: one_shot_prune calls it before it loads
// anything, callers may call it before they print.
void check_one_shot_prune_request(const OneShotPruneRequest& request);

struct OneShotPruneResult {
  double accuracy_before = 0, accuracy_after = 0;  // test set, in [0, 1]
  double loss_before = 0, loss_after = 0;
  double sparsity = 0;            // over the weight layers
  double seconds = 0;             // time spent pruning (gradient sampling included)
  std::string checkpoint_path;    // masked weights + sparse.mask, loadable by train.init_from
  std::string sparse_model_path;
  int64_t sparse_model_bytes = 0, dense_model_bytes = 0;
};

// Throws OutputExistsError, CheckpointError, std::runtime_error / std::invalid_argument with the
// file or setting named.
OneShotPruneResult one_shot_prune(const OneShotPruneRequest& request);

}  // namespace gossamer::train
