// HttpServer: the HTTP/1.1 transport of the control API, on libmicrohttpd.
//
// One Handler serves every request from up to two listeners: a TCP address
// and a unix socket (mode 0600; requests from it carry from_unix_socket, so
// the caller may trust them by file permissions). Each connection has its own
// thread, so a handler may block for seconds; it runs once per request with
// the whole body in memory.
//
// The server answers by itself, without calling the handler:
//  - 413 {"code":"invalid","error":"request body is over N bytes"} when the
//    Content-Length, or the bytes of a chunked body, go over max_body_bytes.
//    A chunked body that keeps going past twice the limit gets its connection
//    closed instead;
//  - 500 {"code":"io","error":"internal error: ..."} when the handler throws
//    (logged), or returns a status outside 200..599;
//  - 503 {"code":"unavailable",...} once Stop() has begun;
//  - 400 (or a closed connection) for malformed HTTP, from libmicrohttpd.
//
// Decoding: the path and the query arguments are percent-decoded ('+' is a
// space in the query only), except that %00 stays as written so no decoded
// text holds a NUL byte; a repeated query argument keeps its first value;
// repeated headers are joined with ", ". SIGPIPE never fires for a client
// that went away.
//
// Thread-safety: ListenTcp, ListenUnix, port and Stop may be called from any
// thread; the handler is called concurrently from many. Stop() must not be
// called from inside the handler (it waits for the handler to return).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/net.h"
#include "common/status.h"

namespace strata {

struct HttpRequest {
  std::string method;                          // "GET", "POST", "PUT", "PATCH", "DELETE", ...
  std::string path;                            // URL path without the query, percent-decoded
  std::map<std::string, std::string> query;    // decoded query arguments
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  bool from_unix_socket = false;  // arrived on the unix socket (trusted by file permissions)
  std::string peer;               // the client's HOST:PORT on TCP; "local" on the unix socket
  // The header's value, or "" (name: lower case).
  std::string Header(const std::string& lower_name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";  // no Content-Type header if empty
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers, e.g. WWW-Authenticate
};

struct HttpServerOptions {
  size_t max_body_bytes = 1 << 20;  // larger bodies get 413 without calling the handler
  int max_connections = 256;        // per listener; must be >= 1
  int connection_timeout_s = 30;    // idle keep-alive connections are closed after this; 0: never
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  explicit HttpServer(Handler handler, HttpServerOptions opts = {});
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Listens on hp (port 0: any free port). kBusy "HOST:PORT is in use" on
  // EADDRINUSE. At most once; kInvalid after Stop().
  Status ListenTcp(const HostPort& hp);
  // Listens on a unix socket at `path`, mode 0600, replacing a stale socket
  // file. kBusy "PATH is in use" if a server answers there; kExists if the
  // path is something other than a socket. At most once; kInvalid after Stop().
  Status ListenUnix(const std::string& path);
  uint16_t port() const;  // the bound TCP port, 0 if none

  // Stops accepting on both listeners, waits for the requests whose handler
  // has started (and for their answers to be written), closes every other
  // connection and removes the unix socket file. Idempotent.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace strata
