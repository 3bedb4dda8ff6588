// Splitting a labelled dataset over n workers: iid, Dirichlet(alpha) over labels, k classes each.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace gossamer::data {

enum class PartitionKind { Iid, Dirichlet, Classes };

struct PartitionSpec {
  PartitionKind kind = PartitionKind::Iid;
  double alpha = 0.5;          // Dirichlet concentration: small = each worker sees few labels
  int classes_per_worker = 2;  // for Classes
  uint64_t seed = 1;
};

PartitionKind parse_partition_kind(const std::string& name);  // "iid" | "dirichlet" | "classes"
std::string to_string(PartitionKind kind);

// Indices of the samples each worker owns; every sample goes to exactly one worker, and every
// worker gets at least one sample (throws std::invalid_argument if that is impossible).
// `labels`: [N] int64. The same spec and labels always give the same split.
std::vector<std::vector<int64_t>> partition(const at::Tensor& labels, int64_t num_classes, int workers,
                                            const PartitionSpec& spec);

}  // namespace gossamer::data
