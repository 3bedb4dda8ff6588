// InProcess backend: N workers as threads of one process meeting in shared memory. The embedded
// default: no setup, any N that fits in memory (N = 64 on 2 cores is fine: every wait sleeps on a
// condition variable, nothing spins).
//
// Collectives publish pointers to the callers' tensors, meet at a barrier, then compute straight
// from the peers' memory: allreduce reduces chunk i of the tensor on rank i (summing ranks in
// order 0..n-1, so every rank gets the same bits, run after run) into a shared scratch buffer
// that is reused across calls, meets again, and copies the result out. Two barriers a call.
// Counters report the traffic the same algorithm would send over a network (traffic.h).
//
// Failures: a wait that passes the call's deadline throws CommTimeout naming the rank(s) that
// never arrived, and marks the group failed so that every other waiting or later call throws
// too (CommTimeout with the same missing ranks) instead of each waiting its own full timeout.
// abort(rank, reason) marks the group failed with CommError naming `rank`; run_inprocess calls it
// when a worker's function throws.
#pragma once

#include "gossamer/comm/communicator.h"

#include <functional>
#include <memory>
#include <string>

namespace gossamer::comm {

class InProcessGroup {
 public:
  explicit InProcessGroup(int size, std::chrono::milliseconds timeout = kDefaultTimeout);
  ~InProcessGroup();
  InProcessGroup(const InProcessGroup&) = delete;
  InProcessGroup& operator=(const InProcessGroup&) = delete;

  int size() const;
  // The communicator of `rank`; once per rank. It keeps the shared state alive, so it may
  // outlive this object.
  std::unique_ptr<Communicator> communicator(int rank);
  // Marks `rank` as failed: every blocked and every later call on every rank throws CommError
  // naming it, within milliseconds.
  void abort(int rank, const std::string& reason);
  bool failed() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

// Starts n threads, each with its own InProcess communicator (timeout `timeout`), runs fn on
// each, joins; the first exception is rethrown named by rank (see run_threads), after the group
// has been aborted so that no other rank waits for the failed one.
void run_inprocess(int n, const std::function<void(Communicator&)>& fn,
                   std::chrono::milliseconds timeout = kDefaultTimeout);

}  // namespace gossamer::comm
