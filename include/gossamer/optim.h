// Gossamer's optim layer: distributed optimizers that drop into a LibTorch loop. Includes every public header of
// include/gossamer/optim/ (the installed ones; tests/install/check_install.sh checks the list).
#pragma once

#include "gossamer/optim/choco.h"
#include "gossamer/optim/compressed_averaging.h"
#include "gossamer/optim/compressed_gossip.h"
#include "gossamer/optim/dadam.h"
#include "gossamer/optim/decentlam.h"
#include "gossamer/optim/diloco.h"
#include "gossamer/optim/distributed_optimizer.h"
#include "gossamer/optim/dsgd.h"
#include "gossamer/optim/exact_diffusion.h"
#include "gossamer/optim/factory.h"
#include "gossamer/optim/gossip_pga.h"
#include "gossamer/optim/gradient_tracking.h"
#include "gossamer/optim/local_sgd.h"
#include "gossamer/optim/message_seam.h"
#include "gossamer/optim/parallel_sgd.h"
#include "gossamer/optim/powersgd_averaging.h"
#include "gossamer/optim/robust_mixing.h"
#include "gossamer/optim/wagma.h"
