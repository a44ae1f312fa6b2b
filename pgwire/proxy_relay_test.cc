// The relay between two daemons' proxies (docs/proxy.md, "Relay between
// daemons"): an entry proxy (node "b") whose delegate answers "relay to the
// holder", and the holder's proxy (node "a") whose delegate opens a fake
// postmaster, in one process.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/audit_log.h"
#include "common/crypto.h"
#include "common/status_test_util.h"
#include "common/temp_dir.h"
#include "common/tls.h"
#include "pgwire/pg_wire.h"
#include "pgwire/proxy.h"
#include "pgwire/proxy_test_util.h"

namespace strata {
namespace {

using namespace std::string_literals;
using proxytest::FakeBackend;
using proxytest::FakeDelegate;
using proxytest::PgConn;
using proxytest::Query;
using proxytest::RawClient;

const std::string kRelayKey = "relay key of the store, 32 bytes";

class RelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(kRelayKey.size(), 32u);
    entry_delegate_.AddCredential("alice", "s3cret", "app_role");
    holder_delegate_.AddCredential("alice", "s3cret", "app_role");
  }

  static ProxyOptions Options(const std::string& node) {
    ProxyOptions o;
    o.listen = {"127.0.0.1", 0};
    o.node_id = node;
    o.relay_key = kRelayKey;
    return o;
  }
  void StartHolder(ProxyOptions o) {
    holder_ = std::make_unique<Proxy>(o, &holder_delegate_);
    ASSERT_OK(holder_->Start());
  }
  // The entry relays to the holder (started first), which must answer as `node`.
  void StartEntry(ProxyOptions o, const std::string& fingerprint = "",
                  const std::string& node = "a") {
    entry_delegate_.set_relay(RelayTarget{{"127.0.0.1", holder_->port()}, node, fingerprint});
    entry_ = std::make_unique<Proxy>(o, &entry_delegate_);
    ASSERT_OK(entry_->Start());
  }
  void StartBoth() {
    StartHolder(Options("a"));
    StartEntry(Options("b"));
  }
  // A self-signed certificate's server context, and its fingerprint.
  std::shared_ptr<const TlsContext> Certificate(const std::string& name) {
    const std::string cert = dir_.path() + "/" + name + ".crt";
    const std::string key = dir_.path() + "/" + name + ".key";
    EXPECT_OK(EnsureSelfSignedCertificate(cert, key, {"localhost", "127.0.0.1"}));
    Result<std::shared_ptr<const TlsContext>> tls = TlsContext::ForServer(cert, key);
    EXPECT_OK(tls.status());
    return tls.ok() ? *tls : nullptr;
  }

  PgConn Connect(const std::string& extra = "") {
    const std::string conninfo = "host=127.0.0.1 port=" + std::to_string(entry_->port()) +
                                 " user=alice password=s3cret dbname=main connect_timeout=30 " +
                                 extra;
    return PgConn(PQconnectdb(conninfo.c_str()), &PQfinish);
  }
  // The FATAL a raw client of the entry gets after its password was accepted.
  std::map<char, std::string> RefusedAfterLogin() {
    RawClient c(entry_->port());
    Result<pgwire::Message> m = c.Login("alice", "s3cret", "main");
    EXPECT_TRUE(m.ok() && m->type == 'R') << "SASLFinal first";
    std::map<char, std::string> f = c.ReadError();
    EXPECT_TRUE(c.ClosedByPeer());
    return f;
  }

  testing::TempDir dir_;
  FakeBackend backend_;
  FakeDelegate entry_delegate_{""};
  FakeDelegate holder_delegate_{backend_.path()};
  std::unique_ptr<Proxy> holder_, entry_;
};

