#include "pgwire/proxy.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/audit_log.h"
#include "common/coding.h"
#include "common/crypto.h"
#include "common/fd_util.h"
#include "common/mutex.h"
#include "common/temp_dir.h"
#include "common/tls.h"
#include "pgwire/pg_wire.h"
#include "pgwire/proxy_test_util.h"

namespace strata {
namespace {

using namespace std::string_literals;
using pgwire::SteadyClock;
using proxytest::Big32;
using proxytest::FakeBackend;
using proxytest::FakeDelegate;
using proxytest::kSafety;
using proxytest::PgConn;
using proxytest::Query;
using proxytest::RawClient;

class ProxyTest : public ::testing::Test {
 protected:
  void SetUp() override { StartProxy(ProxyOptions{}); }

  void StartProxy(ProxyOptions opts) {
    proxy_.reset();
    opts.listen = {"127.0.0.1", 0};
    proxy_ = std::make_unique<Proxy>(opts, &delegate_);
    ASSERT_TRUE(proxy_->Start().ok());
    delegate_.AddCredential("alice", "s3cret", "app_role");
  }

  PgConn Connect(const std::string& user, const std::string& password, const std::string& dbname,
                 const std::string& extra = "") {
    const std::string conninfo = "host=127.0.0.1 port=" + std::to_string(proxy_->port()) +
                                 " user=" + user + " password=" + password + " dbname=" + dbname +
                                 " sslmode=prefer connect_timeout=30 " + extra;
    return PgConn(PQconnectdb(conninfo.c_str()), &PQfinish);
  }

  // The FATAL a raw client gets when logging in as alice with Open failing as `st`.
  std::map<char, std::string> OpenFailure(Status st) {
    delegate_.FailOpen(std::move(st));
    RawClient c(proxy_->port());
    Result<pgwire::Message> m = c.Login("alice", "s3cret", "main");
    EXPECT_TRUE(m.ok() && m->type == 'R') << "SASLFinal first";
    std::map<char, std::string> f = c.ReadError();
    EXPECT_TRUE(c.ClosedByPeer());
    return f;
  }

