#include "common/tls.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "common/crypto.h"
#include "common/fd_util.h"
#include "common/status_test_util.h"
#include "common/temp_dir.h"

namespace strata {
namespace {

using std::chrono::milliseconds;

StreamDeadline In(milliseconds d) { return std::chrono::steady_clock::now() + d; }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// SHA-256 of a PEM certificate's DER, decoded here without OpenSSL's X509
// code, as colon-separated uppercase hex.
std::string PemFingerprint(const std::string& pem) {
  std::string b64;
  std::istringstream lines(pem);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("-----", 0) != 0) b64 += line;
  }
  Result<std::string> der = crypto::Base64Decode(b64);
  if (!der.ok()) return "bad base64";
  std::string hex = crypto::HexEncode(crypto::Sha256(*der)), out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    if (i) out += ':';
    out += static_cast<char>(toupper(hex[i]));
    out += static_cast<char>(toupper(hex[i + 1]));
  }
  return out;
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cert_ = dir_.path() + "/server.crt";
    key_ = dir_.path() + "/server.key";
    ASSERT_OK(EnsureSelfSignedCertificate(cert_, key_, {"localhost", "127.0.0.1"}));
    ASSERT_OK_AND_ASSIGN(server_, TlsContext::ForServer(cert_, key_));
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    server_fd_.reset(sv[0]);
    client_fd_.reset(sv[1]);
  }

  // Accepts on the server side in a thread while the client connects.
  void Handshake(const std::string& ca, const std::string& host, Status* client_st,
                 Status* server_st) {
    std::thread t([&] {
      auto s = TlsStream::Accept(server_, server_fd_.get(), In(milliseconds(5000)));
      *server_st = s.status();
      if (s.ok()) server_stream_ = std::move(*s);
    });
    Result<std::shared_ptr<const TlsContext>> client = TlsContext::ForClient(ca);
    *client_st = client.status();
    if (client.ok()) {
      auto c = TlsStream::Connect(*client, client_fd_.get(), host, In(milliseconds(5000)));
      *client_st = c.status();
      if (c.ok()) client_stream_ = std::move(*c);
    }
    if (!client_st->ok()) ::shutdown(client_fd_.get(), SHUT_RDWR);  // the server's read ends
    t.join();
  }

  void ExpectVerifyFailure(const std::string& ca, const std::string& host) {
    Status client_st, server_st;
    Handshake(ca, host, &client_st, &server_st);
    EXPECT_EQ(client_st.code(), Code::kInvalid);
    EXPECT_NE(client_st.message().find("certificate verify failed"), std::string::npos)
        << client_st.ToString();
    EXPECT_FALSE(server_st.ok());
  }

  testing::TempDir dir_;
  std::string cert_, key_;
  std::shared_ptr<const TlsContext> server_;
  UniqueFd server_fd_, client_fd_;
  std::unique_ptr<TlsStream> server_stream_, client_stream_;
};

