// An endless stream of fixed-size batches over one worker's samples.
//
// Batch k covers positions [k*B, (k+1)*B) of the concatenation of per-epoch orders
// epoch_order(n, seed, 0), epoch_order(n, seed, 1), ...: a pure function of k, so resuming at step k
// needs no saved sampler state, and workers with different shard sizes all take the same number of
// steps per (global) epoch.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "gossamer/data/dataset.h"
#include "gossamer/data/sampler.h"

namespace gossamer::train {

struct Batch {
  at::Tensor inputs;   // [B, ...]
  at::Tensor targets;  // [B]
};

class BatchStream {
 public:
  BatchStream(const data::Dataset& data, int64_t batch_size, uint64_t seed,
              data::SampleOrder order = data::SampleOrder::Reshuffle);
  Batch batch(int64_t k);  // the k-th batch (k >= 0)
  int64_t size() const { return n_; }

 private:
  const std::vector<int64_t>& order_for(int64_t epoch);

  const data::Dataset& data_;
  int64_t n_, batch_size_;
  uint64_t seed_;
  data::SampleOrder order_kind_;
  int64_t cached_epoch_ = -1;
  std::vector<int64_t> cached_order_;
  at::Tensor index_;  // [B] int64, reused
};

}  // namespace gossamer::train
