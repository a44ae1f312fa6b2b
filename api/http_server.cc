#include "api/http_server.h"

#include <microhttpd.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <exception>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "common/fd_util.h"
#include "common/mutex.h"
#include "common/net.h"
#include "common/text.h"
#include "common/thread_annotations.h"

namespace strata {

namespace {

// What one request accumulates between libmicrohttpd's calls.
struct RequestContext {
  std::string body;
  bool too_big = false;  // a chunked body went over the limit: its bytes are dropped
  size_t dropped = 0;    // how many
  bool counted = false;  // the handler started: Stop() waits for the completion notice
};

HttpResponse ErrorResponse(int status, const std::string& code, const std::string& error) {
  HttpResponse r;
  r.status = status;
  // Exception texts need not be UTF-8; a replacement character beats a throw here.
  r.body = nlohmann::json{{"code", code}, {"error", error}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

HttpResponse TooBig(size_t max) {
  return ErrorResponse(413, "invalid", "request body is over " + std::to_string(max) + " bytes");
}

MHD_Result Queue(MHD_Connection* conn, const HttpResponse& r) {
  MHD_Response* m = MHD_create_response_from_buffer(r.body.size(), const_cast<char*>(r.body.data()),
                                                    MHD_RESPMEM_MUST_COPY);
  if (m == nullptr) return MHD_NO;
  if (!r.content_type.empty()) {
    MHD_add_response_header(m, MHD_HTTP_HEADER_CONTENT_TYPE, r.content_type.c_str());
  }
  for (const auto& [name, value] : r.headers) {
    // libmicrohttpd refuses names or values with CR/LF and the headers it owns.
    if (MHD_add_response_header(m, name.c_str(), value.c_str()) != MHD_YES) {
      spdlog::error("http: response header '{}' refused", name);
    }
  }
  const MHD_Result rc = MHD_queue_response(conn, static_cast<unsigned>(r.status), m);
  MHD_destroy_response(m);
  return rc;
}

MHD_Result AddQueryArg(void* cls, MHD_ValueKind, const char* key, size_t key_size,
                       const char* value, size_t value_size) {
  auto* query = static_cast<std::map<std::string, std::string>*>(cls);
  // "?flag" has no value: libmicrohttpd passes NULL.
  query->emplace(std::string(key, key_size),
                 value ? std::string(value, value_size) : std::string());
  return MHD_YES;
}

MHD_Result AddHeader(void* cls, MHD_ValueKind, const char* key, size_t key_size, const char* value,
                     size_t value_size) {
  auto* headers = static_cast<std::map<std::string, std::string>*>(cls);
  const std::string v = value ? std::string(value, value_size) : std::string();
  auto [it, added] = headers->emplace(AsciiLower(std::string_view(key, key_size)), v);
  if (!added) it->second += ", " + v;  // RFC 9110 5.3: same meaning as one comma-joined line
  return MHD_YES;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Replaces libmicrohttpd's decoder (used for the path and the query) to keep
// %00 as written: a NUL inside a branch name would cut it short wherever the
// name reaches a C API. Bad escapes stay as written too, like the stock one.
size_t Unescape(void*, MHD_Connection*, char* s) {
  char* out = s;
  for (const char* in = s; *in != '\0';) {
    if (in[0] == '%' && HexDigit(in[1]) >= 0 && HexDigit(in[2]) >= 0) {
      const int byte = HexDigit(in[1]) * 16 + HexDigit(in[2]);
      if (byte != 0) {
        *out++ = static_cast<char>(byte);
        in += 3;
        continue;
      }
    }
    *out++ = *in++;
  }
  *out = '\0';
  return static_cast<size_t>(out - s);
}

}  // namespace

std::string HttpRequest::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

struct HttpServer::Impl {
  Impl(Handler h, HttpServerOptions o) : handler(std::move(h)), opts(o) {}

  // What libmicrohttpd's callbacks get (cls): immutable.
  struct Listener {
    Listener(Impl* i, bool on_unix_socket, std::string n)
        : impl(i), unix_socket(on_unix_socket), name(std::move(n)) {}
    Impl* const impl;
    const bool unix_socket;
    const std::string name;  // for logs: HOST:PORT or the socket path
  };
  // One listening socket, served by its own libmicrohttpd daemon. The socket
  // is libmicrohttpd's while the daemon runs; MHD_quiesce_daemon hands it back.
  struct Slot {
    std::unique_ptr<Listener> listener;  // null: not listening
    MHD_Daemon* daemon = nullptr;
    UniqueFd quiesced_fd;        // the socket, once handed back
    struct stat socket_file {};  // unix: what we bound, to remove only that at Stop
  };

  // Set at construction.
  const Handler handler;
  const HttpServerOptions opts;

  std::atomic<uint16_t> port{0};

  // Lock order: admin_mu, then mu. Neither is held while the handler runs
  // (the API's Handle, which takes the locks of the modules it calls), so
  // the handler may block; it must not call Stop, which waits for it.
  Mutex admin_mu ACQUIRED_BEFORE(mu);  // serializes Listen* and Stop
  bool stopped GUARDED_BY(admin_mu) = false;
  Slot tcp GUARDED_BY(admin_mu);
  Slot unix_socket GUARDED_BY(admin_mu);

  Mutex mu;
  CondVar idle;  // running dropped to 0
  bool stopping GUARDED_BY(mu) = false;
  int running GUARDED_BY(mu) = 0;  // requests counted in RequestContext::counted

  Status CheckCanListen(const Slot& slot, const char* kind) REQUIRES(admin_mu);
  // Starts serving `fd` in `slot` as `listener`.
  Status Start(Slot* slot, std::unique_ptr<Listener> listener, UniqueFd fd) REQUIRES(admin_mu);
  void Stop() EXCLUDES(admin_mu, mu);
  MHD_Result OnRequest(Listener* l, MHD_Connection* conn, const char* url, const char* method,
                       const char* upload_data, size_t* upload_size, void** con_cls);
  void OnCompleted(void** con_cls);

  // libmicrohttpd's callbacks; cls is the Listener.
  static MHD_Result RequestThunk(void* cls, MHD_Connection* conn, const char* url,
                                 const char* method, const char* version, const char* upload_data,
                                 size_t* upload_size, void** con_cls);
  static void CompletedThunk(void* cls, MHD_Connection*, void** con_cls,
                             MHD_RequestTerminationCode);
  static void LogThunk(void* cls, const char* fmt, va_list ap);
};

MHD_Result HttpServer::Impl::RequestThunk(void* cls, MHD_Connection* conn, const char* url,
                                          const char* method, const char* /*version*/,
                                          const char* upload_data, size_t* upload_size,
                                          void** con_cls) {
  auto* l = static_cast<Listener*>(cls);
  // Nothing may unwind into C; a failure here (bad_alloc) drops the connection.
  try {
    return l->impl->OnRequest(l, conn, url, method, upload_data, upload_size, con_cls);
  } catch (const std::exception& e) {
    spdlog::error("http {}: {}", l->name, e.what());
  } catch (...) {
    spdlog::error("http {}: unknown exception", l->name);
  }
  return MHD_NO;
}

void HttpServer::Impl::CompletedThunk(void* cls, MHD_Connection*, void** con_cls,
                                      MHD_RequestTerminationCode) {
  static_cast<Listener*>(cls)->impl->OnCompleted(con_cls);
}

void HttpServer::Impl::LogThunk(void* cls, const char* fmt, va_list ap) {
  char buf[1024];
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  spdlog::warn("http {}: {}", static_cast<Listener*>(cls)->name, TrimAsciiSpace(buf));
}

MHD_Result HttpServer::Impl::OnRequest(Listener* l, MHD_Connection* conn, const char* url,
                                       const char* method, const char* upload_data,
                                       size_t* upload_size, void** con_cls) {
  auto* ctx = static_cast<RequestContext*>(*con_cls);
  if (ctx == nullptr) {  // the headers are in; the body, if any, is not
    ctx = new RequestContext;
    *con_cls = ctx;  // freed by OnCompleted
    const char* length =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    uint64_t n = 0;
    if (length != nullptr &&
        std::from_chars(length, length + std::strlen(length), n).ec == std::errc() &&
        n > opts.max_body_bytes) {
      // Answering now makes libmicrohttpd skip the body and close the connection.
      return Queue(conn, TooBig(opts.max_body_bytes));
    }
    return MHD_YES;
  }
  if (*upload_size != 0) {
    const size_t n = *upload_size;
    *upload_size = 0;
    if (!ctx->too_big && ctx->body.size() + n <= opts.max_body_bytes) {
      ctx->body.append(upload_data, n);
      return MHD_YES;
    }
    // A chunked body: no answer can be queued before its end, so drop the
    // bytes; a client still sending after twice the limit is cut off.
    if (!ctx->too_big) std::string().swap(ctx->body);
    ctx->too_big = true;
    ctx->dropped += n;
    return ctx->dropped > opts.max_body_bytes ? MHD_NO : MHD_YES;
  }
  if (ctx->too_big) return Queue(conn, TooBig(opts.max_body_bytes));
  {
    MutexLock lock(&mu);
    if (stopping) {
      return Queue(conn, ErrorResponse(503, "unavailable", "the server is stopping"));
    }
    running++;
    ctx->counted = true;
  }

  HttpRequest req;
  req.method = method;
  req.path = url;
  req.from_unix_socket = l->unix_socket;
  if (l->unix_socket) {
    req.peer = "local";
  } else {
    const MHD_ConnectionInfo* ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    req.peer = SockaddrName(ci ? ci->client_addr : nullptr);
  }
  req.body = std::move(ctx->body);
  MHD_get_connection_values_n(conn, MHD_GET_ARGUMENT_KIND, &AddQueryArg, &req.query);
  MHD_get_connection_values_n(conn, MHD_HEADER_KIND, &AddHeader, &req.headers);
  HttpResponse resp;
  std::string failure;  // why the handler's answer cannot be sent
  try {
    resp = handler(req);
    if (resp.status < 200 || resp.status > 599) {
      failure = "handler answered status " + std::to_string(resp.status);
    }
  } catch (const std::exception& e) {
    failure = e.what();
  } catch (...) {
    failure = "unknown exception";
  }
  if (!failure.empty()) {
    spdlog::error("http {}: {} {}: {}", l->name, req.method, req.path, failure);
    resp = ErrorResponse(500, "io", "internal error: " + failure);
  }
  return Queue(conn, resp);
}

void HttpServer::Impl::OnCompleted(void** con_cls) {
  auto* ctx = static_cast<RequestContext*>(*con_cls);
  if (ctx == nullptr) return;
  *con_cls = nullptr;
  if (ctx->counted) {
    MutexLock lock(&mu);
    if (--running == 0) idle.SignalAll();
  }
  delete ctx;
}

Status HttpServer::Impl::CheckCanListen(const Slot& slot, const char* kind) {
  if (stopped) return Status::Invalid("HTTP server is stopped");
  if (slot.listener) return Status::Invalid(std::string("HTTP server already listens on ") + kind);
  if (opts.max_connections < 1 || opts.connection_timeout_s < 0) {
    return Status::Invalid("HTTP server options: max_connections must be >= 1, " +
                           std::string("connection_timeout_s >= 0"));
  }
  return Status::OK();
}

Status HttpServer::Impl::Start(Slot* slot, std::unique_ptr<Listener> listener, UniqueFd fd) {
  Listener* l = listener.get();
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  const bool v6 = getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len) == 0 &&
                  ss.ss_family == AF_INET6;
  // ITC lets Stop() quiesce: stop accepting while requests finish.
  const unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                         MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
  // One option and its arguments per line; the logger first, to catch the others' errors.
  // clang-format off
  MHD_Daemon* daemon = MHD_start_daemon(
      flags, 0, nullptr, nullptr, &RequestThunk, l,
      MHD_OPTION_EXTERNAL_LOGGER, &LogThunk, l,
      MHD_OPTION_LISTEN_SOCKET, static_cast<MHD_socket>(fd.get()),
      MHD_OPTION_CONNECTION_LIMIT, static_cast<unsigned>(opts.max_connections),
      MHD_OPTION_CONNECTION_TIMEOUT, static_cast<unsigned>(opts.connection_timeout_s),
      MHD_OPTION_NOTIFY_COMPLETED, &CompletedThunk, l,
      MHD_OPTION_UNESCAPE_CALLBACK, &Unescape, nullptr,
      MHD_OPTION_END);
  // clang-format on
  if (daemon == nullptr) {
    // With these flags no failure path of MHD_start_daemon (0.9.75) closes
    // the socket it was given: it is still ours, and `fd` closes it.
    return Status::IO("cannot start the HTTP server on " + l->name + " (see the log)");
  }
  fd.release();  // libmicrohttpd's now
  slot->listener = std::move(listener);
  slot->daemon = daemon;
  return Status::OK();
}

HttpServer::HttpServer(Handler handler, HttpServerOptions opts)
    : impl_(std::make_unique<Impl>(std::move(handler), opts)) {
  // libmicrohttpd sends with MSG_NOSIGNAL where the platform has it; where
  // not, a client hanging up must still not kill the process.
  static std::once_flag sigpipe_once;
  std::call_once(sigpipe_once, [] {
    if (MHD_is_feature_supported(MHD_FEATURE_AUTOSUPPRESS_SIGPIPE) != MHD_YES) {
      std::signal(SIGPIPE, SIG_IGN);
    }
  });
}

HttpServer::~HttpServer() { Stop(); }

Status HttpServer::ListenTcp(const HostPort& hp) {
  Impl& impl = *impl_;
  MutexLock admin(&impl.admin_mu);
  STRATA_RETURN_IF_ERROR(impl.CheckCanListen(impl.tcp, "TCP"));
  uint16_t bound = 0;
  Result<int> fd = ::strata::ListenTcp(hp, &bound);
  if (!fd.ok()) {
    // ListenTcp reports errno only in its message.
    if (fd.status().message().ends_with(std::strerror(EADDRINUSE))) {
      return Status::Busy(FormatHostPort(hp) + " is in use");
    }
    return fd.status();
  }
  const std::string name = FormatHostPort(HostPort{hp.host, bound});
  STRATA_RETURN_IF_ERROR(
      impl.Start(&impl.tcp, std::make_unique<Impl::Listener>(&impl, false, name), UniqueFd(*fd)));
  impl.port = bound;
  spdlog::info("http: listening on {}", name);
  return Status::OK();
}

namespace {

// Whether a server accepts connections on the unix socket at `addr`.
bool UnixSocketIsLive(const sockaddr_un& addr) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  return fd.get() >= 0 &&
         ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
}

}  // namespace

Status HttpServer::ListenUnix(const std::string& path) {
  Impl& impl = *impl_;
  MutexLock admin(&impl.admin_mu);
  STRATA_RETURN_IF_ERROR(impl.CheckCanListen(impl.unix_socket, "a unix socket"));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return Status::Invalid("bad unix socket path '" + path + "' (1.." +
                           std::to_string(sizeof(addr.sun_path) - 1) + " bytes)");
  }
  std::memcpy(addr.sun_path, path.data(), path.size());

  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return Status::Exists(path + " exists and is not a socket");
    if (UnixSocketIsLive(addr)) return Status::Busy(path + " is in use");
    // Left behind by a process that died without removing it.
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return Status::FromErrno(errno, "remove stale socket " + path);
    }
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return Status::FromErrno(errno, "socket for " + path);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return Status::FromErrno(errno, "bind " + path);
  }
  // Before listen(): until then nobody can connect, whatever the umask gave.
  if (::chmod(path.c_str(), 0600) != 0 || ::listen(fd.get(), 128) != 0 ||
      ::stat(path.c_str(), &st) != 0) {
    const Status s = Status::FromErrno(errno, "listen on " + path);
    ::unlink(path.c_str());
    return s;
  }
  impl.unix_socket.socket_file = st;
  if (Status s = impl.Start(&impl.unix_socket, std::make_unique<Impl::Listener>(&impl, true, path),
                            std::move(fd));
      !s.ok()) {
    ::unlink(path.c_str());
    return s;
  }
  spdlog::info("http: listening on {}", path);
  return Status::OK();
}

