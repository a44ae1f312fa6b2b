#include "api/http_server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>

#include "common/fd_util.h"
#include "common/net.h"
#include "common/temp_dir.h"
#include "common/text.h"

namespace strata {
namespace {

using nlohmann::json;

// A raw HTTP/1.1 client: tests must see exactly what goes over the wire.
class Client {
 public:
  struct Reply {
    int status = 0;                              // 0: the connection closed before a whole answer
    std::map<std::string, std::string> headers;  // lower-cased names
    std::string body;
  };

  static std::unique_ptr<Client> Tcp(uint16_t port) {
    Result<int> fd = ConnectTcp(HostPort{"127.0.0.1", port}, 5000);
    EXPECT_TRUE(fd.ok()) << fd.status().ToString();
    return std::make_unique<Client>(fd.ok() ? *fd : -1);
  }
  static std::unique_ptr<Client> Unix(const std::string& path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0)
        << std::strerror(errno);
    return std::make_unique<Client>(fd);
  }

  explicit Client(int fd) : fd_(fd) {
    timeval tv{20, 0};  // a broken server fails the test instead of hanging it
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  void Close() { fd_.reset(); }

  void Send(std::string_view raw) {
    Status s = SendAll(fd_.get(), raw, "server");
    EXPECT_TRUE(s.ok()) << s.ToString();
  }

  Reply Read() {
    Reply r;
    size_t head_end;
    while ((head_end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return r;
    }
    std::string_view head(buf_.data(), head_end);
    size_t line_end = head.find("\r\n");
    std::string_view status_line = head.substr(0, line_end);
    if (status_line.size() < 12) return r;
    const int status = std::stoi(std::string(status_line.substr(9, 3)));
    while (line_end != std::string_view::npos) {
      head.remove_prefix(line_end + 2);
      line_end = head.find("\r\n");
      std::string_view line = head.substr(0, line_end);
      const size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      r.headers[AsciiLower(line.substr(0, colon))] = TrimAsciiSpace(line.substr(colon + 1));
    }
    size_t body_start = head_end + 4;
    if (r.headers.count("content-length")) {
      const size_t len = std::stoul(r.headers["content-length"]);
      while (buf_.size() < body_start + len) {
        if (!Fill()) return Reply{};
      }
      r.body = buf_.substr(body_start, len);
      buf_.erase(0, body_start + len);
    } else {  // the answer ends with the connection
      while (Fill()) {
      }
      r.body = buf_.substr(body_start);
      buf_.clear();
    }
    r.status = status;
    return r;
  }

  // One request, then its answer.
  Reply Do(const std::string& method, const std::string& target, const std::string& body = "",
           const std::string& extra_headers = "") {
    Send(method + " " + target + " HTTP/1.1\r\nHost: test\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n" + extra_headers + "\r\n" + body);
    return Read();
  }

 private:
  bool Fill() {
    char chunk[65536];
    const ssize_t n = ::recv(fd_.get(), chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buf_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  UniqueFd fd_;
  std::string buf_;
};

// Answers with what it was asked, as JSON.
HttpResponse Echo(const HttpRequest& r) {
  HttpResponse resp;
  resp.body = json{{"method", r.method},
                   {"path", r.path},
                   {"query", r.query},
                   {"headers", r.headers},
                   {"body", r.body},
                   {"unix", r.from_unix_socket},
                   {"x_test", r.Header("x-test")},
                   {"missing", r.Header("x-missing")}}
                  .dump();
  return resp;
}

// Not constexpr: clang with libstdc++ 12 cannot make a constexpr std::string.
const HostPort kLocalAnyPort{"127.0.0.1", 0};

TEST(HttpServerTest, GetAndPostJsonOverTcp) {
  HttpServer server(Echo);
  ASSERT_TRUE(server.ListenTcp(kLocalAnyPort).ok());
  ASSERT_NE(server.port(), 0);
  auto c = Client::Tcp(server.port());

  Client::Reply r = c->Do("GET", "/v1/branches");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "application/json");
  json j = json::parse(r.body);
  EXPECT_EQ(j["method"], "GET");
  EXPECT_EQ(j["path"], "/v1/branches");
  EXPECT_EQ(j["body"], "");
  EXPECT_EQ(j["unix"], false);
  EXPECT_EQ(j["missing"], "");

  const std::string body = json{{"name", "feature"}, {"parent", "main"}}.dump();
  r = c->Do("POST", "/v1/branches", body, "Content-Type: application/json\r\n");
  ASSERT_EQ(r.status, 200);
  j = json::parse(r.body);
  EXPECT_EQ(j["method"], "POST");
  EXPECT_EQ(json::parse(j["body"].get<std::string>())["parent"], "main");
  EXPECT_EQ(j["headers"]["content-type"], "application/json");
}

TEST(HttpServerTest, ServesIpv6) {
  HttpServer server(Echo);
  if (!server.ListenTcp(HostPort{"::1", 0}).ok()) GTEST_SKIP() << "no IPv6 loopback here";
  Result<int> fd = ConnectTcp(HostPort{"::1", server.port()}, 5000);
  ASSERT_TRUE(fd.ok()) << fd.status().ToString();
  Client c(*fd);
  EXPECT_EQ(c.Do("GET", "/v6").status, 200);
}

TEST(HttpServerTest, UnixSocketAndTcpAreTold) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/api.sock";
  HttpServer server(Echo);
  ASSERT_TRUE(server.ListenUnix(path).ok());
  ASSERT_TRUE(server.ListenTcp(kLocalAnyPort).ok());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  auto u = Client::Unix(path);
  Client::Reply r = u->Do("POST", "/v1/x", "{\"a\":1}");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["unix"], true);
  EXPECT_EQ(json::parse(r.body)["body"], "{\"a\":1}");

  auto t = Client::Tcp(server.port());
  r = t->Do("GET", "/v1/x");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["unix"], false);

