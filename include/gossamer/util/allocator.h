// Allocator settings for training processes.
#pragma once

namespace gossamer::util {

// glibc hands large freed blocks back to the kernel (munmap / heap trim), so every training step
// faults its activation and gradient buffers in again, and on these VMs the kernel zeroes every
// fresh page slowly (~170 ms per 64 MiB). Measured: LeNet-5 with 8 in-process workers at 1024
// images per worker ran at ~700 samples/s by default, ~2400 with one arena that keeps its memory
// (~1650 with the thresholds alone). This keeps freed memory mapped for reuse: one arena, a fixed
// mmap threshold (the largest glibc accepts; fixing it also stops glibc's dynamic adjustment), no
// trimming. Call it before any thread starts; it changes only this process. Setting the
// environment variable GOSSAMER_DEFAULT_MALLOC=1 skips it (to measure the difference).
// Returns whether the settings were applied.
bool keep_freed_memory_mapped();

}  // namespace gossamer::util
