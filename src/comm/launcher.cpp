#include "gossamer/comm/launcher.h"

#include "gossamer/topology/spec.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace gossamer::comm {

namespace {

using Clock = std::chrono::steady_clock;

// Signal handlers only write fixed-size records into this pipe; the supervision loop reads them
// (the self-pipe trick: async-signal-safe, and it wakes poll()). SIGCHLD reaps in the handler, so
// records arrive in the order the workers exited: when one worker's exit makes its peers fail
// a moment later (connection reset), the first one is the one reported.
int g_signal_pipe[2] = {-1, -1};

struct Event {
  int32_t kind;  // 0: signal `a` received; 1: child pid `a` exited with wait status `b`
  int32_t a;
  int32_t b;
};

void post(const Event& e) {
  if (g_signal_pipe[1] >= 0) (void)!write(g_signal_pipe[1], &e, sizeof(e));  // < PIPE_BUF: atomic
}

extern "C" void on_signal(int sig) {
  const int saved = errno;
  post(Event{0, sig, 0});
  errno = saved;
}

extern "C" void on_child(int) {
  const int saved = errno;
  int status = 0;
  pid_t pid;
  while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) post(Event{1, static_cast<int32_t>(pid), status});
  errno = saved;
}

void write_all(int fd, const char* data, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;  // our own output is gone (closed pipe); keep supervising the workers anyway
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
}

void note(const std::string& line) {
  const std::string s = "gossamer launch: " + line + "\n";
  write_all(STDERR_FILENO, s.data(), s.size());
}

struct Stream {
  int fd = -1;       // read end of the worker's pipe; -1 once closed
  int target = -1;   // our stdout or stderr
  std::string partial;  // bytes after the last newline
};

struct Worker {
  pid_t pid = -1;
  bool running = false;
  int status = 0;
  Stream out, err;
};

// Writes every complete line of `s.partial` prefixed; at EOF also the unterminated tail.
void flush_lines(Stream& s, const std::string& prefix, bool eof) {
  size_t start = 0;
  std::string buf;
  for (size_t nl; (nl = s.partial.find('\n', start)) != std::string::npos; start = nl + 1) {
    buf += prefix;
    buf.append(s.partial, start, nl + 1 - start);
  }
  s.partial.erase(0, start);
  if (eof && !s.partial.empty()) {
    buf += prefix + s.partial + "\n";
    s.partial.clear();
  }
  if (!buf.empty()) write_all(s.target, buf.data(), buf.size());
}

std::string describe(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("was killed by signal ") + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")";
  return "stopped with wait status " + std::to_string(status);
}

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

// Each worker leads its own process group, so that a signal reaches the programs it started
// too (a shell wrapper's children), and the terminal's Ctrl-C reaches workers only through us.
void signal_worker(const Worker& w, int sig) {
  if (w.running && w.pid > 0) {
    if (::kill(-w.pid, sig) != 0) ::kill(w.pid, sig);
  }
}

[[noreturn]] void exec_worker(const LaunchOptions& o, int rank, int port, int out_fd, int err_fd, pid_t launcher) {
  // Default dispositions before anything else: our handlers would write into our self-pipe.
  ::signal(SIGINT, SIG_DFL);
  ::signal(SIGTERM, SIG_DFL);
  ::signal(SIGCHLD, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::setpgid(0, 0);
  // A launcher killed with SIGKILL cannot stop its workers: have the kernel send them SIGTERM.
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != launcher) ::_exit(128 + SIGTERM);
  if (out_fd >= 0) ::dup2(out_fd, STDOUT_FILENO);
  if (err_fd >= 0) ::dup2(err_fd, STDERR_FILENO);
  // Workers are not in the terminal's foreground group: reading the terminal would stop them.
  const int devnull = ::open("/dev/null", O_RDONLY);
  if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
  ::setenv("RANK", std::to_string(rank).c_str(), 1);
  ::setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
  ::setenv("WORLD_SIZE", std::to_string(o.workers).c_str(), 1);
  ::setenv("LOCAL_WORLD_SIZE", std::to_string(o.workers).c_str(), 1);
  ::setenv("GROUP_RANK", "0", 1);
  ::setenv("MASTER_ADDR", o.master_addr.c_str(), 1);
  ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
  std::vector<char*> argv;
  for (const auto& a : o.command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  ::execvp(argv[0], argv.data());
  const std::string m = "gossamer launch: rank " + std::to_string(rank) + ": cannot run '" + o.command[0] +
                        "': " + std::strerror(errno) + "\n";
  write_all(STDERR_FILENO, m.data(), m.size());
  ::_exit(127);
}

}  // namespace

