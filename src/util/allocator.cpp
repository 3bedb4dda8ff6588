#include "gossamer/util/allocator.h"

#include <malloc.h>

#include <cstdlib>
#include <cstring>

namespace gossamer::util {

bool keep_freed_memory_mapped() {
  const char* skip = std::getenv("GOSSAMER_DEFAULT_MALLOC");
  if (skip != nullptr && std::strcmp(skip, "1") == 0) return false;
  bool ok = mallopt(M_ARENA_MAX, 1) == 1;
  ok = mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1 && ok;
  ok = mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1 && ok;
  ok = mallopt(M_TOP_PAD, 256 << 20) == 1 && ok;
  return ok;
}

}  // namespace gossamer::util
