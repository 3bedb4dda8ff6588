#include "gossamer/comm/communicator.h"

#include "gossamer/comm/traffic.h"

#include <string>

namespace gossamer::comm {

double NetworkModel::seconds(size_t bytes) const {
  return latency_s + static_cast<double>(bytes) / bandwidth_bytes_per_s;
}

Communicator::Communicator(std::chrono::milliseconds timeout) : timeout_(timeout) { set_timeout(timeout); }

Communicator::~Communicator() = default;

void Communicator::set_network(NetworkModel m) {
  // Checked here so that a bad model fails where it was set, not as NaN seconds later.
  if (!(m.latency_s >= 0.0) || !(m.bandwidth_bytes_per_s > 0.0)) {
    throw std::invalid_argument("NetworkModel: need latency_s >= 0 and bandwidth_bytes_per_s > 0, got latency_s=" +
                                std::to_string(m.latency_s) +
                                ", bandwidth_bytes_per_s=" + std::to_string(m.bandwidth_bytes_per_s));
  }
  network_ = m;
}

void Communicator::set_timeout(std::chrono::milliseconds t) {
  if (t.count() <= 0) {
    throw std::invalid_argument("Communicator timeout must be positive, got " + std::to_string(t.count()) +
                                " ms (use e.g. comm::kDefaultTimeout = " + std::to_string(kDefaultTimeout.count()) +
                                " ms)");
  }
  timeout_ = t;
}

void Communicator::record(const Traffic& t) {
  stats_.bytes_sent += t.bytes_sent;
  stats_.bytes_received += t.bytes_received;
  stats_.messages_sent += t.messages_sent;
  stats_.messages_received += t.messages_received;
  stats_.modelled_seconds += t.seconds;
  stats_.calls += 1;
}

}  // namespace gossamer::comm
