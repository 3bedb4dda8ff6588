// Gossamer's config layer: the run configuration (TOML) and its checks. Includes every public header of
// include/gossamer/config/ (the installed ones; tests/install/check_install.sh checks the list).
#pragma once

#include "gossamer/config/config.h"
