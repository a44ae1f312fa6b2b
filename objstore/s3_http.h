// HttpClient: blocking HTTP/1.1 requests over libcurl, for the S3 backend.
//
// Keeps a pool of curl easy handles, so that connections (and TLS sessions)
// stay open between calls; handles share one DNS and TLS-session cache. Safe
// to call from any number of threads at once: each call takes its own handle.
// The client knows nothing of S3: it sends what it is given and returns
// whatever status the server answered.
//
// The first client initializes libcurl for the whole process (never undone)
// and, unless the program has its own SIGPIPE handler, ignores SIGPIPE: a
// write to a connection the server closed must be an error, not a kill.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"

namespace strata {

struct HttpOptions {
  // Time allowed to set up a connection (TCP, and TLS if any).
  std::chrono::milliseconds connect_timeout{5000};
  // A request that moves fewer than stall_bytes_per_second for stall_time is
  // abandoned as stalled.
  long stall_bytes_per_second = 1;
  std::chrono::seconds stall_time{30};
  // Upper bound for one whole request, connection included.
  std::chrono::milliseconds request_timeout{300000};
  // Idle handles (each with its open connections) kept for reuse.
  size_t max_idle_handles = 32;
};

struct HttpRequest {
  std::string method;  // "GET", "HEAD", "PUT", "POST", "DELETE"
  std::string url;     // complete and already percent-encoded
  std::vector<std::pair<std::string, std::string>> headers;
  // Sent as the body for PUT and POST (possibly empty); must be empty otherwise.
  std::string_view body;
};

struct HttpResponse {
  long status = 0;
  // Lowercase names, values trimmed, in the order received.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // The first value of header `lower_name`, or nullptr.
  const std::string* Header(std::string_view lower_name) const;
};

class HttpClient {
 public:
  explicit HttpClient(HttpOptions options = {});
  // REQUIRES: no call is in progress.
  ~HttpClient();

  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Performs `request`. Any HTTP status is a response (OK); failing to get one
  // (cannot resolve or connect, reset, timeout, truncated reply) is kIO whose
  // message starts with `what`, retryable unless retrying cannot help (a
  // malformed URL, a TLS certificate that does not verify).
  Result<HttpResponse> Send(const HttpRequest& request, std::string_view what);

 private:
  struct Share;
  struct HandleReturner;
  using Handle = std::unique_ptr<void, HandleReturner>;

  Result<Handle> TakeHandle(std::string_view what) EXCLUDES(mu_);
  void ReturnHandle(void* curl) EXCLUDES(mu_);

  // Set at construction.
  const HttpOptions options_;
  const std::unique_ptr<Share> share_;

  // Guards the pool only; never held during a request or a curl call, so it
  // is a leaf (the share's locks are taken by curl inside requests).
  Mutex mu_;
  std::vector<void*> idle_ GUARDED_BY(mu_);  // CURL*
};

}  // namespace strata
