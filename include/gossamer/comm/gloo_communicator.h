// Gloo backend: c10d::ProcessGroupGloo from libtorch_cpu, one worker per process (or per thread
// in tests), rendezvous through a c10d Store: a TCPStore for processes and machines (rank 0 hosts
// it), a HashStore for ranks as threads of one process. c10d headers stay in the .cpp.
//
// Mapping: allreduce / broadcast / allgather / barrier are the process group's collectives (ring,
// binomial tree, ring, dissemination); neighbor_allreduce and exchange are tagged send/recv with
// every receive and send posted before any wait (no ordering deadlock); group_allreduce is a ring
// reduce-scatter + allgather over send/recv among the group's members (c10d subgroups would need
// every rank to take part in creating them). Every call is bounded by timeout(): the c10d option
// timeout of each collective plus a wait bounded by the remaining time. Errors become CommTimeout
// or CommError naming op and rank, and leave the communicator unusable (Gloo's state is unknown
// after a failed collective): later calls throw CommError at once.
#pragma once

#include "gossamer/comm/communicator.h"

#include <functional>
#include <memory>
#include <string>

namespace gossamer::comm {

// An opaque c10d::Store (keeps c10d out of this header).
class StoreHandle {
 public:
  virtual ~StoreHandle();
  struct Impl;
  virtual Impl& impl() = 0;
};

// An in-memory store shared by ranks that are threads of one process: pass the SAME handle to
// every rank.
std::shared_ptr<StoreHandle> make_hash_store();
// A TCP store: rank 0 (is_server) hosts it at port (0 picks a free one, then rank 0 must tell the
// others); every rank connects to host:port. Waits at most `timeout` for the server and peers.
std::shared_ptr<StoreHandle> make_tcp_store(const std::string& host, int port, bool is_server, int world_size,
                                            std::chrono::milliseconds timeout = kDefaultTimeout);

struct GlooOptions {
  // Address the Gloo data connections bind to and advertise: loopback by default (single
  // machine); another host's address, or `interface` (e.g. "eth0"), to run across machines.
  std::string hostname = "127.0.0.1";
  std::string interface;  // when set, wins over hostname
  std::chrono::milliseconds timeout = kDefaultTimeout;
  int threads = 2;  // c10d worker threads per process group
};

// Blocks until all `size` ranks have joined through the store (bounded by options.timeout).
std::unique_ptr<Communicator> make_gloo(const std::shared_ptr<StoreHandle>& store, int rank, int size,
                                        const GlooOptions& options = {});

// Where a worker finds its place: RANK / WORLD_SIZE (torchrun, `gossamer launch`), else
// OMPI_COMM_WORLD_RANK / OMPI_COMM_WORLD_SIZE (Open MPI's mpirun), else PMI_RANK / PMI_SIZE
// (MPICH, Slurm); MASTER_ADDR (default 127.0.0.1) and MASTER_PORT (required unless
// WORLD_SIZE=1). GLOO_SOCKET_IFNAME selects the interface as in PyTorch.
struct LaunchEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 0;
  std::string socket_ifname;
};
// Throws std::invalid_argument naming the missing or bad variable and how to set it.
LaunchEnv read_launch_env();

// The local address this machine sends from towards `host` (the source address of its route to
// host:port, numeric, e.g. "10.0.0.5"); "" when `host` does not resolve or has no route. Sends
// nothing.
std::string source_address_for(const std::string& host, int port = 0);

// The communicator of a process started by `gossamer launch`, torchrun or an mpirun-style
// launcher: TCPStore at MASTER_ADDR:MASTER_PORT hosted by rank 0; Gloo on the interface named by
// GLOO_SOCKET_IFNAME when set, else on loopback when MASTER_ADDR is a loopback address, else on
// the address that reaches MASTER_ADDR (source_address_for; Gloo's own choice when it has none).
std::unique_ptr<Communicator> make_gloo_from_env(std::chrono::milliseconds timeout = kDefaultTimeout);

// Ranks as threads of one process over one HashStore (tests, benchmarks): each thread builds its
// Gloo communicator (they rendezvous with each other), runs fn, and the first failure is
// rethrown named by rank (run_threads).
void run_gloo_threads(int n, const std::function<void(Communicator&)>& fn,
                      std::chrono::milliseconds timeout = kDefaultTimeout);

}  // namespace gossamer::comm
