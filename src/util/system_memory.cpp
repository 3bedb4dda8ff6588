#include "gossamer/util/system_memory.h"

#include <cstdlib>
#include <fstream>
#include <string>

namespace gossamer::util {

namespace {

double meminfo_available_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string key, unit;
  double kib = 0;
  while (in >> key >> kib >> unit) {
    if (key == "MemAvailable:") return kib * 1024.0;
  }
  return -1;
}

}  // namespace

double memory_available_bytes() {
  double have = meminfo_available_bytes();
  std::ifstream max_file("/sys/fs/cgroup/memory.max"), current_file("/sys/fs/cgroup/memory.current");
  std::string max_text;
  double current = 0;
  if (max_file >> max_text && max_text != "max" && current_file >> current) {
    const double room = std::atof(max_text.c_str()) - current;
    if (room > 0 && (have <= 0 || room < have)) have = room;
  }
  return have;
}

}  // namespace gossamer::util
