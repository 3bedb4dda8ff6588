// Gossamer's models layer: the model zoo (make_model), the Model base class and the transformer blocks. Includes every public header of
// include/gossamer/models/ (the installed ones; tests/install/check_install.sh checks the list).
#pragma once

#include "gossamer/models/footprint.h"
#include "gossamer/models/model.h"
#include "gossamer/models/transformer.h"
#include "gossamer/models/zoo.h"
