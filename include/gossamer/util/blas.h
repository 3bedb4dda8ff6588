// The BLAS library's own thread pool.
#pragma once

namespace gossamer::util {

// Sets the thread count of the OpenBLAS that LibTorch's matrix products call (found at run time
// with dlsym, so any BLAS behind Debian's libblas.so.3 works). Returns the count now in effect, or
// -1 when the loaded BLAS is not OpenBLAS (then nothing is changed).
//
// Why it matters: OpenBLAS's pthread build keeps its own pool, sized to the cores, besides
// LibTorch's intra-op threads; on 2 cores the two pools spin against each other on every small
// product. Measured here, LeNet-5 at batch 64 with 2 intra-op threads: 9491 samples/s with
// OpenBLAS on 2 threads, 18272 with 1.
int set_blas_threads(int n);

}  // namespace gossamer::util
