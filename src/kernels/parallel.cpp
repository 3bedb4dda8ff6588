#include "gossamer/kernels/parallel.h"

#include <ATen/Parallel.h>

namespace gossamer::kernels {

void parallel_ranges(int64_t count, int64_t grain, const std::function<void(int64_t, int64_t)>& body) {
  if (count <= 0) return;
  if (count <= grain) {
    body(0, count);
    return;
  }
  at::parallel_for(0, count, grain, body);
}

}  // namespace gossamer::kernels
