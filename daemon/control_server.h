// ControlServer: the daemon's unix-socket endpoint for the CLI
// (docs/control-protocol.md): one JSON request line in, one JSON answer
// line out, per connection.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "common/status.h"

namespace strata {

class ControlServer {
 public:
  // handler: request line -> answer line (without the trailing newline).
  using Handler = std::function<std::string(const std::string&)>;

  ControlServer(std::string path, Handler handler)
      : path_(std::move(path)), handler_(std::move(handler)) {}
  ~ControlServer();

  // Binds (replacing a stale socket file) and starts accepting.
  Status Start();
  // Stops accepting and waits for requests in flight.
  void Stop();

 private:
  void AcceptLoop();
  void Serve(int fd);

  const std::string path_;
  const Handler handler_;
  int listen_fd_ = -1;
  std::thread acceptor_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> in_flight_{0};
};

}  // namespace strata
