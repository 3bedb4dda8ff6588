// Argument checks shared by the backends: user errors throw std::invalid_argument naming the op,
// the rank, the value and the fix.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace gossamer::comm {

// t must be defined, on the CPU and contiguous; with `floating`, float32 or float64.
void check_tensor(const at::Tensor& t, const char* op, int rank, bool floating);
// group: sorted, unique, within [0, size), containing rank.
void check_group(const std::vector<int>& group, int rank, int size);
// A rank argument (root, peer) within [0, size).
void check_peer(int peer, const char* what, const char* op, int rank, int size);

}  // namespace gossamer::comm
