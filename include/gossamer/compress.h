// Gossamer's compress layer: compressors, packets and error feedback. Includes every public header of
// include/gossamer/compress/ (the installed ones; tests/install/check_install.sh checks the list).
#pragma once

#include "gossamer/compress/compressor.h"
#include "gossamer/compress/error_feedback.h"
#include "gossamer/compress/layerwise.h"
#include "gossamer/compress/low_rank.h"
#include "gossamer/compress/packet.h"
