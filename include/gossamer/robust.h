// Gossamer's robust layer: robust aggregators and Byzantine attacks. Includes every public header of
// include/gossamer/robust/ (the installed ones; tests/install/check_install.sh checks the list).
#pragma once

#include "gossamer/robust/aggregator.h"
#include "gossamer/robust/attack.h"