TEST_F(RelayTest, ASessionRelayedToTheHolderRunsBothWays) {
  StartBoth();
  PgConn conn = Connect("application_name=relaytest options='-c x=1'");
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  EXPECT_STREQ(PQparameterStatus(conn.get(), "server_version"), "15.0");
  EXPECT_EQ(PQbackendPID(conn.get()), static_cast<int>(FakeBackend::kPid));
  for (const char* q : {"select 42", "select 'strata'"}) EXPECT_EQ(Query(conn.get(), q), q);
  // 3 MiB each way: many relay buffers through two proxies.
  std::string big = "select '";
  for (size_t i = 0; big.size() < (3 << 20); i++) big.push_back(static_cast<char>('a' + i % 26));
  big += "'";
  EXPECT_TRUE(Query(conn.get(), big) == big);

  ASSERT_EQ(backend_.startups().size(), 1u);
  const pgwire::Params seen = backend_.startups()[0];
  const pgwire::Params expected{{"user", "app_role"},
                                {"database", "postgres"},
                                {"application_name", "relaytest"},
                                {"options", "-c x=1"}};
  for (const auto& p : expected) {
    EXPECT_NE(std::find(seen.begin(), seen.end(), p), seen.end()) << p.first;
  }
  EXPECT_EQ(seen[0], expected[0]);
  EXPECT_EQ(entry_delegate_.relayed(), std::vector<bool>{false});
  EXPECT_EQ(holder_delegate_.relayed(), std::vector<bool>{true});
  EXPECT_EQ(holder_delegate_.branches(), std::vector<std::string>{"main"});
  const ProxyStats entry = entry_->Stats(), holder = holder_->Stats();
  EXPECT_EQ(entry.sessions, 1u);
  EXPECT_EQ(entry.relayed_out, 1u);
  EXPECT_EQ(entry.relayed_in, 0u);
  EXPECT_EQ(holder.sessions, 1u);
  EXPECT_EQ(holder.relayed_in, 1u);
  EXPECT_EQ(holder.relayed_out, 0u);
  conn.reset();
  EXPECT_EQ(holder_delegate_.WaitReleases(1), 1);
  EXPECT_EQ(entry_delegate_.WaitReleases(1), 1);
}

