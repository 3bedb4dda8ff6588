#include "gossamer/comm/workers.h"

#include "gossamer/comm/communicator.h"

#include <exception>
#include <mutex>
#include <stdexcept>
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
  for (int r = 0; r < n; ++r) {
    threads.emplace_back([&, r] {
      try {
        fn(r);
      } catch (...) {
        std::string what = "unknown exception";
        try {
          throw;
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        {
          std::lock_guard<std::mutex> lock(mu);
          if (!first) {
            first = std::current_exception();
            first_rank = r;
          }
        }
        if (on_failure) on_failure(r, what);
      }
    });
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
  } catch (const std::exception& e) {
    throw std::runtime_error(prefix + e.what());
  } catch (...) {
    throw std::runtime_error(prefix + "unknown exception");
  }
}

}  // namespace gossamer::comm
