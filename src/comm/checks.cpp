#include "gossamer/comm/checks.h"

#include <stdexcept>

namespace gossamer::comm {

void check_tensor(const at::Tensor& t, const char* op, int rank, bool floating) {
  const std::string where = std::string(op) + " on rank " + std::to_string(rank) + ": ";
  if (!t.defined()) throw std::invalid_argument(where + "the tensor is undefined");
  if (!t.device().is_cpu()) throw std::invalid_argument(where + "the tensor is on " + t.device().str() + "; pass a CPU tensor");
  if (!t.is_contiguous()) {
    throw std::invalid_argument(where + "the tensor is not contiguous; pass t.contiguous() (and copy the result back)");
  }
  if (floating && t.scalar_type() != at::kFloat && t.scalar_type() != at::kDouble) {
    throw std::invalid_argument(where + "dtype " + std::string(c10::toString(t.scalar_type())) +
                                " is not supported; use float32 or float64");
  }
}

void check_group(const std::vector<int>& group, int rank, int size) {
  std::string g = "[";
  for (size_t i = 0; i < group.size(); ++i) g += (i ? ", " : "") + std::to_string(group[i]);
  g += "]";
  const std::string where = "group_allreduce on rank " + std::to_string(rank) + " with group " + g + ": ";
  bool has_self = false;
  for (size_t i = 0; i < group.size(); ++i) {
    if (group[i] < 0 || group[i] >= size) {
      throw std::invalid_argument(where + "rank " + std::to_string(group[i]) + " is outside [0, " +
                                  std::to_string(size) + ")");
    }
    if (i > 0 && group[i] <= group[i - 1]) throw std::invalid_argument(where + "ranks must be sorted and unique");
    has_self = has_self || group[i] == rank;
  }
  if (!has_self) throw std::invalid_argument(where + "the group must contain the calling rank");
}

void check_peer(int peer, const char* what, const char* op, int rank, int size) {
  if (peer < 0 || peer >= size) {
    throw std::invalid_argument(std::string(op) + " on rank " + std::to_string(rank) + ": " + what + " " +
                                std::to_string(peer) + " is outside [0, " + std::to_string(size) + ")");
  }
}

}  // namespace gossamer::comm
