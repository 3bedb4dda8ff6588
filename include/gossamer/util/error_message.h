// What an exception says, for a user: LibTorch's c10::Error appends a C++ stack trace
// ("Exception raised from ... frame #0: ...") to what(); a message that reaches a user (a worker's
// failure, a dry build's, the CLI's last line) is the text without it.
#pragma once

#include <exception>
#include <string>

namespace gossamer::util {

std::string error_message(const std::exception& e);

}  // namespace gossamer::util
