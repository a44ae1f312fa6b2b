// TCP helpers for the walsink protocol: host:port parsing, connect with a
// timeout, listen, and full reads and writes that never raise SIGPIPE.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace strata {

struct HostPort {
  std::string host;  // a name, an IPv4 address, or an IPv6 address without brackets
  uint16_t port = 0;
};

// "host:port" or "[v6addr]:port". The port must be 1..65535, or 0 when
// `allow_zero_port` (listen on any free port).
Result<HostPort> ParseHostPort(std::string_view text, bool allow_zero_port = false);
std::string FormatHostPort(const HostPort& hp);

// Connects to hp within `timeout_ms` (across all of its addresses; the name
// lookup itself is not bounded); the socket is blocking, close-on-exec, with
// TCP_NODELAY. kUnavailable (retryable) when the peer cannot be reached.
Result<int> ConnectTcp(const HostPort& hp, int timeout_ms);

// A listening socket bound to hp (SO_REUSEADDR). *bound_port gets the port
// actually bound (useful with port 0).
Result<int> ListenTcp(const HostPort& hp, uint16_t* bound_port);

// Reads exactly n bytes. kNotFound if the peer closed (or reset) the
// connection before the first byte; kIO ("connection closed after k of n bytes") if it closed
// in the middle; kIO on a socket error. `what` names the connection.
Status ReadFull(int fd, char* buf, size_t n, const std::string& what);
// Writes all of data with send(MSG_NOSIGNAL).
Status SendAll(int fd, std::string_view data, const std::string& what);

}  // namespace strata