TEST_F(RelayTest, BothProxiesAuditTheHolderNamingTheOrigin) {
  const std::string audit_a = dir_.path() + "/a.log", audit_b = dir_.path() + "/b.log";
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<AuditLog> log_a, AuditLog::Open(audit_a));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<AuditLog> log_b, AuditLog::Open(audit_b));
  ProxyOptions a = Options("a"), b = Options("b");
  a.audit = log_a.get();
  b.audit = log_b.get();
  StartHolder(a);
  StartEntry(b);
  PgConn conn = Connect();
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  // "ok" is written once the session is relayed, maybe after the client saw it.
  for (int i = 0; i < 2000 && (log_a->lines() < 1 || log_b->lines() < 1); i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const auto line_of = [](const std::string& path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
  };
  const std::string holder = line_of(audit_a), entry = line_of(audit_b);
  EXPECT_NE(holder.find(R"("actor":"alice")"), std::string::npos) << holder;
  EXPECT_NE(holder.find(R"("result":"ok","origin":"node b, client 127.0.0.1:)"), std::string::npos)
      << holder;
  EXPECT_NE(entry.find(R"("result":"ok"})"), std::string::npos) << entry;
}

TEST_F(RelayTest, OverTlsTheHoldersCertificateIsPinned) {
  ProxyOptions a = Options("a"), b = Options("b");
  a.tls = Certificate("holder");
  b.tls = Certificate("entry");
  ASSERT_NE(a.tls->fingerprint(), b.tls->fingerprint());
  StartHolder(a);
  StartEntry(b, a.tls->fingerprint());
  {
    // The client's SCRAM is bound to the entry's certificate, as without a relay.
    PgConn conn = Connect("sslmode=require channel_binding=require");
    ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
    EXPECT_EQ(Query(conn.get(), "select 7"), "select 7");
  }
  EXPECT_EQ(holder_->Stats().tls_sessions, 1u);
  EXPECT_EQ(holder_->Stats().relayed_in, 1u);

  entry_delegate_.set_relay(
      RelayTarget{{"127.0.0.1", holder_->port()}, "a", b.tls->fingerprint()});  // not the holder's
  std::map<char, std::string> f = RefusedAfterLogin();
  EXPECT_EQ(f['C'], "57P03");
  EXPECT_NE(f['M'].find("presented a certificate with SHA-256 fingerprint " + a.tls->fingerprint() +
                        ", not the expected " + b.tls->fingerprint()),
            std::string::npos)
      << f['M'];
  EXPECT_EQ(holder_->Stats().relayed_in, 1u);
  EXPECT_EQ(entry_->Stats().refused, 1u);
  EXPECT_EQ(holder_delegate_.opens(), 1);
  EXPECT_EQ(entry_delegate_.WaitReleases(2), 2);  // a relay answer is released too
}

TEST_F(RelayTest, AFingerprintForAHolderWithoutTlsIsRefused) {
  StartHolder(Options("a"));
  StartEntry(Options("b"), "AB:CD");
  std::map<char, std::string> f = RefusedAfterLogin();
  EXPECT_EQ(f['C'], "57P03");
  EXPECT_NE(f['M'].find("does not offer TLS"), std::string::npos) << f['M'];
  EXPECT_EQ(holder_delegate_.opens(), 0);
}

TEST_F(RelayTest, AWrongRelayKeyIsRefusedCountedAndLimited) {
  ProxyOptions a = Options("a"), b = Options("b");
  a.auth_limits.burst = 1;
  a.auth_limits.refill = std::chrono::hours(1);
  b.relay_key = std::string(32, 'x');
  StartHolder(a);
  StartEntry(b);
  std::map<char, std::string> f = RefusedAfterLogin();
  EXPECT_EQ(f['S'], "FATAL");
  EXPECT_EQ(f['C'], "28000");
  EXPECT_EQ(f['M'], "relay authentication failed for node b: not the store's relay key");
  EXPECT_EQ(holder_->Stats().auth_failures, 1u);
  EXPECT_EQ(entry_->Stats().refused, 1u);
  EXPECT_EQ(entry_->Stats().auth_failures, 0u);
  // The entry's address is over its limit at the holder now.
  f = RefusedAfterLogin();
  EXPECT_EQ(f['C'], "28000");
  EXPECT_NE(f['M'].find("too many failed authentications from 127.0.0.1"), std::string::npos)
      << f['M'];
  EXPECT_EQ(holder_->Stats().auth_throttled, 1u);
  EXPECT_EQ(holder_delegate_.opens(), 0);
}

TEST_F(RelayTest, AHolderWithoutARelayKeyRefusesRelays) {
  ProxyOptions a = Options("a");
  a.relay_key.clear();
  StartHolder(a);
  StartEntry(Options("b"));
  std::map<char, std::string> f = RefusedAfterLogin();
  EXPECT_EQ(f['C'], "28000");
  EXPECT_EQ(f['M'], "this proxy does not accept relayed sessions (it has no relay key)");
  EXPECT_EQ(holder_delegate_.opens(), 0);
  EXPECT_EQ(holder_->Stats().refused, 1u);
}

TEST_F(RelayTest, AnEntryWithoutARelayKeyRefusesARelayAnswer) {
  ProxyOptions b = Options("b");
  b.relay_key.clear();
  StartHolder(Options("a"));
  StartEntry(b);
  std::map<char, std::string> f = RefusedAfterLogin();
  EXPECT_EQ(f['C'], "57P03");
  EXPECT_NE(f['M'].find("branch main is served by node a, and this proxy has no relay key"),
            std::string::npos)
      << f['M'];
  EXPECT_EQ(holder_->Stats().accepted, 0u);
  EXPECT_EQ(entry_delegate_.WaitReleases(1), 1);
}

TEST_F(RelayTest, AShortRelayKeyIsRefusedAtStart) {
  ProxyOptions o = Options("a");
  o.relay_key = std::string(31, 'k');
  Proxy p(o, &holder_delegate_);
  EXPECT_EQ(p.Start().code(), Code::kInvalid);
}

TEST_F(RelayTest, TheHoldersRefusalsReachTheClientUnchanged) {
  StartBoth();
  holder_delegate_.FailOpen(Status::NotFound("branch \"main\" does not exist"));
  std::map<char, std::string> f = RefusedAfterLogin();
  EXPECT_EQ(f['C'], "3D000");
  EXPECT_EQ(f['M'], "branch \"main\" does not exist");
  EXPECT_EQ(entry_->Stats().refused, 1u);
  EXPECT_EQ(holder_->Stats().refused, 1u);
  EXPECT_EQ(entry_delegate_.WaitReleases(1), 1);

  holder_delegate_.FailOpen(Status::OK());
  backend_.set_mode(FakeBackend::Mode::kRefuse);  // the holder's server refuses
  PgConn conn = Connect();
  EXPECT_EQ(PQstatus(conn.get()), CONNECTION_BAD);
  EXPECT_NE(std::string(PQerrorMessage(conn.get())).find("database \"nope\" does not exist"),
            std::string::npos)
      << PQerrorMessage(conn.get());
  EXPECT_EQ(holder_delegate_.WaitReleases(1), 1);
}

TEST_F(RelayTest, ACredentialGoneAtTheHolderIsRefused) {
  StartBoth();
  holder_delegate_.RemoveCredential("alice");
  std::map<char, std::string> f = RefusedAfterLogin();
  EXPECT_EQ(f['C'], "28000");
  EXPECT_EQ(f['M'], "credential \"alice\" no longer exists");
  EXPECT_EQ(holder_delegate_.opens(), 0);
}

TEST_F(RelayTest, ARelayedSessionIsNotRelayedAgain) {
  StartBoth();
  holder_delegate_.set_relay(RelayTarget{{"127.0.0.1", entry_->port()}, "b", ""});
  std::map<char, std::string> f = RefusedAfterLogin();
  EXPECT_EQ(f['C'], "57P03");
  EXPECT_NE(f['M'].find("a relayed session is not relayed again"), std::string::npos) << f['M'];
  EXPECT_EQ(holder_delegate_.relayed(), std::vector<bool>{true});
  EXPECT_EQ(entry_delegate_.opens(), 1);  // the entry was not asked again
  EXPECT_EQ(holder_delegate_.WaitReleases(1), 1);
  EXPECT_EQ(entry_->Stats().relayed_out, 0u);
}

TEST_F(RelayTest, AHolderAnsweringAsAnotherNodeIsRefused) {
  StartHolder(Options("a"));
  StartEntry(Options("b"), "", "c");
  std::map<char, std::string> f = RefusedAfterLogin();
  EXPECT_EQ(f['C'], "57P03");
  EXPECT_NE(f['M'].find("answers as node a"), std::string::npos) << f['M'];
  EXPECT_EQ(holder_delegate_.opens(), 0);
}

TEST_F(RelayTest, AHolderRequiringTlsRefusesAPlainRelay) {
  ProxyOptions a = Options("a");
  a.tls = Certificate("holder");
  a.require_tls = true;
  StartHolder(a);
  StartEntry(Options("b"));  // no fingerprint: plain TCP
  std::map<char, std::string> f = RefusedAfterLogin();
  EXPECT_EQ(f['C'], "28000");
  EXPECT_NE(f['M'].find("accepts TLS connections only"), std::string::npos) << f['M'];
  EXPECT_EQ(holder_delegate_.opens(), 0);
}

TEST_F(RelayTest, CancelRequestsThroughTheEntryReachTheHoldersServer) {
  StartBoth();
  PgConn conn = Connect();
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  PGcancel* cancel = PQgetCancel(conn.get());
  char err[256];
  EXPECT_EQ(PQcancel(cancel, err, sizeof(err)), 1) << err;
  PQfreeCancel(cancel);
  const auto got = backend_.WaitCancel(1);
  EXPECT_EQ(got.first, FakeBackend::kPid);
  EXPECT_EQ(got.second, FakeBackend::kKey);
  EXPECT_EQ(entry_->Stats().cancels, 1u);
  EXPECT_EQ(holder_->Stats().cancels, 1u);
}

class RelayStopTest : public RelayTest, public ::testing::WithParamInterface<bool> {};

TEST_P(RelayStopTest, StoppingEitherProxyEndsARelayedSession) {
  StartBoth();
  PgConn conn = Connect();
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  Proxy* stopped = GetParam() ? entry_.get() : holder_.get();
  stopped->Stop();
  EXPECT_EQ(stopped->Stats().active, 0u);
  EXPECT_EQ(holder_delegate_.WaitReleases(1), 1);
  EXPECT_EQ(entry_delegate_.WaitReleases(1), 1);
  EXPECT_EQ(Query(conn.get(), "select 1"), "ERROR");
}

INSTANTIATE_TEST_SUITE_P(EntryOrHolder, RelayStopTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Entry" : "Holder"; });

// The holder's side on the wire: the proof covers the holder's nonce, so a
// proof made for another challenge is refused; the right one opens the branch.
TEST_F(RelayTest, TheProofIsBoundToTheChallenge) {
  StartHolder(Options("a"));
  const auto attempt = [&](bool right_nonce) {
    RawClient c(holder_->port());
    const std::string request =
        pgwire::EncodeRelayRequest({{"node", "b"}, {"nonce", "0011"}, {"client", "10.0.0.7:5000"}},
                                   {{"user", "alice"}, {"database", "main"}}, pgwire::kProtocolV3);
    c.Send(request);
    Result<pgwire::Message> m = c.Read();
    EXPECT_TRUE(m.ok() && m->type == 'R');
    Result<pgwire::Params> challenge = pgwire::ParseRelayChallenge(m.ok() ? m->body : "");
    EXPECT_OK(challenge.status());
    if (!challenge.ok()) return std::map<char, std::string>{};
    EXPECT_EQ((*challenge)[0], std::make_pair("node"s, "a"s));
    const std::string nonce = right_nonce ? (*challenge)[1].second : "0011";
    c.Send(pgwire::EncodeMessage('p', pgwire::RelayProof(kRelayKey, request, nonce, "a", "")));
    Result<pgwire::Message> next = c.Read();
    if (next.ok() && next->type == 'E') return pgwire::ParseErrorFields(next->body);
    EXPECT_TRUE(next.ok() && next->type == 'R' && next->body == std::string(4, '\0'))
        << "AuthenticationOk from the holder's server";
    return std::map<char, std::string>{};
  };
  EXPECT_EQ(attempt(false)['C'], "28000");
  EXPECT_EQ(holder_delegate_.opens(), 0);
  EXPECT_TRUE(attempt(true).empty());
  EXPECT_EQ(holder_delegate_.opens(), 1);
  EXPECT_EQ(holder_->Stats().auth_failures, 1u);
}

}  // namespace
}  // namespace strata
