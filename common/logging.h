// The process-wide log: one spdlog logger, to stderr or appended to a file.
#pragma once

#include <string>

#include "common/status.h"

namespace strata {

// Makes a logger named `name` the default, writing to stderr if `log_file`
// is empty or "-", else appending to `log_file`; flushed at every info line.
// kIO naming the file if it cannot be opened.
Status SetupLogging(const std::string& name, const std::string& log_file);

}  // namespace strata
