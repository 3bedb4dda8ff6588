// netns_tap_relay: a slow link between two bridges, in user space (these machines have no netem).
// It attaches to two existing TAP devices (each a port of one bridge, made by netns_cluster.sh in
// its bridge namespace) and copies every Ethernet frame from one to the other after a fixed delay,
// optionally dropping every Nth frame. TCP over it sees a long, optionally lossy, link; nothing is
// rewritten, so what arrives is what was sent.
//
//   netns_tap_relay TAP_A TAP_B [--delay-ms D] [--drop-every N] [--seconds S]
//
// Runs until SIGTERM/SIGINT or S seconds (default 600: bounded even if nobody stops it); prints
// one line of counts when it ends.
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

namespace netns_tap_relay {

using Clock = std::chrono::steady_clock;

volatile std::sig_atomic_t stop_requested = 0;
void on_signal(int) { stop_requested = 1; }

int open_tap(const std::string& name) {
  const int fd = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return -1;
  ifreq ifr{};
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (::ioctl(fd, TUNSETIFF, &ifr) < 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

struct Frame {
  Clock::time_point due;
  std::vector<unsigned char> bytes;
};

// One direction of the link: frames read from `from`, written to `to` once due.
struct Direction {
  int from = -1, to = -1;
  std::deque<Frame> queue;  // due times ascending (fixed delay)
  unsigned long long frames = 0, dropped = 0, overflow = 0, bytes = 0;
};

constexpr size_t kMaxQueued = 1 << 16;  // frames per direction; beyond it frames are dropped (a full router queue)

int run(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: netns_tap_relay TAP_A TAP_B [--delay-ms D] [--drop-every N] [--seconds S]\n");
    return 2;
  }
  long delay_ms = 0, drop_every = 0, seconds = 600;
  for (int i = 3; i + 1 < argc; i += 2) {
    const std::string opt = argv[i];
    char* end = nullptr;
    const long v = std::strtol(argv[i + 1], &end, 10);
    if (*end != '\0' || v < 0) {
      std::fprintf(stderr, "netns_tap_relay: %s '%s' is not a non-negative integer\n", opt.c_str(), argv[i + 1]);
      return 2;
    }
    if (opt == "--delay-ms") delay_ms = v;
    else if (opt == "--drop-every") drop_every = v;
    else if (opt == "--seconds") seconds = v;
    else {
      std::fprintf(stderr, "netns_tap_relay: unknown option %s\n", opt.c_str());
      return 2;
    }
  }
  const int a = open_tap(argv[1]), b = open_tap(argv[2]);
  if (a < 0 || b < 0) {
    std::fprintf(stderr, "netns_tap_relay: cannot attach to TAP devices %s and %s: %s\n", argv[1], argv[2],
                 std::strerror(errno));
    return 1;
  }
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  Direction dirs[2];
  dirs[0].from = a, dirs[0].to = b;
  dirs[1].from = b, dirs[1].to = a;
  const auto delay = std::chrono::milliseconds(delay_ms);
  const auto end_at = Clock::now() + std::chrono::seconds(seconds);
  std::vector<unsigned char> buf(65536);
  unsigned long long seen = 0;  // frames read, both directions (the drop counter)
  while (!stop_requested && Clock::now() < end_at) {
    // Wait for a frame or the next due time, at most 100 ms (signals and the end are checked often).
    auto now = Clock::now();
    long wait_ms = 100;
    for (const auto& d : dirs) {
      if (!d.queue.empty()) {
        const long left = static_cast<long>(
            std::chrono::duration_cast<std::chrono::milliseconds>(d.queue.front().due - now).count());
        wait_ms = std::max(0L, std::min(wait_ms, left));
      }
    }
    pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    ::poll(fds, 2, static_cast<int>(wait_ms));
    now = Clock::now();
    for (int k = 0; k < 2; ++k) {
      if (!(fds[k].revents & POLLIN)) continue;
      Direction& d = dirs[k];
      for (int burst = 0; burst < 256; ++burst) {  // bounded: the other direction gets its turn
        const ssize_t got = ::read(d.from, buf.data(), buf.size());
        if (got <= 0) break;
        ++seen;
        ++d.frames;
        if (drop_every > 0 && seen % static_cast<unsigned long long>(drop_every) == 0) {
          ++d.dropped;
          continue;
        }
        if (d.queue.size() >= kMaxQueued) {
          ++d.overflow;
          continue;
        }
        d.bytes += static_cast<unsigned long long>(got);
        d.queue.push_back({now + delay, std::vector<unsigned char>(buf.begin(), buf.begin() + got)});
      }
    }
    for (auto& d : dirs) {
      while (!d.queue.empty() && d.queue.front().due <= now) {
        const Frame& f = d.queue.front();
        (void)!::write(d.to, f.bytes.data(), f.bytes.size());  // a TAP takes a whole frame or none
        d.queue.pop_front();
      }
    }
  }
  std::printf("netns_tap_relay: %s->%s %llu frames (%llu bytes, %llu dropped), %s->%s %llu frames (%llu bytes, %llu "
              "dropped); delay %ld ms\n",
              argv[1], argv[2], dirs[0].frames, dirs[0].bytes, dirs[0].dropped + dirs[0].overflow, argv[2], argv[1],
              dirs[1].frames, dirs[1].bytes, dirs[1].dropped + dirs[1].overflow, delay_ms);
  ::close(a);
  ::close(b);
  return 0;
}

}  // namespace netns_tap_relay

int main(int argc, char** argv) { return netns_tap_relay::run(argc, argv); }
