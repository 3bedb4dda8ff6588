// Runs the built `gossamer` command for end-to-end tests: what a user would type, what they would see.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "test_paths.h"

namespace gossamer::testing {

inline std::string tool_path() { return std::string(GOSSAMER_BINARY_DIR) + "/bin/gossamer"; }

inline bool tool_built() { return ::access(tool_path().c_str(), X_OK) == 0; }

inline bool have_fashion_mnist() {
  return std::filesystem::exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz");
}

struct ToolResult {
  int status = -1;  // the exit status; -1 when killed by a signal
  std::string out;  // stdout and stderr together
};

// A shell command line, stdout and stderr captured together, stdin empty.
inline ToolResult run_shell(const std::string& command) {
  const std::string cmd = "(" + command + ") 2>&1 </dev/null";
  ToolResult r;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return r;
  std::array<char, 4096> buf{};
  size_t got;
  while ((got = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) r.out.append(buf.data(), got);
  const int raw = ::pclose(pipe);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return r;
}

// `gossamer ARGS` through the shell (ARGS is shell text).
inline ToolResult run_gossamer(const std::string& args) { return run_shell(tool_path() + " " + args); }

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline void write_text(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

}  // namespace gossamer::testing
