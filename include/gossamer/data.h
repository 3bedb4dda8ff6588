// Gossamer's data layer: data sets, partitions across workers and samplers. Includes every public header of
// include/gossamer/data/ (the installed ones; tests/install/check_install.sh checks the list).
#pragma once

#include "gossamer/data/dataset.h"
#include "gossamer/data/fashion_mnist.h"
#include "gossamer/data/partition.h"
#include "gossamer/data/sampler.h"
#include "gossamer/data/synthetic.h"
