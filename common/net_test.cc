#include "common/net.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/mutex.h"

namespace strata {
namespace {

TEST(ParseHostPort, Good) {
  Result<HostPort> hp = ParseHostPort("127.0.0.1:5432");
  ASSERT_TRUE(hp.ok()) << hp.status().ToString();
  EXPECT_EQ(hp->host, "127.0.0.1");
  EXPECT_EQ(hp->port, 5432);

  hp = ParseHostPort("sink.example.com:65535");
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->host, "sink.example.com");
  EXPECT_EQ(hp->port, 65535);

  hp = ParseHostPort("[::1]:5");
  ASSERT_TRUE(hp.ok()) << hp.status().ToString();
  EXPECT_EQ(hp->host, "::1");
  EXPECT_EQ(hp->port, 5);
  EXPECT_EQ(FormatHostPort(*hp), "[::1]:5");

  hp = ParseHostPort("0.0.0.0:0", /*allow_zero_port=*/true);
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->port, 0);
  EXPECT_EQ(FormatHostPort(*hp), "0.0.0.0:0");
}

TEST(ParseHostPort, Bad) {
  for (const char* bad : {"localhost", "localhost:", ":80", "host:0", "host:65536",
                          "host:99999999999", "host:-1", "host:+1", "host:8x", "host: 80", "a:b:c",
                          "::1:80", "[::1]", "[::1]80", "[::1]:", "[]:80", "[::1:80", ""}) {
    const Result<HostPort> hp = ParseHostPort(bad);
    EXPECT_FALSE(hp.ok()) << "'" << bad << "' parsed as " << (hp.ok() ? FormatHostPort(*hp) : "");
    if (!hp.ok()) {
      EXPECT_EQ(hp.status().code(), Code::kInvalid);
      EXPECT_NE(hp.status().message().find(std::string("'") + bad + "'"), std::string::npos)
          << hp.status().message();
    }
  }
  // Port 0 only where the caller allows it.
  EXPECT_FALSE(ParseHostPort("127.0.0.1:0").ok());
  EXPECT_TRUE(ParseHostPort("127.0.0.1:0", true).ok());
  EXPECT_FALSE(ParseHostPort("127.0.0.1:65536", true).ok());
}

TEST(Socket, ListenConnectRoundTrip) {
  uint16_t port = 0;
  Result<int> listener = ListenTcp({"127.0.0.1", 0}, &port);
  ASSERT_TRUE(listener.ok()) << listener.status().ToString();
  ASSERT_NE(port, 0);

  // Larger than the socket buffers, so both sides loop over short transfers.
  std::string payload(8 << 20, '\0');
  for (size_t i = 0; i < payload.size(); i++) payload[i] = static_cast<char>(i * 131 + (i >> 9));

  std::string echoed(payload.size(), '\0');
  Status server_st;
  std::thread server([&] {
    const int fd = ::accept4(*listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      server_st = Status::IO("accept failed");
      return;
    }
    server_st = ReadFull(fd, echoed.data(), echoed.size(), "client");
    if (server_st.ok()) server_st = SendAll(fd, "done", "client");
    ::close(fd);
  });

  Result<int> conn = ConnectTcp({"127.0.0.1", port}, 5000);
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  ASSERT_TRUE(SendAll(*conn, payload, "server").ok());
  char reply[4];
  ASSERT_TRUE(ReadFull(*conn, reply, sizeof(reply), "server").ok());
  EXPECT_EQ(std::string(reply, 4), "done");
  // The server closed: the next read is a clean end, not an error.
  char more;
  EXPECT_EQ(ReadFull(*conn, &more, 1, "server").code(), Code::kNotFound);
  server.join();
  EXPECT_TRUE(server_st.ok()) << server_st.ToString();
  EXPECT_TRUE(echoed == payload);
  ::close(*conn);
  ::close(*listener);
}

TEST(Socket, CloseInsideAReadIsAnIOError) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  ASSERT_TRUE(SendAll(fds[1], "abc", "peer").ok());
  ::close(fds[1]);
  char buf[8];
  const Status st = ReadFull(fds[0], buf, sizeof(buf), "peer");
  EXPECT_EQ(st.code(), Code::kIO);
  EXPECT_NE(st.message().find("after 3 of 8 bytes"), std::string::npos) << st.message();
  ::close(fds[0]);
}

