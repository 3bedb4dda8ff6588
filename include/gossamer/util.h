// Gossamer's util layer: memory, BLAS threads, atomic files, error messages and the memory available. Includes every public header of
// include/gossamer/util/ (the installed ones; tests/install/check_install.sh checks the list).
#pragma once

#include "gossamer/util/allocator.h"
#include "gossamer/util/atomic_file.h"
#include "gossamer/util/blas.h"
#include "gossamer/util/error_message.h"
#include "gossamer/util/system_memory.h"
