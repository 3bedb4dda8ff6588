// Gossamer's sparse layer: pruners, masks, sparsity schedules and the model.sparse export. Includes every public header of
// include/gossamer/sparse/ (the installed ones; tests/install/check_install.sh checks the list).
#pragma once

#include "gossamer/sparse/allocation.h"
#include "gossamer/sparse/export.h"
#include "gossamer/sparse/layout.h"
#include "gossamer/sparse/mask_bits.h"
#include "gossamer/sparse/metrics.h"
#include "gossamer/sparse/pattern.h"
#include "gossamer/sparse/pruner.h"
#include "gossamer/sparse/pruner_masks.h"
#include "gossamer/sparse/schedule.h"
#include "gossamer/sparse/woodfisher.h"