int pick_free_port(const std::string& addr) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("pick_free_port: socket: ") + std::strerror(errno));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = 0;
  if (::inet_pton(AF_INET, addr.c_str(), &sa.sin_addr) != 1) sa.sin_addr.s_addr = htonl(INADDR_ANY);
  socklen_t len = sizeof(sa);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    const std::string err = std::strerror(errno);
    ::close(fd);
    throw std::runtime_error("pick_free_port: cannot bind a port on " + addr + ": " + err +
                             " (pass --master-port or another --master-addr)");
  }
  ::close(fd);
  return ntohs(sa.sin_port);
}

namespace {

// The launcher holds the read ends of two pipes per worker (its stdout and stderr). Found out
// before the first fork rather than as "pipe: Too many open files" after hundreds of them: the soft
// limit is raised to what is needed where the hard limit allows, else the launch is refused.
void ensure_open_files(int workers) {
  const rlim_t need = 2 * static_cast<rlim_t>(workers) + 64;  // + the launcher's own files
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) != 0 || files.rlim_cur == RLIM_INFINITY || files.rlim_cur >= need) return;
  if (files.rlim_max == RLIM_INFINITY || files.rlim_max >= need) {
    files.rlim_cur = need;
    if (::setrlimit(RLIMIT_NOFILE, &files) == 0) return;
  }
  throw std::invalid_argument("launch: --workers " + std::to_string(workers) + " needs about " + std::to_string(need) +
                              " open files (two pipes per worker), more than this process may open (" +
                              std::to_string(files.rlim_max) + "); use fewer workers or raise the limit (ulimit -n)");
}

}  // namespace