  server.Stop();
  EXPECT_NE(::stat(path.c_str(), &st), 0) << "Stop() removes the socket file";
}

TEST(HttpServerTest, StaleUnixSocketIsReplacedLiveOneIsNot) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/api.sock";
  {  // a socket file nobody listens on, as a crashed daemon leaves it
    const UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  }
  HttpServer first(Echo);
  ASSERT_TRUE(first.ListenUnix(path).ok());

  HttpServer second(Echo);
  Status s = second.ListenUnix(path);
  EXPECT_EQ(s.code(), Code::kBusy) << s.ToString();
  EXPECT_EQ(s.message(), path + " is in use");
  second.Stop();
  EXPECT_EQ(Client::Unix(path)->Do("GET", "/").status, 200) << "the live socket stays";

  const std::string file = dir.path() + "/not-a-socket";
  std::ofstream(file) << "data";
  HttpServer third(Echo);
  EXPECT_EQ(third.ListenUnix(file).code(), Code::kExists);
  std::ifstream in(file);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "data");
}

TEST(HttpServerTest, QueryAndHeadersAreDecoded) {
  HttpServer server(Echo);
  ASSERT_TRUE(server.ListenTcp(kLocalAnyPort).ok());
  Client::Reply r = Client::Tcp(server.port())
                        ->Do("GET", "/q?name=a%20b&plus=c+d&flag&enc=%2F%3D%26%2B&dup=1&dup=2", "",
                             "X-Test: hello\r\nX-Multi: a\r\nx-multi: b\r\n");
  ASSERT_EQ(r.status, 200);
  json j = json::parse(r.body);
  EXPECT_EQ(j["path"], "/q");
  EXPECT_EQ(j["query"],
            (json{{"name", "a b"}, {"plus", "c d"}, {"flag", ""}, {"enc", "/=&+"}, {"dup", "1"}}));
  EXPECT_EQ(j["x_test"], "hello");
  EXPECT_EQ(j["headers"]["x-test"], "hello");
  EXPECT_EQ(j["headers"]["x-multi"], "a, b");
  EXPECT_EQ(j["headers"]["host"], "test");
}

TEST(HttpServerTest, PathIsPercentDecodedButNulStaysEscaped) {
  HttpServer server(Echo);
  ASSERT_TRUE(server.ListenTcp(kLocalAnyPort).ok());
  auto c = Client::Tcp(server.port());
  Client::Reply r = c->Do("GET", "/v1/branches/team%2Ffeature%20x+y?q=%00");
  ASSERT_EQ(r.status, 200);
  json j = json::parse(r.body);
  EXPECT_EQ(j["path"], "/v1/branches/team/feature x+y");
  EXPECT_EQ(j["query"]["q"], "%00");
  r = c->Do("GET", "/a%00b%zz");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["path"], "/a%00b%zz");
}

