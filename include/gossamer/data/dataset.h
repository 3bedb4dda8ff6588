// An in-memory dataset: inputs and targets as tensors with the sample index first.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace gossamer::data {

// Bad or missing data files; the message names the file and what is wrong.
class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Dataset {
  at::Tensor inputs;   // [N, ...] float32
  at::Tensor targets;  // [N] int64 class labels, or [N] float32 regression targets
  int64_t num_classes = 0;  // 0 for regression

  int64_t size() const { return inputs.defined() ? inputs.size(0) : 0; }
  // The rows listed in `indices` (int64), copied.
  Dataset subset(const std::vector<int64_t>& indices) const;
};

}  // namespace gossamer::data
