// Gossamer's train layer: the Trainer, flat parameters, checkpoints, evaluation and the cluster runner. Includes every public header of
// include/gossamer/train/ (the installed ones; tests/install/check_install.sh checks the list).
#pragma once

#include "gossamer/train/checkpoint.h"
#include "gossamer/train/evaluate.h"
#include "gossamer/train/flat_parameters.h"
#include "gossamer/train/infer.h"
#include "gossamer/train/lr_schedule.h"
#include "gossamer/train/one_shot_prune.h"
#include "gossamer/train/optimizer_setup.h"
#include "gossamer/train/progress.h"
#include "gossamer/train/robust_setup.h"
#include "gossamer/train/run.h"
#include "gossamer/train/sparse_kernels.h"
#include "gossamer/train/torch_state_dict.h"
#include "gossamer/train/trainer.h"
