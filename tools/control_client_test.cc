// Tests of the control API client: answer decoding, path encoding, finding
// the socket, and whole requests against a one-shot HTTP server on a unix
// socket.
#include "tools/control_client.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "common/fd_util.h"
#include "common/temp_dir.h"
#include "tools/mcp_command.h"

namespace strata::cli {
namespace {

TEST(DecodeResponseTest, SuccessIsTheBody) {
  auto r = DecodeResponse(200, R"({"name": "main", "seq": 7})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)["name"], "main");
  EXPECT_EQ((*r)["seq"], 7);
  auto created = DecodeResponse(201, "[1, 2]\n");
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(*created, nlohmann::json::array({1, 2}));
}

TEST(DecodeResponseTest, EmptySuccessIsNull) {
  auto r = DecodeResponse(200, "");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->is_null());
  EXPECT_TRUE(DecodeResponse(204, "\n")->is_null());
}

TEST(DecodeResponseTest, SuccessThatIsNotJson) {
  auto r = DecodeResponse(200, "<html>hello</html>\nmore");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kIO);
  EXPECT_EQ(r.status().message(),
            "malformed answer from the strata daemon (HTTP 200): not JSON: <html>hello</html>");
}

TEST(DecodeResponseTest, ErrorCarriesCodeAndMessage) {
  auto r = DecodeResponse(404, R"({"code": "not_found", "error": "no branch named 'x'"})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_EQ(r.status().message(), "no branch named 'x'");

  auto multi = DecodeResponse(
      503, R"({"code": "unavailable", "error": "postgres exited\nLOG:  shut down\n"})");
  EXPECT_EQ(multi.status().code(), Code::kUnavailable);
  EXPECT_EQ(multi.status().message(), "postgres exited; LOG:  shut down");

  auto q = DecodeResponse(403, R"({"code": "quota", "error": "owner a has 3 of 3 branches"})");
  EXPECT_EQ(q.status().code(), Code::kQuota);
  auto u = DecodeResponse(401, R"({"code": "unauthorized", "error": "missing token"})");
  EXPECT_EQ(u.status().code(), Code::kPermission);
  EXPECT_EQ(u.status().message(), "missing token");
}

TEST(DecodeResponseTest, ErrorWithAnUnknownOrMissingCodeIsIO) {
  auto r = DecodeResponse(418, R"({"code": "weird_new_code", "error": "teapot"})");
  EXPECT_EQ(r.status().code(), Code::kIO);
  EXPECT_EQ(r.status().message(), "teapot");
  auto n = DecodeResponse(500, R"({"error": "boom"})");
  EXPECT_EQ(n.status().code(), Code::kIO);
  EXPECT_EQ(n.status().message(), "boom");
}

TEST(DecodeResponseTest, ErrorBodyThatIsNotAJsonError) {
  auto r = DecodeResponse(502, "Bad Gateway\r\nsecond line");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kIO);
  EXPECT_EQ(r.status().message(), "the daemon answered HTTP 502: Bad Gateway");
  EXPECT_EQ(DecodeResponse(500, "").status().message(), "the daemon answered HTTP 500: (no body)");
  EXPECT_EQ(DecodeResponse(400, R"({"code": "invalid"})").status().message(),
            R"(the daemon answered HTTP 400: {"code": "invalid"})");
  EXPECT_EQ(DecodeResponse(400, "[1]").status().code(), Code::kIO);
  // A success status outside 2xx is not a success.
  EXPECT_FALSE(DecodeResponse(302, "{}").ok());
}

TEST(CodeFromWireTest, AllApiCodes) {
  EXPECT_EQ(CodeFromWire("not_found"), Code::kNotFound);
  EXPECT_EQ(CodeFromWire("exists"), Code::kExists);
  EXPECT_EQ(CodeFromWire("invalid"), Code::kInvalid);
  EXPECT_EQ(CodeFromWire("busy"), Code::kBusy);
  EXPECT_EQ(CodeFromWire("io"), Code::kIO);
  EXPECT_EQ(CodeFromWire("corruption"), Code::kCorruption);
  EXPECT_EQ(CodeFromWire("unavailable"), Code::kUnavailable);
  EXPECT_EQ(CodeFromWire("permission"), Code::kPermission);
  EXPECT_EQ(CodeFromWire("unauthorized"), Code::kPermission);
  EXPECT_EQ(CodeFromWire("not_empty"), Code::kNotEmpty);
  EXPECT_EQ(CodeFromWire("no_space"), Code::kNoSpace);
  EXPECT_EQ(CodeFromWire("quota"), Code::kQuota);
  EXPECT_EQ(CodeFromWire("not_supported"), Code::kNotSupported);
  EXPECT_EQ(CodeFromWire("something_new"), Code::kIO);
}

TEST(PathSegmentTest, EncodesAllButUnreserved) {
  EXPECT_EQ(PathSegment("agent-7_x.y~z"), "agent-7_x.y~z");
  EXPECT_EQ(PathSegment("a/b c"), "a%2Fb%20c");
  EXPECT_EQ(PathSegment("?#%"), "%3F%23%25");
  EXPECT_EQ(PathSegment("\xff"), "%FF");
  EXPECT_EQ(PathSegment(""), "");
}

TEST(ResolveMountArgTest, FlagThenEnvThenError) {
  unsetenv("STRATA_MOUNT");
  auto none = ResolveMountArg("");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().message(), "no mount given: pass --mount MOUNTPOINT or set STRATA_MOUNT");
  setenv("STRATA_MOUNT", "/mnt/env", 1);
  EXPECT_EQ(*ResolveMountArg(""), "/mnt/env");
  EXPECT_EQ(*ResolveMountArg("/mnt/flag"), "/mnt/flag");
  unsetenv("STRATA_MOUNT");
}