  FakeBackend backend_;
  FakeDelegate delegate_{backend_.path()};
  std::unique_ptr<Proxy> proxy_;
};

TEST_F(ProxyTest, RelaysAnAuthenticatedSession) {
  PgConn conn = Connect("alice", "s3cret", "main", "application_name=proxytest options='-c x=1'");
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  EXPECT_STREQ(PQparameterStatus(conn.get(), "server_version"), "15.0");
  EXPECT_EQ(PQbackendPID(conn.get()), static_cast<int>(FakeBackend::kPid));
  for (const char* q : {"select 42", "select 'strata'"}) {
    PGresult* r = PQexec(conn.get(), q);
    ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQresultErrorMessage(r);
    ASSERT_EQ(PQntuples(r), 1);
    EXPECT_STREQ(PQgetvalue(r, 0, 0), q);
    PQclear(r);
  }
  ASSERT_EQ(backend_.startups().size(), 1u);
  const pgwire::Params seen = backend_.startups()[0];
  ASSERT_GE(seen.size(), 4u);
  EXPECT_EQ(seen[0], std::make_pair("user"s, "app_role"s));
  EXPECT_EQ(seen[1], std::make_pair("database"s, "postgres"s));
  const auto has = [&](const std::string& k, const std::string& v) {
    return std::find(seen.begin(), seen.end(), std::make_pair(k, v)) != seen.end();
  };
  EXPECT_TRUE(has("application_name", "proxytest"));
  EXPECT_TRUE(has("options", "-c x=1"));
  EXPECT_EQ(delegate_.branches(), std::vector<std::string>{"main"});
  EXPECT_EQ(proxy_->Stats().sessions, 1u);
  conn.reset();
  EXPECT_EQ(delegate_.WaitReleases(1), 1);
  EXPECT_EQ(delegate_.opens(), 1);
}

TEST_F(ProxyTest, BranchDotDatabaseRoutes) {
  PgConn conn = Connect("alice", "s3cret", "feature-x_2.appdb");
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  EXPECT_EQ(delegate_.branches(), std::vector<std::string>{"feature-x_2"});
  ASSERT_EQ(backend_.startups().size(), 1u);
  EXPECT_EQ(backend_.startups()[0][1], std::make_pair("database"s, "appdb"s));
}

TEST_F(ProxyTest, LargeMessagesCrossTheRelay) {
  PgConn conn = Connect("alice", "s3cret", "main");
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  // 3 MiB each way: many relay buffers, and partial writes on both sockets.
  std::string query = "select '";
  for (size_t i = 0; query.size() < (3 << 20); i++)
    query.push_back(static_cast<char>('a' + i % 26));
  query += "'";
  PGresult* r = PQexec(conn.get(), query.c_str());
  ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQresultErrorMessage(r);
  EXPECT_EQ(PQgetlength(r, 0, 0), static_cast<int>(query.size()));
  EXPECT_TRUE(query == PQgetvalue(r, 0, 0));
  PQclear(r);
}

TEST_F(ProxyTest, ConcurrentSessions) {
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; i++) {
    clients.emplace_back([&, i] {
      PgConn conn = Connect("alice", "s3cret", "main");
      if (PQstatus(conn.get()) != CONNECTION_OK) return;
      const std::string q = "select " + std::to_string(i);
      PGresult* r = PQexec(conn.get(), q.c_str());
      if (PQresultStatus(r) == PGRES_TUPLES_OK && q == PQgetvalue(r, 0, 0)) ok++;
      PQclear(r);
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok, 8);
  EXPECT_EQ(delegate_.WaitReleases(8), 8);
}

TEST_F(ProxyTest, WrongPasswordAndUnknownUserFailAlike) {
  PgConn wrong = Connect("alice", "guess", "main");
  EXPECT_EQ(PQstatus(wrong.get()), CONNECTION_BAD);
  EXPECT_NE(std::string(PQerrorMessage(wrong.get()))
                .find("password authentication failed for user \"alice\""),
            std::string::npos)
      << PQerrorMessage(wrong.get());
  PgConn unknown = Connect("mallory", "s3cret", "main");
  EXPECT_EQ(PQstatus(unknown.get()), CONNECTION_BAD);
  EXPECT_NE(std::string(PQerrorMessage(unknown.get()))
                .find("password authentication failed for user \"mallory\""),
            std::string::npos)
      << PQerrorMessage(unknown.get());

  RawClient raw(proxy_->port());
  Result<pgwire::Message> m = raw.Login("nobody", "x", "main");
  ASSERT_TRUE(m.ok() && m->type == 'E');
  EXPECT_EQ(pgwire::ParseErrorFields(m->body)['C'], "28P01");
  EXPECT_EQ(pgwire::ParseErrorFields(m->body)['S'], "FATAL");
  EXPECT_EQ(delegate_.opens(), 0);
  EXPECT_EQ(proxy_->Stats().auth_failures, 3u);
}

// After `burst` failed authentications from one address, that address is
// refused before any password exchange, even with the right password; every
// session start that named a user leaves one audit line.
TEST_F(ProxyTest, FailedAuthenticationsAreLimitedPerAddressAndAudited) {
  testing::TempDir dir;
  const std::string audit_path = dir.path() + "/audit.log";
  auto audit = AuditLog::Open(audit_path);
  ASSERT_TRUE(audit.ok()) << audit.status().ToString();
  ProxyOptions opts;
  opts.auth_limits.burst = 2;
  opts.auth_limits.refill = std::chrono::hours(1);
  opts.audit = audit->get();
  StartProxy(opts);
  {
    PgConn ok = Connect("alice", "s3cret", "main");
    ASSERT_EQ(PQstatus(ok.get()), CONNECTION_OK) << PQerrorMessage(ok.get());
  }
  for (const char* user : {"alice", "mallory"}) {
    PgConn bad = Connect(user, "guess", "main");
    EXPECT_NE(std::string(PQerrorMessage(bad.get())).find("password authentication failed"),
              std::string::npos)
        << PQerrorMessage(bad.get());
  }
  PgConn throttled = Connect("alice", "s3cret", "main");
  EXPECT_EQ(PQstatus(throttled.get()), CONNECTION_BAD);
  EXPECT_NE(std::string(PQerrorMessage(throttled.get()))
                .find("too many failed authentications from 127.0.0.1; try again in 3600 s"),
            std::string::npos)
      << PQerrorMessage(throttled.get());
  const ProxyStats st = proxy_->Stats();
  EXPECT_EQ(st.auth_failures, 2u);
  EXPECT_EQ(st.auth_throttled, 1u);
  EXPECT_EQ(delegate_.opens(), 1);

  // The "ok" line is written once the session is relayed, maybe after the client saw it.
  for (int i = 0; i < 1000 && (*audit)->lines() < 4; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::ifstream in(audit_path);
  std::multiset<std::string> results;
  for (std::string line; std::getline(in, line);) {
    EXPECT_NE(line.find(R"("source":"proxy","peer":"127.0.0.1:)"), std::string::npos) << line;
    EXPECT_NE(line.find(R"("action":"authenticate","branch":"main")"), std::string::npos) << line;
    auto field = [&line](const std::string& name) {
      const size_t from = line.find("\"" + name + "\":\"") + name.size() + 4;
      return line.substr(from, line.find('"', from) - from);
    };
    results.insert(field("actor") + " " + field("result").substr(0, 5));
  }
  EXPECT_EQ(results, (std::multiset<std::string>{"alice ok", "alice 28P01", "mallory 28P01",
                                                 "alice 28000"}));
}

TEST_F(ProxyTest, UnknownUsersGetAStableSalt) {
  const auto salt_of = [&](const std::string& user) {
    RawClient c(proxy_->port());
    c.Startup({{"user", user}, {"database", "main"}});
    EXPECT_EQ(c.Read()->type, 'R');
    c.Send(pgwire::EncodeMessage('p', "SCRAM-SHA-256\0"s + Big32(10) + "n,,n=,r=ab"));
    const std::string first = c.Read()->body;
    return first.substr(first.find(",s="));
  };
  EXPECT_EQ(salt_of("ghost"), salt_of("ghost"));
  EXPECT_NE(salt_of("ghost"), salt_of("phantom"));
}

TEST_F(ProxyTest, OpenErrorsBecomeFatals) {
  struct Case {
    Status st;
    const char* sqlstate;
  };
  for (const Case& c : {Case{Status::NotFound("branch \"main\" does not exist"), "3D000"},
                        Case{Status::Permission("credential is not for branch main"), "28000"},
                        Case{Status::Busy("branch main is being restored"), "57P03"},
                        Case{Status::Quota("owner is over the server quota"), "53400"},
                        Case{Status::Unavailable("the store is unreachable"), "57P03"}}) {
    std::map<char, std::string> f = OpenFailure(c.st);
    EXPECT_EQ(f['S'], "FATAL");
    EXPECT_EQ(f['C'], c.sqlstate) << c.st.ToString();
    EXPECT_EQ(f['M'], c.st.message());
  }
  delegate_.FailOpen(Status::NotFound("branch \"main\" does not exist"));
  PgConn conn = Connect("alice", "s3cret", "main");
  EXPECT_NE(std::string(PQerrorMessage(conn.get())).find("branch \"main\" does not exist"),
            std::string::npos)
      << PQerrorMessage(conn.get());
  EXPECT_EQ(proxy_->Stats().refused, 6u);
}

TEST_F(ProxyTest, CredentialStoreFailureIsNotAnAuthFailure) {
  RawClient c(proxy_->port());
  c.Startup({{"user", "broken"}, {"database", "main"}});
  std::map<char, std::string> f = c.ReadError();
  EXPECT_EQ(f['C'], "57P03");
  EXPECT_EQ(f['M'].find("index"), std::string::npos) << "the cause stays in the log";
  EXPECT_EQ(proxy_->Stats().auth_failures, 0u);
  EXPECT_EQ(delegate_.opens(), 0);
}

TEST_F(ProxyTest, RoutingErrors) {
  for (const std::string& dbname :
       {".db"s, "bad/name"s, std::string(64, 'b'), "main."s, "-main"s, "-main.db"s}) {
    RawClient c(proxy_->port());
    c.Startup({{"user", "alice"}, {"database", dbname}});
    std::map<char, std::string> f = c.ReadError();
    EXPECT_EQ(f['C'], "3D000") << dbname;
  }
  RawClient dash(proxy_->port());
  dash.Startup({{"user", "alice"}, {"database", "-main"}});
  EXPECT_EQ(dash.ReadError()['M'],
            "invalid branch name \"-main\": a branch name is 1-63 characters of A-Z a-z 0-9 _ -, "
            "not starting with -");
  RawClient none(proxy_->port());
  none.Startup({{"user", "alice"}});
  std::map<char, std::string> f = none.ReadError();
  EXPECT_EQ(f['C'], "3D000");
  EXPECT_EQ(f['M'], "no branch given: connect with dbname=BRANCH or BRANCH.DATABASE");
  RawClient repl(proxy_->port());
  repl.Startup({{"user", "alice"}, {"database", "main"}, {"replication", "database"}});
  EXPECT_EQ(repl.ReadError()['C'], "0A000");
  EXPECT_EQ(delegate_.opens(), 0);
}

TEST_F(ProxyTest, NegotiationRequestsAreAnsweredN) {
  RawClient c(proxy_->port());
  c.Send(Big32(8) + Big32(pgwire::kGssEncRequestCode));
  EXPECT_EQ(c.ReadByte(), 'N');
  c.Send(Big32(8) + Big32(pgwire::kSslRequestCode));
  EXPECT_EQ(c.ReadByte(), 'N');
  c.Send(Big32(8) + Big32(pgwire::kSslRequestCode));  // a second one is a violation
  EXPECT_EQ(c.ReadError()['C'], "08P01");
  EXPECT_TRUE(c.ClosedByPeer());

  RawClient garbage(proxy_->port());
  garbage.Send(Big32(8) + Big32(pgwire::kSslRequestCode));
  EXPECT_EQ(garbage.ReadByte(), 'N');
  garbage.Send(Big32(12) + "\xff\xfe\xfd\xfc" + "junk");
  EXPECT_EQ(garbage.ReadError()['C'], "0A000");  // protocol 65534.64956
  EXPECT_TRUE(garbage.ClosedByPeer());
}

// A proxy with a self-signed certificate for localhost and 127.0.0.1.
class TlsProxyTest : public ProxyTest {
 protected:
  void SetUp() override {}
  void StartTls(bool require) {
    cert_ = dir_.path() + "/proxy.crt";
    ASSERT_TRUE(
        EnsureSelfSignedCertificate(cert_, dir_.path() + "/proxy.key", {"localhost", "127.0.0.1"})
            .ok());
    ProxyOptions opts;
    Result<std::shared_ptr<const TlsContext>> tls =
        TlsContext::ForServer(cert_, dir_.path() + "/proxy.key");
    ASSERT_TRUE(tls.ok()) << tls.status().ToString();
    opts.tls = *tls;
    opts.require_tls = require;
    StartProxy(opts);
  }
  static void ExpectRefused(const PgConn& conn, const std::string& why) {
    EXPECT_NE(PQstatus(conn.get()), CONNECTION_OK);
    EXPECT_NE(std::string(PQerrorMessage(conn.get())).find(why), std::string::npos)
        << PQerrorMessage(conn.get());
  }

  testing::TempDir dir_;
  std::string cert_;
};

TEST_F(TlsProxyTest, EverySslmodeAndChannelBinding) {
  StartTls(false);
  const std::vector<std::string> modes = {"sslmode=require",
                                          "sslmode=verify-full sslrootcert=" + cert_,
                                          "sslmode=require channel_binding=require"};
  for (const std::string& extra : modes) {
    PgConn conn = Connect("alice", "s3cret", "main", extra);
    ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << extra << ": " << PQerrorMessage(conn.get());
    EXPECT_EQ(PQsslInUse(conn.get()), 1) << extra;
    EXPECT_EQ(Query(conn.get(), "select 1"), "select 1") << extra;
  }
  EXPECT_EQ(proxy_->Stats().tls_sessions, 3u);
  // sslmode=prefer (the default) gets TLS too; disable stays plaintext.
  PgConn prefer = Connect("alice", "s3cret", "main");
  ASSERT_EQ(PQstatus(prefer.get()), CONNECTION_OK) << PQerrorMessage(prefer.get());
  EXPECT_EQ(PQsslInUse(prefer.get()), 1);
  PgConn plain = Connect("alice", "s3cret", "main", "sslmode=disable");
  ASSERT_EQ(PQstatus(plain.get()), CONNECTION_OK) << PQerrorMessage(plain.get());
  EXPECT_EQ(PQsslInUse(plain.get()), 0);
  EXPECT_EQ(Query(plain.get(), "select 2"), "select 2");
  EXPECT_EQ(proxy_->Stats().tls_sessions, 4u);
}

TEST_F(TlsProxyTest, AWrongPasswordAndAnotherCertificateAreRefused) {
  StartTls(false);
  ExpectRefused(Connect("alice", "guess", "main", "sslmode=require channel_binding=require"),
                "password authentication failed");
  const std::string other = dir_.path() + "/other.crt";
  ASSERT_TRUE(EnsureSelfSignedCertificate(other, dir_.path() + "/other.key", {"localhost"}).ok());
  ExpectRefused(Connect("alice", "s3cret", "main", "sslmode=verify-full sslrootcert=" + other),
                "certificate verify failed");
  EXPECT_EQ(delegate_.opens(), 0);
}

TEST_F(TlsProxyTest, RequireTlsRefusesPlaintextSessions) {
  StartTls(true);
  ExpectRefused(Connect("alice", "s3cret", "main", "sslmode=disable"),
                "accepts TLS connections only");
  RawClient raw(proxy_->port());
  raw.Send(pgwire::EncodeStartup({{"user", "alice"}, {"database", "main"}}));
  std::map<char, std::string> f = raw.ReadError();
  EXPECT_EQ(f['S'], "FATAL");
  EXPECT_EQ(f['C'], "28000");
  EXPECT_EQ(delegate_.opens(), 0);
  PgConn tls = Connect("alice", "s3cret", "main", "sslmode=require");
  ASSERT_EQ(PQstatus(tls.get()), CONNECTION_OK) << PQerrorMessage(tls.get());
  EXPECT_EQ(Query(tls.get(), "select 3"), "select 3");
}

TEST_F(TlsProxyTest, LargeMessagesCrossTheTlsRelay) {
  StartTls(false);
  PgConn conn = Connect("alice", "s3cret", "main", "sslmode=require");
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  std::string query = "select '";
  for (size_t i = 0; query.size() < (3 << 20); i++) query.push_back(static_cast<char>('a' + i % 7));
  query += "'";
  EXPECT_TRUE(Query(conn.get(), query) == query);
}

TEST_F(ProxyTest, ChannelBindingNeedsTls) {
  PgConn conn = Connect("alice", "s3cret", "main", "channel_binding=require");
  EXPECT_NE(PQstatus(conn.get()), CONNECTION_OK);
  EXPECT_EQ(delegate_.opens(), 0);
}

TEST_F(ProxyTest, MalformedStartupPacketsAreRefusedAndTheProxySurvives) {
  for (uint32_t len : {0u, 4u, 7u, 1u << 30}) {
    RawClient c(proxy_->port());
    c.Send(Big32(len) + "abcd");
    std::map<char, std::string> f = c.ReadError();
    if (!f.empty()) {
      EXPECT_EQ(f['C'], "08P01");
      EXPECT_EQ(f['M'], "invalid startup packet length " + std::to_string(len));
    }
    EXPECT_TRUE(c.ClosedByPeer());
  }
  {
    RawClient v2(proxy_->port());
    v2.Send(Big32(17) + Big32(2 << 16) + "user\0bob\0\0"s);
    std::map<char, std::string> f = v2.ReadError();
    EXPECT_EQ(f['C'], "0A000");
    EXPECT_NE(f['M'].find("2.0"), std::string::npos) << f['M'];
  }
  {
    RawClient no_user(proxy_->port());
    no_user.Startup({{"database", "main"}});
    EXPECT_EQ(no_user.ReadError()['C'], "08P01");
  }
  {
    RawClient truncated(proxy_->port());
    truncated.Send(Big32(100) + "short");  // and closes mid-packet
  }
  EXPECT_GE(proxy_->Stats().protocol_errors, 6u);
  PgConn conn = Connect("alice", "s3cret", "main");
  EXPECT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
}

TEST_F(ProxyTest, AuthenticationProtocolViolations) {
  {
    RawClient c(proxy_->port());
    c.Startup({{"user", "alice"}, {"database", "main"}});
    EXPECT_EQ(c.Read()->type, 'R');
    c.Send(pgwire::EncodeMessage('Q', "select 1\0"s));
    std::map<char, std::string> f = c.ReadError();
    EXPECT_EQ(f['C'], "08P01");
    EXPECT_EQ(f['S'], "FATAL");
  }
  for (const std::string& body :
       {"SCRAM-SHA-256\0"s + Big32(5) + "n,,xy", "SCRAM-SHA-256-PLUS\0"s + Big32(0),
        "SCRAM-SHA-256\0"s + Big32(0xffffffff), "SCRAM-SHA-256\0"s + Big32(99) + "x",
        "SCRAM-SHA-256\0"s + Big32(17) + "p=tls-unique,,n=,"}) {
    RawClient c(proxy_->port());
    c.Startup({{"user", "alice"}, {"database", "main"}});
    EXPECT_EQ(c.Read()->type, 'R');
    c.Send(pgwire::EncodeMessage('p', body));
    EXPECT_EQ(c.ReadError()['C'], "08P01");
  }
  EXPECT_EQ(delegate_.opens(), 0);
}

TEST_F(ProxyTest, StartupTimeoutEndsTheConnection) {
  ProxyOptions opts;
  opts.startup_timeout_ms = 100;
  StartProxy(opts);
  RawClient c(proxy_->port());
  c.Send(Big32(100) + "half");
  std::map<char, std::string> f = c.ReadError();
  EXPECT_EQ(f['C'], "57014");
  EXPECT_TRUE(c.ClosedByPeer());
}

TEST_F(ProxyTest, TooManyConnections) {
  ProxyOptions opts;
  opts.max_connections = 1;
  StartProxy(opts);
  RawClient first(proxy_->port());
  for (auto until = SteadyClock::now() + kSafety;
       proxy_->Stats().active < 1 && SteadyClock::now() < until;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  // Sends nothing: the proxy answers at once, and closing a socket with
  // unread input would reset the connection under the answer.
  RawClient second(proxy_->port());
  std::map<char, std::string> f = second.ReadError();
  EXPECT_EQ(f['C'], "53300");
  EXPECT_EQ(f['S'], "FATAL");
  EXPECT_EQ(proxy_->Stats().refused, 1u);
}

TEST_F(ProxyTest, ServerAskingForAPasswordIsRefused) {
  backend_.set_mode(FakeBackend::Mode::kAskPassword);
  RawClient c(proxy_->port());
  ASSERT_EQ(c.Login("alice", "s3cret", "main")->type, 'R');
  std::map<char, std::string> f = c.ReadError();
  EXPECT_EQ(f['C'], "28000");
  EXPECT_NE(f['M'].find("asks for a password"), std::string::npos);
  EXPECT_EQ(delegate_.WaitReleases(1), 1);
}

TEST_F(ProxyTest, ServerErrorsArePassedThrough) {
  backend_.set_mode(FakeBackend::Mode::kRefuse);
  PgConn conn = Connect("alice", "s3cret", "main.nope");
  EXPECT_EQ(PQstatus(conn.get()), CONNECTION_BAD);
  EXPECT_NE(std::string(PQerrorMessage(conn.get())).find("database \"nope\" does not exist"),
            std::string::npos)
      << PQerrorMessage(conn.get());
  EXPECT_EQ(delegate_.WaitReleases(1), 1);
}

TEST_F(ProxyTest, UnreachableServerIsReleased) {
  delegate_.set_socket_path(backend_.path() + ".missing");
  RawClient c(proxy_->port());
  ASSERT_EQ(c.Login("alice", "s3cret", "main")->type, 'R');
  std::map<char, std::string> f = c.ReadError();
  EXPECT_EQ(f['C'], "57P03");
  EXPECT_NE(f['M'].find("cannot connect to the branch's server"), std::string::npos) << f['M'];
  EXPECT_EQ(delegate_.WaitReleases(1), 1);
  EXPECT_EQ(delegate_.opens(), 1);
}

TEST_F(ProxyTest, CancelRequestsReachTheSessionsServer) {
  PgConn conn = Connect("alice", "s3cret", "main");
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  {
    RawClient unknown(proxy_->port());
    unknown.Send(pgwire::EncodeCancel(FakeBackend::kPid, FakeBackend::kKey + 1));
    EXPECT_TRUE(unknown.ClosedByPeer());
  }
  PGcancel* cancel = PQgetCancel(conn.get());
  char err[256];
  EXPECT_EQ(PQcancel(cancel, err, sizeof(err)), 1) << err;
  PQfreeCancel(cancel);
  const auto got = backend_.WaitCancel(1);
  EXPECT_EQ(got.first, FakeBackend::kPid);
  EXPECT_EQ(got.second, FakeBackend::kKey);
  EXPECT_EQ(backend_.cancel_count(), 1u);  // the unknown key went nowhere
  EXPECT_EQ(proxy_->Stats().cancels, 1u);
  // Once the session ended, its key no longer reaches anything.
  conn.reset();
  delegate_.WaitReleases(1);
  RawClient late(proxy_->port());
  late.Send(pgwire::EncodeCancel(FakeBackend::kPid, FakeBackend::kKey));
  EXPECT_TRUE(late.ClosedByPeer());
  EXPECT_EQ(proxy_->Stats().cancels, 1u);
}

TEST_F(ProxyTest, StopEndsActiveSessions) {
  PgConn conn = Connect("alice", "s3cret", "main");
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  RawClient idle(proxy_->port());  // still in its startup
  proxy_->Stop();
  EXPECT_EQ(delegate_.WaitReleases(1), 1);
  EXPECT_EQ(proxy_->Stats().active, 0u);
  PGresult* r = PQexec(conn.get(), "select 1");
  EXPECT_NE(PQresultStatus(r), PGRES_TUPLES_OK);
  PQclear(r);
  EXPECT_TRUE(idle.ClosedByPeer());
  proxy_->Stop();  // idempotent
}

TEST_F(ProxyTest, BusyAddress) {
  ProxyOptions opts;
  opts.listen = {"127.0.0.1", proxy_->port()};
  Proxy second(opts, &delegate_);
  Status st = second.Start();
  EXPECT_EQ(st.code(), Code::kBusy);
  EXPECT_EQ(st.message(),
            "proxy address 127.0.0.1:" + std::to_string(proxy_->port()) + " is in use");
}

}  // namespace
}  // namespace strata
