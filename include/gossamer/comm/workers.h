// Runs one function per rank on its own thread and reports the first failure by rank: the
// harness the InProcess and the Gloo-as-threads runs share (tests, benchmarks, the Cluster).
#pragma once

#include <functional>
#include <string>

namespace gossamer::comm {

// Starts n threads running fn(rank), joins them all, then rethrows the first exception thrown
// (in time) with "rank R: " prefixed to its message; CommTimeout, CommError, std::invalid_argument
// and std::out_of_range keep their type, anything else becomes std::runtime_error.
// on_failure(rank, message) runs on the failing thread as soon as fn throws, e.g. to abort the
// group so that the other ranks stop waiting for this one.
void run_threads(int n, const std::function<void(int)>& fn,
                 const std::function<void(int, const std::string&)>& on_failure = {});

}  // namespace gossamer::comm
