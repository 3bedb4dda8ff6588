// Private to src/topology: the worker-count check every graph family starts with.
#pragma once

#include <stdexcept>
#include <string>

namespace gossamer::topology::detail {

inline void check_size(const char* family, int n) {
  if (n < 1) {
    throw std::invalid_argument(std::string(family) + " needs at least 1 worker, got " + std::to_string(n));
  }
}

}  // namespace gossamer::topology::detail
