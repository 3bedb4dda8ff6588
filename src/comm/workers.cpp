#include "gossamer/comm/workers.h"

#include "gossamer/comm/communicator.h"
#include "gossamer/util/error_message.h"

#include <exception>
#include <mutex>
#include <new>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

namespace gossamer::comm {

void run_threads(int n, const std::function<void(int)>& fn,
                 const std::function<void(int, const std::string&)>& on_failure) {
  if (n < 1) throw std::invalid_argument("run_threads: need at least one rank, got " + std::to_string(n));
  std::mutex mu;
  std::exception_ptr first;
  int first_rank = -1;
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(n));
  auto record = [&](int r, std::exception_ptr e, const std::string& what) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!first) {
        first = std::move(e);
        first_rank = r;
      }
    }
    if (on_failure) on_failure(r, what);
  };
  auto body = [&](int r) {
    try {
      fn(r);
    } catch (...) {
      std::string what = "unknown exception";
      try {
        throw;
      } catch (const std::exception& e) {
        what = util::error_message(e);
      } catch (...) {
      }
      record(r, std::current_exception(), what);
    }
  };
  for (int r = 0; r < n; ++r) {
    try {
      threads.emplace_back(body, r);
    } catch (const std::system_error& e) {
      // The system cannot start another thread (no memory for its stack, or the thread limit):
      // that rank fails as if fn had thrown, the started ranks are told (on_failure aborts the
      // group) and joined below, instead of std::terminate ending the process over joinable threads.
      const std::string what = "could not start its thread (" + std::string(e.what()) + "): this machine has no " +
                               "memory or threads left for " + std::to_string(n) + " workers";
      record(r, std::make_exception_ptr(std::runtime_error(what)), what);
      break;
    }
  }
  for (auto& t : threads) t.join();
  if (!first) return;
  const std::string prefix = "rank " + std::to_string(first_rank) + ": ";
  try {
    std::rethrow_exception(first);
  } catch (const CommTimeout& e) {
    throw CommTimeout(prefix + e.what());
  } catch (const CommError& e) {
    throw CommError(prefix + e.what());
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(prefix + e.what());
  } catch (const std::out_of_range& e) {
    throw std::out_of_range(prefix + e.what());
  } catch (const std::bad_alloc&) {
    throw;  // out of memory stays recognisable as such (the CLI says so, and what to shrink)
  } catch (const std::exception& e) {
    throw std::runtime_error(prefix + util::error_message(e));
  } catch (...) {
    throw std::runtime_error(prefix + "unknown exception");
  }
}

}  // namespace gossamer::comm
