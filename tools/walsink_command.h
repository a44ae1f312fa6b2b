// `strata walsink serve`: runs the walsink server (walsink/sink_server.h) in
// the foreground until SIGTERM or SIGINT. See docs/cli.md and
// docs/sink-protocol.md.
#pragma once

#include <optional>
#include <string>

#include "common/status.h"

namespace strata::cli {

struct WalsinkServeArgs {
  std::string dir;                       // the op logs, one directory per store id
  std::string listen;                    // HOST:PORT; port 0 picks a free port
  std::optional<std::string> port_file;  // gets the bound port once listening
  std::optional<std::string> log_file;   // default: stderr
};

// Serves until SIGTERM or SIGINT, then stops cleanly and returns OK. Prints
// "strata walsink: serving DIR on HOST:PORT" to stderr once listening. An
// unusable address, directory or log file is an error before anything runs.
Status WalsinkServe(const WalsinkServeArgs& args);

}  // namespace strata::cli
