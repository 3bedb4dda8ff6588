// How much memory this process may still take, for checks that refuse a size before allocating it.
#pragma once

namespace gossamer::util {

// MemAvailable of /proc/meminfo, capped by the cgroup (v2) limit where the process runs inside one
// (a container: memory.max − memory.current), in bytes; -1 where neither can be read.
double memory_available_bytes();

}  // namespace gossamer::util
