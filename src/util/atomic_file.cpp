#include "gossamer/util/atomic_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace gossamer::util {

void write_file_atomically(const std::string& path, const std::function<void(const std::string&)>& write) {
  // The pid keeps two processes (launcher ranks) writing the same path from sharing a temp file.
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  try {
    write(tmp);
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    throw std::runtime_error("cannot move " + tmp + " to " + path + ": " + std::strerror(err));
  }
}

void write_text_atomically(const std::string& path, const std::string& text) {
  write_file_atomically(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("cannot open " + tmp + " for writing: " + std::strerror(errno));
    out << text;
    out.flush();
    if (!out) throw std::runtime_error("write to " + tmp + " failed: " + std::strerror(errno));
  });
}

}  // namespace gossamer::util
