// Writing files so that a crash or an error never leaves a half-written result behind.
#pragma once

#include <functional>
#include <string>

namespace gossamer::util {

// Calls `write(tmp_path)` with a temporary path next to `path`, then renames it onto `path`.
// If `write` throws, the temporary file is removed, `path` is left exactly as it was, and the
// exception propagates. rename(2) within one directory is atomic on POSIX file systems.
void write_file_atomically(const std::string& path, const std::function<void(const std::string& tmp_path)>& write);

// Same, for a string payload.
void write_text_atomically(const std::string& path, const std::string& text);

}  // namespace gossamer::util
