#include "gossamer/util/blas.h"

#include <dlfcn.h>

namespace gossamer::util {

int set_blas_threads(int n) {
  using SetFn = void (*)(int);
  using GetFn = int (*)();
  auto set = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  auto get = reinterpret_cast<GetFn>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  if (set == nullptr || get == nullptr) return -1;
  if (n > 0) set(n);
  return get();
}

}  // namespace gossamer::util
