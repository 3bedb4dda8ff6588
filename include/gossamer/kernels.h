// Gossamer's kernels layer: sparse CPU kernels (CSR, N:M, convolutions) and their modules. Includes every public header of
// include/gossamer/kernels/ (the installed ones; tests/install/check_install.sh checks the list).
#pragma once

#include "gossamer/kernels/conv.h"
#include "gossamer/kernels/csr.h"
#include "gossamer/kernels/nm.h"
#include "gossamer/kernels/path_timing.h"
#include "gossamer/kernels/raw.h"
#include "gossamer/kernels/sparse_conv2d.h"
#include "gossamer/kernels/sparse_conv2d_module.h"
#include "gossamer/kernels/sparse_linear.h"
#include "gossamer/kernels/sparse_linear_module.h"
#include "gossamer/kernels/spmm.h"