TEST(FindControlSocketTest, ReadsSymlinkAndReportsMissingDaemon) {
  testing::TempDir tmp;
  const std::string mount = tmp.path();
  auto missing = FindControlSocket(mount);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "no strata daemon serves " + mount);

  ASSERT_EQ(symlink("/var/cache/strata/x/control.sock", (mount + "/.strata.sock").c_str()), 0);
  EXPECT_EQ(*FindControlSocket(mount + "/"), "/var/cache/strata/x/control.sock");

  // Nothing listens there: the call says so in one sentence.
  auto r = ControlClient(mount).Call("GET", "/v1/status");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_EQ(r.status().message(), "no strata daemon serves " + mount);

  ASSERT_EQ(unlink((mount + "/.strata.sock").c_str()), 0);
  ASSERT_EQ(symlink("rel.sock", (mount + "/.strata.sock").c_str()), 0);
  EXPECT_EQ(*FindControlSocket(mount), mount + "/rel.sock");
  ASSERT_EQ(unlink((mount + "/.strata.sock").c_str()), 0);
}

// A unix socket in a temporary mount directory, linked from .strata.sock,
// that answers one request with a canned response and records the request.
class OneShotServer {
 public:
  explicit OneShotServer(std::string response) : response_(std::move(response)) {
    sock_path_ = dir_ + "/control.sock";
    fd_.reset(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, sock_path_.c_str(), sock_path_.size() + 1);
    EXPECT_EQ(bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(fd_.get(), 1), 0);
    EXPECT_EQ(symlink("control.sock", (dir_ + "/.strata.sock").c_str()), 0);
    thread_ = std::thread([this] { Serve(); });
  }
  ~OneShotServer() {
    shutdown(fd_.get(), SHUT_RDWR);
    thread_.join();
  }
  const std::string& mount() const { return dir_; }
  // Waits for the request to be served; the raw request.
  std::string Request() {
    thread_.join();
    thread_ = std::thread([] {});
    return request_;
  }