TEST_F(TlsTest, SelfSignedCertificateIsMadeOnceWithAPrivateKeyFile) {
  struct stat st;
  ASSERT_EQ(::stat(key_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string pem = ReadFile(cert_);
  EXPECT_EQ(server_->fingerprint(), PemFingerprint(pem));
  EXPECT_EQ(server_->fingerprint().size(), 32u * 3 - 1);
  // ECDSA with SHA-256: the channel binding hash is the same SHA-256.
  EXPECT_EQ(crypto::HexEncode(server_->end_point_hash()).size(), 64u);
  std::string hash_hex;
  for (char c : crypto::HexEncode(server_->end_point_hash())) {
    hash_hex += static_cast<char>(toupper(c));
  }
  std::string fp = server_->fingerprint();
  fp.erase(std::remove(fp.begin(), fp.end(), ':'), fp.end());
  EXPECT_EQ(hash_hex, fp);
  // A second call keeps what is there.
  ASSERT_OK(EnsureSelfSignedCertificate(cert_, key_, {"other"}));
  EXPECT_EQ(ReadFile(cert_), pem);
}

TEST_F(TlsTest, HandshakeThenDataBothWaysThenACleanClose) {
  Status client_st, server_st;
  Handshake(cert_, "localhost", &client_st, &server_st);
  ASSERT_OK(client_st);
  ASSERT_OK(server_st);
  EXPECT_NE(client_stream_->Description().find("TLSv1.3"), std::string::npos)
      << client_stream_->Description();
  std::string big(1 << 20, '\0');
  for (size_t i = 0; i < big.size(); i++) big[i] = static_cast<char>(i * 7);
  std::thread writer([&] { EXPECT_OK(client_stream_->WriteAll(big, In(milliseconds(5000)))); });
  std::string got(big.size(), '\0');
  ASSERT_OK(
      ReadExactly(server_stream_.get(), got.data(), got.size(), In(milliseconds(5000)), "client"));
  writer.join();
  EXPECT_EQ(got, big);
  ASSERT_OK(server_stream_->WriteAll("pong", In(milliseconds(5000))));
  char buf[4];
  ASSERT_OK(ReadExactly(client_stream_.get(), buf, 4, In(milliseconds(5000)), "server"));
  EXPECT_EQ(std::string(buf, 4), "pong");
  client_stream_->Shutdown();  // close_notify
  ASSERT_OK_AND_ASSIGN(size_t n, server_stream_->ReadSome(buf, 4, In(milliseconds(5000))));
  EXPECT_EQ(n, 0u);
}

// Both ends read on one thread while another writes, through SharedStream:
// 4 MiB each way at once, in writes of odd sizes, arrive whole and in order.
TEST_F(TlsTest, SharedStreamReadsAndWritesFromTwoThreadsAtOnce) {
  Status client_st, server_st;
  Handshake(cert_, "localhost", &client_st, &server_st);
  ASSERT_OK(client_st);
  ASSERT_OK(server_st);
  SharedStream client(std::move(client_stream_)), server(std::move(server_stream_));
  auto pattern = [](char seed) {
    std::string s(4 << 20, '\0');
    for (size_t i = 0; i < s.size(); i++) s[i] = static_cast<char>(i * 13 + seed);
    return s;
  };
  const std::string up = pattern(1), down = pattern(2);
  auto send = [](SharedStream* s, const std::string& data) {
    for (size_t off = 0, step = 1; off < data.size(); off += step, step = step * 3 % 70001 + 1) {
      step = std::min(step, data.size() - off);
      ASSERT_OK(s->WriteAll(std::string_view(data).substr(off, step), In(milliseconds(20000))));
    }
  };
  std::string got_up(up.size(), '\0'), got_down(down.size(), '\0');
  std::thread t1([&] { send(&client, up); });
  std::thread t2([&] { send(&server, down); });
  std::thread t3([&] {
    EXPECT_OK(ReadExactly(&server, got_up.data(), got_up.size(), In(milliseconds(20000)), "c"));
  });
  EXPECT_OK(ReadExactly(&client, got_down.data(), got_down.size(), In(milliseconds(20000)), "s"));
  for (auto* t : {&t1, &t2, &t3}) t->join();
  EXPECT_TRUE(got_up == up);
  EXPECT_TRUE(got_down == down);
}

TEST_F(TlsTest, AnIpAddressInTheCertificateVerifies) {
  Status client_st, server_st;
  Handshake(cert_, "127.0.0.1", &client_st, &server_st);
  EXPECT_OK(client_st);
  EXPECT_OK(server_st);
}

// A pinned client takes a certificate no CA vouches for, and shows its
// fingerprint for the caller to compare; the server sees no client certificate.
TEST_F(TlsTest, APinnedClientTakesAnyCertificateAndSeesItsFingerprint) {
  const std::string other_cert = dir_.path() + "/other.crt", other_key = dir_.path() + "/other.key";
  ASSERT_OK(EnsureSelfSignedCertificate(other_cert, other_key, {"elsewhere"}));
  ASSERT_OK_AND_ASSIGN(auto other, TlsContext::ForServer(other_cert, other_key));
  ASSERT_NE(other->fingerprint(), server_->fingerprint());
  std::thread t([&] {
    auto s = TlsStream::Accept(other, server_fd_.get(), In(milliseconds(5000)));
    EXPECT_OK(s.status());
    if (s.ok()) server_stream_ = std::move(*s);
  });
  ASSERT_OK_AND_ASSIGN(auto pinned, TlsContext::ForPinnedClient());
  auto c = TlsStream::Connect(pinned, client_fd_.get(), "", In(milliseconds(5000)));
  if (!c.ok()) ::shutdown(client_fd_.get(), SHUT_RDWR);
  t.join();
  ASSERT_OK(c.status());
  EXPECT_EQ((*c)->PeerFingerprint(), other->fingerprint());
  ASSERT_NE(server_stream_, nullptr);
  EXPECT_EQ(server_stream_->PeerFingerprint(), "");
}

TEST_F(TlsTest, ClientRefusesAnotherHostName) { ExpectVerifyFailure(cert_, "db.example.com"); }

TEST_F(TlsTest, ClientRefusesACertificateItDoesNotTrust) {
  const std::string other_cert = dir_.path() + "/other.crt";
  ASSERT_OK(EnsureSelfSignedCertificate(other_cert, dir_.path() + "/other.key", {"localhost"}));
  ExpectVerifyFailure(other_cert, "localhost");
}

// A server that goes away during the handshake (restarting, say) is worth
// another try; a refusal (above) is not.
TEST_F(TlsTest, APeerThatClosesDuringTheHandshakeIsARetryableError) {
  ::shutdown(server_fd_.get(), SHUT_RDWR);
  ASSERT_OK_AND_ASSIGN(auto ctx, TlsContext::ForClient(cert_));
  auto c = TlsStream::Connect(ctx, client_fd_.get(), "localhost", In(milliseconds(5000)));
  EXPECT_EQ(c.status().code(), Code::kIO) << c.status().ToString();
  EXPECT_TRUE(c.status().retryable());
  EXPECT_NE(c.status().message().find("the peer closed the connection"), std::string::npos);
}

TEST_F(TlsTest, ServerRefusesAPlaintextClient) {
  const std::string http = "GET / HTTP/1.0\r\n\r\n";
  ASSERT_EQ(::write(client_fd_.get(), http.data(), http.size()), static_cast<ssize_t>(http.size()));
  auto s = TlsStream::Accept(server_, server_fd_.get(), In(milliseconds(5000)));
  EXPECT_EQ(s.status().code(), Code::kInvalid);
  EXPECT_NE(s.status().message().find("TLS handshake failed"), std::string::npos)
      << s.status().ToString();
}

TEST_F(TlsTest, HandshakeWithASilentClientTimesOut) {
  auto s = TlsStream::Accept(server_, server_fd_.get(), In(milliseconds(200)));
  EXPECT_EQ(s.status().code(), Code::kUnavailable);
  EXPECT_NE(s.status().message().find("timed out"), std::string::npos) << s.status().ToString();
}

TEST_F(TlsTest, UnusableFilesGiveOneClearError) {
  auto missing = TlsContext::ForServer(dir_.path() + "/none.crt", key_);
  EXPECT_EQ(missing.status().code(), Code::kInvalid);
  EXPECT_NE(missing.status().message().find("none.crt"), std::string::npos);
  const std::string other_cert = dir_.path() + "/other.crt";
  ASSERT_OK(EnsureSelfSignedCertificate(other_cert, dir_.path() + "/other.key", {"x"}));
  auto mismatch = TlsContext::ForServer(other_cert, key_);
  EXPECT_EQ(mismatch.status().code(), Code::kInvalid);
  EXPECT_NE(mismatch.status().message().find("does not match"), std::string::npos)
      << mismatch.status().ToString();
  auto bad_ca = TlsContext::ForClient(key_);  // a key, not a certificate
  EXPECT_EQ(bad_ca.status().code(), Code::kInvalid);
}

TEST(PlainStream, ReadExactlyTellsACloseBeforeAndInsideAMessageAndTimesOut) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  PlainStream reader(a.get()), writer(b.get());
  char buf[8];
  EXPECT_EQ(ReadExactly(&reader, buf, 8, In(milliseconds(100)), "peer").code(), Code::kUnavailable);
  ASSERT_OK(writer.WriteAll("abcd", In(milliseconds(1000))));
  ASSERT_OK(ReadExactly(&reader, buf, 4, In(milliseconds(1000)), "peer"));
  EXPECT_EQ(std::string(buf, 4), "abcd");
  ASSERT_OK(writer.WriteAll("xy", In(milliseconds(1000))));
  ::shutdown(b.get(), SHUT_WR);
  Status mid = ReadExactly(&reader, buf, 8, In(milliseconds(1000)), "peer");
  EXPECT_EQ(mid.code(), Code::kIO);
  EXPECT_NE(mid.message().find("after 2 of 8 bytes"), std::string::npos) << mid.ToString();
  EXPECT_EQ(ReadExactly(&reader, buf, 1, In(milliseconds(1000)), "peer").code(), Code::kNotFound);
}

}  // namespace
}  // namespace strata