uint16_t HttpServer::port() const { return impl_->port.load(); }

void HttpServer::Stop() { impl_->Stop(); }

void HttpServer::Impl::Stop() {
  MutexLock admin(&admin_mu);
  if (stopped) return;
  stopped = true;
  {
    MutexLock lock(&mu);
    stopping = true;  // from now on requests get 503 without the handler
  }
  Slot* slots[] = {&tcp, &unix_socket};
  for (Slot* slot : slots) {
    if (!slot->listener) continue;
    const MHD_socket fd = MHD_quiesce_daemon(slot->daemon);
    if (fd != MHD_INVALID_SOCKET) slot->quiesced_fd.reset(fd);
  }
  {
    MutexLock lock(&mu);
    idle.Wait(&mu, [this]() REQUIRES(mu) { return running == 0; });
  }
  for (Slot* slot : slots) {
    if (!slot->listener) continue;
    // Shuts down the idle keep-alive connections and joins every thread.
    MHD_stop_daemon(slot->daemon);
    slot->daemon = nullptr;
    slot->quiesced_fd.reset();  // if not quiesced, MHD_stop_daemon closed the socket
    const Listener& l = *slot->listener;
    struct stat st {};
    if (l.unix_socket && ::lstat(l.name.c_str(), &st) == 0 &&
        st.st_dev == slot->socket_file.st_dev && st.st_ino == slot->socket_file.st_ino) {
      ::unlink(l.name.c_str());
    }
  }
}

}  // namespace strata