TEST(HttpServerTest, ResponseHeadersAndContentType) {
  HttpServer server([](const HttpRequest&) {
    HttpResponse r;
    r.status = 401;
    r.content_type = "text/plain; version=0.0.4";
    r.body = "no";
    r.headers = {{"WWW-Authenticate", "Bearer realm=\"strata\""}, {"X-Bad", "a\r\nb"}};
    return r;
  });
  ASSERT_TRUE(server.ListenTcp(kLocalAnyPort).ok());
  Client::Reply r = Client::Tcp(server.port())->Do("GET", "/");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.body, "no");
  EXPECT_EQ(r.headers["content-type"], "text/plain; version=0.0.4");
  EXPECT_EQ(r.headers["www-authenticate"], "Bearer realm=\"strata\"");
  EXPECT_EQ(r.headers.count("x-bad"), 0u) << "a header with CR/LF is dropped";
}

TEST(HttpServerTest, LargeBodyGets413WithoutTheHandler) {
  std::atomic<int> calls{0};
  HttpServerOptions opts;
  opts.max_body_bytes = 16;
  HttpServer server(
      [&calls](const HttpRequest& r) {
        calls++;
        return Echo(r);
      },
      opts);
  ASSERT_TRUE(server.ListenTcp(kLocalAnyPort).ok());
  const json want413 = {{"code", "invalid"}, {"error", "request body is over 16 bytes"}};

  // Content-Length over the limit: answered before the body is sent.
  auto c = Client::Tcp(server.port());
  c->Send("POST /v1/x HTTP/1.1\r\nHost: test\r\nContent-Length: 17\r\n\r\n");
  Client::Reply r = c->Read();
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(json::parse(r.body), want413);
  EXPECT_EQ(calls.load(), 0);

  // Exactly the limit is fine.
  r = Client::Tcp(server.port())->Do("POST", "/v1/x", std::string(16, 'a'));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(calls.load(), 1);

  // A chunked body that goes over: 413 once it ends.
  const std::string chunked =
      "POST /v1/x HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n";
  c = Client::Tcp(server.port());
  c->Send(chunked + "10\r\n" + std::string(16, 'a') + "\r\n4\r\nabcd\r\n0\r\n\r\n");
  r = c->Read();
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(json::parse(r.body), want413);
  EXPECT_EQ(calls.load(), 1);

  // One that goes on past twice the limit: cut off.
  c = Client::Tcp(server.port());
  c->Send(chunked + "10\r\n" + std::string(16, 'a') + "\r\n20\r\n" + std::string(32, 'b') +
          "\r\n0\r\n\r\n");
  EXPECT_EQ(c->Read().status, 0);
  EXPECT_EQ(calls.load(), 1);

  EXPECT_EQ(Client::Tcp(server.port())->Do("GET", "/").status, 200);
}

TEST(HttpServerTest, HandlerExceptionGives500) {
  HttpServer server([](const HttpRequest& r) -> HttpResponse {
    if (r.path == "/throw") throw std::runtime_error("boom");
    if (r.path == "/int") throw 42;
    HttpResponse bad;
    bad.status = 42;
    return bad;
  });
  ASSERT_TRUE(server.ListenTcp(kLocalAnyPort).ok());
  auto c = Client::Tcp(server.port());
  Client::Reply r = c->Do("GET", "/throw");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.headers["content-type"], "application/json");
  EXPECT_EQ(json::parse(r.body), (json{{"code", "io"}, {"error", "internal error: boom"}}));
  r = c->Do("GET", "/int");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(json::parse(r.body)["error"], "internal error: unknown exception");
  r = c->Do("GET", "/bad-status");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(json::parse(r.body)["error"], "internal error: handler answered status 42");
}

TEST(HttpServerTest, MalformedRequestThenServesTheNext) {
  std::atomic<int> calls{0};
  HttpServer server([&calls](const HttpRequest& r) {
    calls++;
    return Echo(r);
  });
  ASSERT_TRUE(server.ListenTcp(kLocalAnyPort).ok());
  for (const char* garbage :
       {"GARBAGE\r\n\r\n", "GET\r\n\r\n", "GET / HTTP/9.9\r\n\r\n", "\x01\x02\x03\r\n\r\n"}) {
    auto c = Client::Tcp(server.port());
    c->Send(garbage);
    const int status = c->Read().status;
    EXPECT_TRUE(status == 0 || (status >= 400 && status < 600)) << garbage << " got " << status;
  }
  EXPECT_EQ(calls.load(), 0);
  EXPECT_EQ(Client::Tcp(server.port())->Do("GET", "/").status, 200);
}

TEST(HttpServerTest, PortInUseIsBusy) {
  HttpServer first(Echo);
  ASSERT_TRUE(first.ListenTcp(kLocalAnyPort).ok());
  HttpServer second(Echo);
  const HostPort taken{"127.0.0.1", first.port()};
  Status s = second.ListenTcp(taken);
  EXPECT_EQ(s.code(), Code::kBusy) << s.ToString();
  EXPECT_EQ(s.message(), FormatHostPort(taken) + " is in use");
  EXPECT_EQ(second.port(), 0);
}

