// Gossamer's comm layer: communicators: in-process and Gloo backends, the launcher's environment. Includes every public header of
// include/gossamer/comm/ (the installed ones; tests/install/check_install.sh checks the list).
#pragma once

#include "gossamer/comm/communicator.h"
#include "gossamer/comm/gloo_communicator.h"
#include "gossamer/comm/inprocess_communicator.h"
#include "gossamer/comm/launcher.h"
#include "gossamer/comm/traffic.h"
#include "gossamer/comm/workers.h"