 private:
  void Serve() {
    const UniqueFd c(accept(fd_.get(), nullptr, nullptr));
    if (!c.valid()) return;
    char buf[4096];
    size_t want = std::string::npos;
    for (;;) {
      size_t end = request_.find("\r\n\r\n");
      if (end != std::string::npos && want == std::string::npos) {
        want = end + 4;
        size_t cl = request_.find("Content-Length: ");
        if (cl != std::string::npos && cl < end) want += std::stoul(request_.substr(cl + 16));
      }
      if (want != std::string::npos && request_.size() >= want) break;
      ssize_t n = read(c.get(), buf, sizeof(buf));
      if (n <= 0) break;
      request_.append(buf, static_cast<size_t>(n));
    }
    ssize_t unused = write(c.get(), response_.data(), response_.size());
    (void)unused;
  }

  std::string response_;
  testing::TempDir tmp_;
  const std::string dir_ = tmp_.path();
  std::string sock_path_;
  UniqueFd fd_;
  std::string request_;
  std::thread thread_;
};

std::string HttpAnswer(const char* status_line, const std::string& body) {
  return std::string("HTTP/1.1 ") + status_line +
         "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

TEST(ControlClientTest, SendsMethodPathAndJsonBody) {
  OneShotServer server(HttpAnswer("201 Created", R"({"name":"a","seq":1})"));
  auto r =
      ControlClient(server.mount())
          .Call("POST", "/v1/branches/" + PathSegment("x y") + "/credentials", {{"role", "app"}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)["name"], "a");
  std::string req = server.Request();
  EXPECT_EQ(req.rfind("POST /v1/branches/x%20y/credentials HTTP/1.1\r\n", 0), 0u) << req;
  EXPECT_NE(req.find("Content-Type: application/json\r\n"), std::string::npos) << req;
  EXPECT_EQ(req.substr(req.size() - 14), R"({"role":"app"})") << req;
}

TEST(ControlClientTest, GetWithoutBodyAndErrorAnswer) {
  OneShotServer server(
      HttpAnswer("409 Conflict", R"({"code":"busy","error":"branch 'main' is in use"})"));
  auto r = ControlClient(server.mount()).Call("DELETE", "/v1/branches/main");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kBusy);
  EXPECT_EQ(r.status().message(), "branch 'main' is in use");
  std::string req = server.Request();
  EXPECT_EQ(req.rfind("DELETE /v1/branches/main HTTP/1.1\r\n", 0), 0u) << req;
  EXPECT_EQ(req.find("Content-Type:"), std::string::npos) << req;
}

TEST(ControlClientTest, DaemonThatClosesWithoutAnswering) {
  OneShotServer server("");
  auto r = ControlClient(server.mount()).Call("GET", "/v1/status");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_EQ(r.status().message(), "the strata daemon serving " + server.mount() +
                                      " closed the connection without answering; see its log");
}

// strata mcp's backend (tools/mcp_command.h): segments and query encoded,
// the daemon found by its cache directory, an error kept as its one line.
TEST(ControlBackendTest, EncodesPathAndQueryAndKeepsTheErrorLine) {
  OneShotServer server(HttpAnswer("200 OK", R"({"relations":[]})"));
  mcp::Backend backend = ControlBackend(ControlClient::ForCacheDir(server.mount()));
  mcp::BackendReply r = backend({"GET",
                                 {"v1", "branches", "x y", "diff"},
                                 {{"against", "a&b"}, {"schema", "false"}},
                                 nullptr});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body["relations"], nlohmann::json::array());
  std::string req = server.Request();
  EXPECT_EQ(req.rfind("GET /v1/branches/x%20y/diff?against=a%26b&schema=false HTTP/1.1\r\n", 0), 0u)
      << req;

  OneShotServer missing(
      HttpAnswer("404 Not Found", R"({"code":"not_found","error":"no branch named 'x'"})"));
  r = ControlBackend(ControlClient(missing.mount()))({"GET", {"v1", "branches", "x"}, {}, nullptr});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["error"], "no branch named 'x'");
}

}  // namespace
}  // namespace strata::cli