TEST(Socket, SendToAClosedPeerFailsWithoutSigpipe) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  ::close(fds[1]);
  // Without MSG_NOSIGNAL this would kill the test binary with SIGPIPE.
  EXPECT_FALSE(SendAll(fds[0], "data", "peer").ok());
  ::close(fds[0]);
}

TEST(Socket, ConnectToAClosedPortIsUnavailable) {
  // Bind a port, then close it: nothing listens there any more.
  uint16_t port = 0;
  Result<int> listener = ListenTcp({"127.0.0.1", 0}, &port);
  ASSERT_TRUE(listener.ok());
  ::close(*listener);
  const Result<int> conn = ConnectTcp({"127.0.0.1", port}, 2000);
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.status().code(), Code::kUnavailable);
  EXPECT_TRUE(conn.status().retryable());
  EXPECT_NE(conn.status().message().find("127.0.0.1:" + std::to_string(port)), std::string::npos)
      << conn.status().message();
}

TEST(Socket, ListenOnAPortInUseFails) {
  uint16_t port = 0;
  Result<int> first = ListenTcp({"127.0.0.1", 0}, &port);
  ASSERT_TRUE(first.ok());
  const Result<int> second = ListenTcp({"127.0.0.1", port}, nullptr);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("in use"), std::string::npos)
      << second.status().message();
  ::close(*first);
}

TEST(Acceptor, HandsEveryConnectionOverAndStopsCleanly) {
  uint16_t port = 0;
  Result<int> listener = ListenTcp({"127.0.0.1", 0}, &port);
  ASSERT_TRUE(listener.ok()) << listener.status().ToString();
  Mutex mu;
  std::vector<std::string> peers;  // the server side's view of each client
  std::atomic<int> reaps{0};
  Acceptor acceptor;
  acceptor.Start(
      "test", *listener, port, [&] { reaps++; },
      [&](int fd) {
        TuneSocket(fd, ServerConnectionTuning(1000));
        int nodelay = 0, keepalive = 0;
        socklen_t len = sizeof(int);
        getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &len);
        getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &keepalive, &len);
        MutexLock l(&mu);
        peers.push_back(PeerName(fd) + (nodelay && keepalive ? " tuned" : " untuned"));
        ::close(fd);
      });
  std::vector<std::string> clients;
  for (int i = 0; i < 3; i++) {
    Result<int> conn = ConnectTcp({"127.0.0.1", port}, 5000);
    ASSERT_TRUE(conn.ok()) << conn.status().ToString();
    sockaddr_in self{};
    socklen_t len = sizeof(self);
    getsockname(*conn, reinterpret_cast<sockaddr*>(&self), &len);
    clients.push_back("127.0.0.1:" + std::to_string(ntohs(self.sin_port)) + " tuned");
    char byte;
    // The server closes: a clean end once the connection was handed over.
    EXPECT_EQ(ReadFull(*conn, &byte, 1, "server").code(), Code::kNotFound);
    ::close(*conn);
  }
  acceptor.Stop();
  acceptor.Stop();  // idempotent
  EXPECT_EQ(peers, clients);
  EXPECT_GE(reaps.load(), 3);
  // The listener is closed: nothing connects any more.
  EXPECT_FALSE(ConnectTcp({"127.0.0.1", port}, 1000).ok());
}

TEST(ReapFinished, JoinsOnlyFinishedConnections) {
  struct Conn {
    std::atomic<bool> finished{false};
    std::thread thread;
  };
  Mutex mu;
  std::map<int, std::unique_ptr<Conn>> conns;
  for (int i = 0; i < 4; i++) {
    auto c = std::make_unique<Conn>();
    Conn* raw = c.get();
    raw->thread = std::thread([raw, i] { raw->finished = i % 2 == 0; });
    conns.emplace(i, std::move(c));
  }
  for (auto& [id, c] : conns) {
    while (id % 2 == 0 && !c->finished) std::this_thread::yield();
  }
  int joined = 0;
  ReapFinished(&mu, &conns, [&](Conn& c) {
    c.thread.join();
    joined++;
  });
  EXPECT_EQ(joined, 2);
  ASSERT_EQ(conns.size(), 2u);
  EXPECT_EQ(conns.begin()->first, 1);
  for (auto& [id, c] : conns) c->thread.join();
}

}  // namespace
}  // namespace strata
