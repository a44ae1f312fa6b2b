// `strata walsink serve`: runs the walsink server (walsink/sink_server.h) in
// the foreground until SIGTERM or SIGINT. See docs/cli.md and
// docs/sink-protocol.md.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace strata::cli {

struct WalsinkServeArgs {
  std::string dir;                        // the op logs, one directory per store id
  std::string listen;                     // HOST:PORT; port 0 picks a free port
  std::optional<std::string> port_file;   // gets the bound port once listening
  std::optional<std::string> log_file;    // default: stderr
  std::optional<std::string> token_file;  // what clients present; made if missing
  std::optional<std::string> tls_cert;    // both or neither: a self-signed pair in DIR
  std::optional<std::string> tls_key;
  std::vector<std::string> store_ids;  // empty: any store
  bool insecure = false;               // plaintext; no token unless token_file
};

// Serves until SIGTERM or SIGINT, then stops cleanly and returns OK. Prints
// "strata walsink: serving DIR on HOST:PORT (...)" to stderr once listening,
// with the TLS certificate and its fingerprint. An unusable address,
// directory, log file, token or certificate, or a missing --token-file
// without --insecure, is an error before anything runs.
Status WalsinkServe(const WalsinkServeArgs& args);

}  // namespace strata::cli
