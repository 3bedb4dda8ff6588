// Gossamer's util layer: memory, BLAS threads and atomic files. Includes every public header of
// include/gossamer/util/ (the installed ones; tests/install/check_install.sh checks the list).
#pragma once

#include "gossamer/util/allocator.h"
#include "gossamer/util/atomic_file.h"
#include "gossamer/util/blas.h"