LaunchResult launch(const LaunchOptions& o) {
  if (o.workers < 1) throw std::invalid_argument("launch: --workers must be >= 1, got " + std::to_string(o.workers));
  if (o.command.empty()) {
    throw std::invalid_argument("launch: no command to run; usage: gossamer launch --workers N -- CMD ARGS...");
  }
  if (o.master_port < 0 || o.master_port > 65535) {
    throw std::invalid_argument("launch: --master-port " + std::to_string(o.master_port) + " is not a port");
  }
  if (o.workers > topology::kMaxWorkers) {
    throw std::invalid_argument("launch: --workers " + std::to_string(o.workers) + " is more than the " +
                                std::to_string(topology::kMaxWorkers) + " workers a run may have; use at most " +
                                std::to_string(topology::kMaxWorkers));
  }
  ensure_open_files(o.workers);
  const int port = o.master_port > 0 ? o.master_port : pick_free_port(o.master_addr);

  if (::pipe2(g_signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    throw std::runtime_error(std::string("launch: pipe: ") + std::strerror(errno));
  }
  struct sigaction sa {}, sc{}, old_int{}, old_term{}, old_chld{};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &sa, &old_int);
  ::sigaction(SIGTERM, &sa, &old_term);
  sc.sa_handler = on_child;
  sigemptyset(&sc.sa_mask);
  sc.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  ::sigaction(SIGCHLD, &sc, &old_chld);
  // SIGCHLD stays blocked while workers are forked, so that every pid is recorded before its
  // exit can be reaped; the loop below unblocks it.
  sigset_t chld, old_mask;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &chld, &old_mask);
  const pid_t self = ::getpid();

  std::vector<Worker> workers(static_cast<size_t>(o.workers));
  std::fflush(stdout);
  std::fflush(stderr);
  LaunchResult result;
  int interrupted_by = 0;
  bool stopping = false;
  Clock::time_point kill_at = Clock::time_point::max();

  const auto stop_all = [&](int sig) {
    for (const auto& w : workers) signal_worker(w, sig);
  };
  const auto restore = [&] {
    ::sigaction(SIGINT, &old_int, nullptr);
    ::sigaction(SIGTERM, &old_term, nullptr);
    ::sigaction(SIGCHLD, &old_chld, nullptr);
    ::sigprocmask(SIG_SETMASK, &old_mask, nullptr);
    ::close(g_signal_pipe[0]);
    ::close(g_signal_pipe[1]);
    g_signal_pipe[0] = g_signal_pipe[1] = -1;
  };

  for (int r = 0; r < o.workers; ++r) {
    Worker& w = workers[static_cast<size_t>(r)];
    int out[2] = {-1, -1}, err[2] = {-1, -1};
    if (o.prefix_output && (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0)) {
      const std::string why = std::strerror(errno);
      stop_all(SIGKILL);
      restore();
      throw std::runtime_error("launch: pipe: " + why);
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
      const std::string why = std::strerror(errno);
      stop_all(SIGKILL);
      restore();
      throw std::runtime_error("launch: fork: " + why);
    }
    if (pid == 0) exec_worker(o, r, port, out[1], err[1], self);  // pipe2 with O_CLOEXEC: dup2'd copies survive exec
    ::setpgid(pid, pid);  // also here: whichever of parent and child runs first
    w.pid = pid;
    w.running = true;
    if (o.prefix_output) {
      ::close(out[1]);
      ::close(err[1]);
      w.out = Stream{out[0], STDOUT_FILENO, {}};
      w.err = Stream{err[0], STDERR_FILENO, {}};
    }
  }

  ::sigprocmask(SIG_SETMASK, &old_mask, nullptr);
  int running = o.workers;
  Clock::time_point all_exited_at = Clock::time_point::max();
  std::vector<char> buf(1 << 16);
  for (;;) {
    std::vector<pollfd> fds{{g_signal_pipe[0], POLLIN, 0}};
    std::vector<std::pair<Stream*, int>> owners{{nullptr, -1}};
    for (size_t r = 0; r < workers.size(); ++r) {
      for (Stream* s : {&workers[r].out, &workers[r].err}) {
        if (s->fd >= 0) {
          fds.push_back({s->fd, POLLIN, 0});
          owners.emplace_back(s, static_cast<int>(r));
        }
      }
    }
    if (running == 0) {
      // Output still open after every worker exited means a grandchild holds the pipe: give it a
      // moment to drain, not forever.
      if (fds.size() == 1 || Clock::now() - all_exited_at > std::chrono::seconds(1)) break;
    }
    ::poll(fds.data(), fds.size(), 50);

    for (size_t k = 1; k < fds.size(); ++k) {
      if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      Stream& s = *owners[k].first;
      const std::string prefix = "[" + std::to_string(owners[k].second) + "] ";
      const ssize_t got = ::read(s.fd, buf.data(), buf.size());
      if (got > 0) {
        s.partial.append(buf.data(), static_cast<size_t>(got));
        flush_lines(s, prefix, false);
      } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        flush_lines(s, prefix, true);
        ::close(s.fd);
        s.fd = -1;
      }
    }

    Event events[64];
    ssize_t got_events;
    while ((got_events = ::read(g_signal_pipe[0], events, sizeof(events))) > 0) {
      for (size_t e = 0; e < static_cast<size_t>(got_events) / sizeof(Event); ++e) {
        const Event& ev = events[e];
        if (ev.kind == 0) {
          const int sig = ev.a;
          if (interrupted_by != 0) {
            note("second signal: killing the workers");
            stop_all(SIGKILL);
            continue;
          }
          interrupted_by = sig;
          note(std::string("got ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") + ", forwarding it to the workers");
          stop_all(sig);
          stopping = true;
          kill_at = std::min(kill_at, Clock::now() + o.grace);
          continue;
        }
        size_t r = 0;
        while (r < workers.size() && !(workers[r].running && workers[r].pid == ev.a)) ++r;
        if (r == workers.size()) continue;  // not one of ours
        Worker& w = workers[r];
        const int status = ev.b;
        w.running = false;
        w.status = status;
        --running;
        if (running == 0) all_exited_at = Clock::now();
        const bool failed = !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        if (failed && result.failed_rank < 0 && !stopping) {
          result.failed_rank = static_cast<int>(r);
          result.exit_code = exit_code_of(status);
          result.message = "rank " + std::to_string(r) + " " + describe(status);
          if (running > 0) {
            note(result.message + "; stopping the other " + std::to_string(running) + " worker(s)");
          }
          stopping = true;
          stop_all(SIGTERM);
          kill_at = Clock::now() + o.grace;
        }
      }
    }

    if (running > 0 && Clock::now() >= kill_at) {
      note("workers still running " + std::to_string(o.grace.count()) + " ms after SIGTERM: sending SIGKILL");
      stop_all(SIGKILL);
      kill_at = Clock::time_point::max();
    }
  }

  for (auto& w : workers) {
    for (Stream* s : {&w.out, &w.err}) {
      if (s->fd >= 0) {
        flush_lines(*s, "[?] ", true);
        ::close(s->fd);
        s->fd = -1;
      }
    }
  }
  restore();

  if (result.failed_rank >= 0) {
    note(result.message + "; exit status " + std::to_string(result.exit_code));
  } else if (interrupted_by != 0) {
    result.exit_code = 128 + interrupted_by;
    result.message = std::string("interrupted by ") + (interrupted_by == SIGINT ? "SIGINT" : "SIGTERM");
    note(result.message);
  }
  return result;
}

}  // namespace gossamer::comm
