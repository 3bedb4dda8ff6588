// Gossamer's report layer: a run's output folder read into data, and the HTML report drawn from it. Includes every
// public header of include/gossamer/report/ (the installed ones; tests/install/check_install.sh checks the list).
#pragma once

#include "gossamer/report/html_report.h"
#include "gossamer/report/run_data.h"
#include "gossamer/report/topology_drawing.h"