TEST(HttpServerTest, ListenAtMostOnceAndNotAfterStop) {
  testing::TempDir dir;
  HttpServer server(Echo);
  ASSERT_TRUE(server.ListenTcp(kLocalAnyPort).ok());
  EXPECT_EQ(server.ListenTcp(kLocalAnyPort).code(), Code::kInvalid);
  ASSERT_TRUE(server.ListenUnix(dir.path() + "/a.sock").ok());
  EXPECT_EQ(server.ListenUnix(dir.path() + "/b.sock").code(), Code::kInvalid);
  server.Stop();
  server.Stop();
  HttpServer stopped(Echo);
  stopped.Stop();
  EXPECT_EQ(stopped.ListenTcp(kLocalAnyPort).code(), Code::kInvalid);
  EXPECT_EQ(stopped.ListenUnix(dir.path() + "/c.sock").code(), Code::kInvalid);
  EXPECT_EQ(HttpServer(Echo).ListenUnix(std::string(200, 'x')).code(), Code::kInvalid);
}

TEST(HttpServerTest, KeepAliveServesTwoRequestsOnOneConnection) {
  std::atomic<int> calls{0};
  HttpServer server([&calls](const HttpRequest& r) {
    calls++;
    return Echo(r);
  });
  ASSERT_TRUE(server.ListenTcp(kLocalAnyPort).ok());
  auto c = Client::Tcp(server.port());
  Client::Reply r1 = c->Do("POST", "/one", "1");
  ASSERT_EQ(r1.status, 200);
  EXPECT_NE(AsciiLower(r1.headers["connection"]), "close");
  Client::Reply r2 = c->Do("GET", "/two");
  ASSERT_EQ(r2.status, 200);
  EXPECT_EQ(json::parse(r1.body)["path"], "/one");
  EXPECT_EQ(json::parse(r2.body)["path"], "/two");
  EXPECT_EQ(calls.load(), 2);
}

TEST(HttpServerTest, StopWaitsForTheRequestInFlight) {
  std::promise<void> started, release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> done{false};
  HttpServer server([&](const HttpRequest& r) {
    if (r.path == "/slow") {
      started.set_value();
      released.wait();  // until Stop() has begun
      done = true;
    }
    return Echo(r);
  });
  ASSERT_TRUE(server.ListenTcp(kLocalAnyPort).ok());
  const uint16_t port = server.port();
  auto idle = Client::Tcp(port);  // an idle keep-alive connection must not hold Stop() up
  Client::Reply reply;
  std::thread client([&] { reply = Client::Tcp(port)->Do("GET", "/slow"); });
  started.get_future().wait();
  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    server.Stop();
    stopped = true;
  });
  // Stop() has begun once a request gets its 503 (bounded: a Stop() that
  // never begins fails here).
  int probe = 0;
  for (const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
       probe != 503 && std::chrono::steady_clock::now() < until;) {
    probe = idle->Do("GET", "/probe").status;
  }
  EXPECT_EQ(probe, 503);
  EXPECT_FALSE(stopped.load()) << "Stop() returned with a request in flight";
  release.set_value();
  stopper.join();
  EXPECT_TRUE(done.load());
  client.join();
  EXPECT_EQ(reply.status, 200) << "the answer in flight is still delivered";
  EXPECT_EQ(idle->Read().status, 0) << "idle connections are closed";
  EXPECT_FALSE(ConnectTcp(HostPort{"127.0.0.1", port}, 2000).ok()) << "no longer listening";
  server.Stop();
}

TEST(HttpServerTest, ClientHangingUpDoesNotKillTheProcess) {
  std::promise<void> hung_up;
  std::shared_future<void> hung_up_f = hung_up.get_future().share();
  HttpServer server([hung_up_f](const HttpRequest& r) {
    if (r.path == "/big") hung_up_f.wait();
    HttpResponse resp;
    resp.body = std::string(r.path == "/big" ? 8 << 20 : 2, 'x');
    return resp;
  });
  ASSERT_TRUE(server.ListenTcp(kLocalAnyPort).ok());
  auto c = Client::Tcp(server.port());
  c->Send("GET /big HTTP/1.1\r\nHost: test\r\n\r\n");
  c->Close();
  hung_up.set_value();  // the answer goes to a closed socket: EPIPE, never SIGPIPE
  EXPECT_EQ(Client::Tcp(server.port())->Do("GET", "/small").status, 200);
}

}  // namespace
}  // namespace strata
