// One small, prefixed, level-gated logging facility for the library (no stray prints elsewhere).
#pragma once

#include <string>

namespace gossamer::util {

enum class LogLevel { Debug = 0, Info = 1, Warn = 2, Error = 3, Off = 4 };

void set_log_level(LogLevel level);
LogLevel log_level();
// Writes "[gossamer LEVEL] message" to stderr if `level` passes the gate. Thread safe.
void log(LogLevel level, const std::string& message);

inline void log_info(const std::string& m) { log(LogLevel::Info, m); }
inline void log_warn(const std::string& m) { log(LogLevel::Warn, m); }
inline void log_debug(const std::string& m) { log(LogLevel::Debug, m); }

}  // namespace gossamer::util
