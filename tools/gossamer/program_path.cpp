// Looking programs up on PATH, for commands that start others (launch) or call helpers (topology --png).
#include <unistd.h>

#include <cstdlib>
#include <sstream>
#include <string>

#include "commands.h"

namespace gossamer::cli {

bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return false;
  std::stringstream dirs(path);
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
    if (::access(candidate.c_str(), X_OK) == 0) return true;
  }
  return false;
}

}  // namespace gossamer::cli
