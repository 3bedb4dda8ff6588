// All of Gossamer's public API: one umbrella header per layer, from the bottom layer up.
// Installed by cmake --install; see examples/cpp/ for a program that uses it.
#pragma once

#include "gossamer/util.h"
#include "gossamer/config.h"
#include "gossamer/data.h"
#include "gossamer/models.h"
#include "gossamer/topology.h"
#include "gossamer/comm.h"
#include "gossamer/kernels.h"
#include "gossamer/robust.h"
#include "gossamer/compress.h"
#include "gossamer/optim.h"
#include "gossamer/sparse.h"
#include "gossamer/train.h"
#include "gossamer/report.h"
