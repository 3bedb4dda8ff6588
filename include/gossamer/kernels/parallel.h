// ATen's thread pool for code outside the kernels layer. at::parallel_for is an OpenMP pragma in
// LibTorch's headers and runs on one thread unless its unit is compiled with -fopenmp; the kernels
// layer is built that way, so other layers call through here instead of needing the flag (and
// losing the shared precompiled headers, which are built without it).
#pragma once

#include <cstdint>
#include <functional>

namespace gossamer::kernels {

// Runs body(first, last) on consecutive sub-ranges of [0, count) on ATen's threads, each sub-range
// at least `grain` long; inline on the calling thread when count <= grain.
void parallel_ranges(int64_t count, int64_t grain, const std::function<void(int64_t, int64_t)>& body);

}  // namespace gossamer::kernels
