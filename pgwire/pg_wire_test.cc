#include "pgwire/pg_wire.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <random>
#include <string>
#include <utility>
#include <vector>

#include "common/coding.h"
#include "common/fd_util.h"
#include "common/net.h"

namespace strata::pgwire {
namespace {

using namespace std::string_literals;

// The packet after its length word: protocol code, then the parameter list.
std::string StartupBody(uint32_t code, const std::string& params) {
  std::string out;
  PutBig32(&out, code);
  return out + params;
}

std::string Big32(uint32_t v) {
  std::string out;
  PutBig32(&out, v);
  return out;
}

// A connected socket pair; the test writes to `peer` and reads from `fd`.
struct SocketPair {
  UniqueFd fd, peer;
  SocketPair() {
    int sv[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    fd.reset(sv[0]);
    peer.reset(sv[1]);
  }
  void Send(const std::string& data) { ASSERT_TRUE(SendAll(peer.get(), data, "test").ok()); }
  void ClosePeer() { peer.reset(); }
};

TEST(PgWireStartup, ParsesStartupMessage) {
  Result<Startup> s = ParseStartup(StartupBody(kProtocolV3, "user\0alice\0database\0main.db\0\0"s));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->kind, Startup::Kind::kStartup);
  EXPECT_EQ(s->protocol, kProtocolV3);
  ASSERT_EQ(s->params.size(), 2u);
  EXPECT_EQ(s->params[0], std::make_pair("user"s, "alice"s));
  ASSERT_NE(s->Param("database"), nullptr);
  EXPECT_EQ(*s->Param("database"), "main.db");
  EXPECT_EQ(s->Param("options"), nullptr);
}

TEST(PgWireStartup, AcceptsEmptyValuesAndMinorVersions) {
  Result<Startup> s = ParseStartup(StartupBody(kProtocolV3 + 2, "user\0bob\0options\0\0\0"s));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->protocol, kProtocolV3 + 2);
  EXPECT_EQ(*s->Param("options"), "");
}

TEST(PgWireStartup, ParsesNegotiationAndCancel) {
  Result<Startup> ssl = ParseStartup(Big32(kSslRequestCode));
  ASSERT_TRUE(ssl.ok());
  EXPECT_EQ(ssl->kind, Startup::Kind::kSsl);
  Result<Startup> gss = ParseStartup(Big32(kGssEncRequestCode));
  ASSERT_TRUE(gss.ok());
  EXPECT_EQ(gss->kind, Startup::Kind::kGssEnc);
  const std::string cancel = EncodeCancel(1234, 0xdeadbeef);
  ASSERT_EQ(cancel.size(), 16u);
  EXPECT_EQ(DecodeBig32(cancel.data()), 16u);
  Result<Startup> c = ParseStartup(cancel.substr(4));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->kind, Startup::Kind::kCancel);
  EXPECT_EQ(c->cancel_pid, 1234u);
  EXPECT_EQ(c->cancel_key, 0xdeadbeefu);
}

TEST(PgWireStartup, RejectsMalformedPackets) {
  const auto invalid = [](const std::string& packet, const std::string& why) {
    Result<Startup> s = ParseStartup(packet);
    ASSERT_FALSE(s.ok()) << why;
    EXPECT_EQ(s.status().code(), Code::kInvalid) << why << ": " << s.status().ToString();
    EXPECT_NE(s.status().message().find("invalid startup packet"), std::string::npos);
  };
  invalid("", "empty");
  invalid("\x00\x03"s, "shorter than the code");
  invalid(StartupBody(kProtocolV3, ""), "no parameters, no terminator");
  invalid(StartupBody(kProtocolV3, "user\0alice\0"s), "missing final NUL");
  invalid(StartupBody(kProtocolV3, "user"), "unterminated name");
  invalid(StartupBody(kProtocolV3, "user\0alice"s), "unterminated value");
  invalid(StartupBody(kProtocolV3, "user\0"s), "name without value");
  invalid(StartupBody(kProtocolV3, "user\0a\0\0x\0y\0\0"s), "data after the terminator");
  invalid(StartupBody(kProtocolV3, "\0"s), "no user");
  invalid(StartupBody(kProtocolV3, "database\0x\0\0"s), "no user");
  invalid(StartupBody(kProtocolV3, "user\0a\0user\0b\0\0"s), "duplicate");
  invalid(StartupBody(kProtocolV3, "user\0a\0\0"s + std::string(10000, 'x')), "overlong");
  invalid(Big32(kSslRequestCode) + "x", "SSLRequest with payload");
  invalid(Big32(kGssEncRequestCode) + "xyzw", "GSSENCRequest with payload");
  invalid(EncodeCancel(1, 2).substr(4, 11), "short cancel");
  invalid(EncodeCancel(1, 2).substr(4) + "x", "long cancel");
}

TEST(PgWireStartup, RejectsOtherProtocolVersions) {
  Result<Startup> v2 = ParseStartup(StartupBody(2 << 16, "user\0a\0\0"s));
  ASSERT_FALSE(v2.ok());
  EXPECT_EQ(v2.status().code(), Code::kNotSupported);
  EXPECT_NE(v2.status().message().find("2.0"), std::string::npos) << v2.status().message();
  Result<Startup> v4 = ParseStartup(StartupBody((4 << 16) | 1, "user\0a\0\0"s));
  ASSERT_FALSE(v4.ok());
  EXPECT_NE(v4.status().message().find("4.1"), std::string::npos) << v4.status().message();
}

TEST(PgWireStartup, EncodeStartupRoundTrips) {
  const Params params{{"user", "r"}, {"database", "postgres"}, {"application_name", "psql"}};
  const std::string packet = EncodeStartup(params);
  EXPECT_EQ(DecodeBig32(packet.data()), packet.size());
  Result<Startup> s = ParseStartup(packet.substr(4));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->protocol, kProtocolV3);
  EXPECT_EQ(s->params, params);
}

TEST(PgWireRelay, RelayRequestRoundTrips) {
  const Params relay{{"node", "b"}, {"nonce", "00ff"}, {"client", "10.0.0.7:5000"}};
  const Params params{{"user", "c_1"}, {"database", "main.app"}, {"options", ""}};
  const std::string packet = EncodeRelayRequest(relay, params, kProtocolV3 + 1);
  EXPECT_EQ(DecodeBig32(packet.data()), packet.size());
  EXPECT_EQ(DecodeBig32(packet.data() + 4), kRelayRequestCode);
  Result<Startup> s = ParseStartup(packet.substr(4));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->kind, Startup::Kind::kRelay);
  EXPECT_EQ(s->protocol, kProtocolV3 + 1);
  EXPECT_EQ(s->relay, relay);
  EXPECT_EQ(s->params, params);
  EXPECT_EQ(*s->RelayField("client"), "10.0.0.7:5000");
  EXPECT_EQ(EncodeRelayRequest(s->relay, s->params, s->protocol), packet);
}

TEST(PgWireRelay, RejectsMalformedRelayRequests) {
  const auto body = [](uint32_t protocol, const std::string& rest) {
    return Big32(kRelayRequestCode) + Big32(protocol) + rest;
  };
  const std::string fields = "node\0b\0nonce\0n\0client\0\0\0"s;
  const std::string user = "user\0u\0\0"s;
  EXPECT_TRUE(ParseStartup(body(kProtocolV3, fields + user)).ok()) << "the valid one";
  for (const auto& [packet, why] : std::vector<std::pair<std::string, std::string>>{
           {Big32(kRelayRequestCode) + "ab", "no protocol"},
           {body(kProtocolV3, fields), "no client parameters"},
           {body(kProtocolV3, fields + "\0"s), "no user"},
           {body(kProtocolV3, "node\0b\0nonce\0n\0\0"s + user), "no client field"},
           {body(kProtocolV3, "node\0\0nonce\0n\0client\0\0\0"s + user), "empty node"},
           {body(kProtocolV3, "node\0b\0node\0c\0nonce\0n\0client\0\0\0"s + user), "dup"},
           {body(kProtocolV3, fields + user + "x"), "data after the end"},
       }) {
    Result<Startup> s = ParseStartup(packet);
    EXPECT_EQ(s.status().code(), Code::kInvalid) << why << ": " << s.status().ToString();
  }
  EXPECT_EQ(ParseStartup(body(2 << 16, fields + user)).status().code(), Code::kNotSupported);
}

// A relay request carries a whole startup packet: it may be longer than one,
// and nothing else may.
TEST(PgWireRelay, ReadStartupTakesALongRelayRequestOnly) {
  const Params relay{{"node", "b"}, {"nonce", "00ff"}, {"client", "10.0.0.7:5000"}};
  const Params params{{"user", "u"}, {"options", std::string(kMaxStartupLength - 20, 'o')}};
  const std::string packet = EncodeRelayRequest(relay, params, kProtocolV3);
  ASSERT_GT(packet.size(), kMaxStartupLength);
  {
    SocketPair sp;
    sp.Send(packet);
    Result<Startup> s = ReadStartup(sp.fd.get());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ(s->params, params);
  }
  {
    SocketPair sp;
    std::string startup = EncodeStartup(params);
    sp.Send(startup);
    Result<Startup> s = ReadStartup(sp.fd.get());
    EXPECT_EQ(s.status().message(),
              "invalid startup packet length " + std::to_string(startup.size()));
  }
  SocketPair sp;
  sp.Send(Big32(kMaxRelayRequestLength + 1) + Big32(kRelayRequestCode));
  EXPECT_EQ(ReadStartup(sp.fd.get()).status().code(), Code::kInvalid);
}

TEST(PgWireRelay, ChallengeRoundTripsAndTheProofCoversEveryPart) {
  const Params fields{{"node", "a"}, {"nonce", "abcd"}};
  const std::string m = AuthenticationRelayChallenge(fields);
  EXPECT_EQ(m[0], 'R');
  Result<Params> parsed = ParseRelayChallenge(m.substr(5));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(*parsed, fields);
  EXPECT_FALSE(ParseRelayChallenge(AuthenticationOk().substr(5)).ok());
  EXPECT_FALSE(ParseRelayChallenge(m.substr(5, m.size() - 6)).ok()) << "no terminator";
  EXPECT_FALSE(ParseRelayChallenge(m.substr(5) + "x").ok());

  const std::string proof = RelayProof("key", "request", "nonce", "a", "AB:CD");
  EXPECT_EQ(proof.size(), 32u);
  EXPECT_EQ(proof, RelayProof("key", "request", "nonce", "a", "AB:CD"));
  for (const std::string& other : {RelayProof("kex", "request", "nonce", "a", "AB:CD"),
                                   RelayProof("key", "requesu", "nonce", "a", "AB:CD"),
                                   RelayProof("key", "request", "noncf", "a", "AB:CD"),
                                   RelayProof("key", "request", "nonce", "b", "AB:CD"),
                                   RelayProof("key", "request", "nonce", "a", ""),
                                   RelayProof("key", "request", "nonce", "aA", "B:CD")}) {
    EXPECT_NE(other, proof);
  }
}

TEST(PgWireStartup, ReadStartupChecksTheLength) {
  for (uint32_t len : {0u, 4u, 7u, kMaxStartupLength + 1, 1u << 30, 0xffffffffu}) {
    SocketPair sp;
    sp.Send(Big32(len) + std::string(16, '\0'));
    Result<Startup> s = ReadStartup(sp.fd.get());
    ASSERT_FALSE(s.ok()) << len;
    EXPECT_EQ(s.status().code(), Code::kInvalid);
    EXPECT_EQ(s.status().message(), "invalid startup packet length " + std::to_string(len));
  }
}

TEST(PgWireStartup, ReadStartupReadsOnePacket) {
  SocketPair sp;
  sp.Send(Big32(8) + Big32(kSslRequestCode) + EncodeStartup({{"user", "u"}}) + "rest");
  Result<Startup> ssl = ReadStartup(sp.fd.get());
  ASSERT_TRUE(ssl.ok()) << ssl.status().ToString();
  EXPECT_EQ(ssl->kind, Startup::Kind::kSsl);
  Result<Startup> s = ReadStartup(sp.fd.get(), SteadyClock::now() + std::chrono::seconds(10));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(*s->Param("user"), "u");
  char rest[4];
  ASSERT_TRUE(ReadFull(sp.fd.get(), rest, 4, "test").ok());
  EXPECT_EQ(std::string(rest, 4), "rest");
}

TEST(PgWireStartup, ReadStartupReportsCloseTruncationAndTimeout) {
  {
    SocketPair sp;
    sp.ClosePeer();
    EXPECT_EQ(ReadStartup(sp.fd.get()).status().code(), Code::kNotFound);
  }
  {
    SocketPair sp;
    sp.Send(EncodeStartup({{"user", "u"}}).substr(0, 10));
    sp.ClosePeer();
    EXPECT_EQ(
        ReadStartup(sp.fd.get(), SteadyClock::now() + std::chrono::seconds(10)).status().code(),
        Code::kIO);
  }
  {
    SocketPair sp;
    sp.Send(EncodeStartup({{"user", "u"}}).substr(0, 6));  // then silence
    Result<Startup> s =
        ReadStartup(sp.fd.get(), SteadyClock::now() + std::chrono::milliseconds(50));
    EXPECT_EQ(s.status().code(), Code::kUnavailable) << s.status().ToString();
    EXPECT_NE(s.status().message().find("timed out"), std::string::npos);
  }
}

TEST(PgWireMessage, ReadsAndEncodesMessages) {
  SocketPair sp;
  sp.Send(EncodeMessage('Q', "select 1\0"s) + EncodeMessage('X', ""));
  Result<Message> q = ReadMessage(sp.fd.get(), 100);
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(q->type, 'Q');
  EXPECT_EQ(q->body, "select 1\0"s);
  Result<Message> x = ReadMessage(sp.fd.get(), 100, SteadyClock::now() + std::chrono::seconds(10));
  ASSERT_TRUE(x.ok()) << x.status().ToString();
  EXPECT_EQ(x->type, 'X');
  EXPECT_EQ(x->body, "");
  sp.ClosePeer();
  EXPECT_EQ(ReadMessage(sp.fd.get(), 100).status().code(), Code::kNotFound);
}

TEST(PgWireMessage, RejectsBadLengthsAndTruncation) {
  {
    SocketPair sp;
    sp.Send("p" + Big32(3));
    Result<Message> m = ReadMessage(sp.fd.get(), 100);
    EXPECT_EQ(m.status().code(), Code::kInvalid);
  }
  {
    SocketPair sp;
    sp.Send("p" + Big32(1u << 30));
    Result<Message> m = ReadMessage(sp.fd.get(), 65535);
    EXPECT_EQ(m.status().code(), Code::kInvalid);
    EXPECT_NE(m.status().message().find("at most 65535"), std::string::npos);
  }
  for (size_t cut : {1u, 4u, 5u, 7u}) {
    SocketPair sp;
    sp.Send(EncodeMessage('p', "abcd").substr(0, cut));
    sp.ClosePeer();
    EXPECT_EQ(ReadMessage(sp.fd.get(), 100).status().code(), Code::kIO) << cut;
  }
}

TEST(PgWireMessage, ErrorResponseRoundTrips) {
  const std::string e = ErrorResponse("FATAL", "28P01", "no\0pe"s, "the detail", "a hint");
  ASSERT_EQ(e[0], 'E');
  EXPECT_EQ(DecodeBig32(e.data() + 1), e.size() - 1);
  const std::map<char, std::string> f = ParseErrorFields(e.substr(5));
  EXPECT_EQ(f.at('S'), "FATAL");
  EXPECT_EQ(f.at('V'), "FATAL");
  EXPECT_EQ(f.at('C'), "28P01");
  EXPECT_EQ(f.at('M'), "nope");
  EXPECT_EQ(f.at('D'), "the detail");
  EXPECT_EQ(f.at('H'), "a hint");
  const std::map<char, std::string> plain =
      ParseErrorFields(ErrorResponse("FATAL", "1", "m").substr(5));
  EXPECT_EQ(plain.size(), 4u);
  EXPECT_EQ(plain.count('D'), 0u);
}

TEST(PgWireMessage, ParseErrorFieldsStopsAtTruncation) {
  EXPECT_TRUE(ParseErrorFields("").empty());
  EXPECT_TRUE(ParseErrorFields("M").empty());
  const std::map<char, std::string> f = ParseErrorFields("SFATAL\0Mhalf"s);
  EXPECT_EQ(f.size(), 1u);
  EXPECT_EQ(f.at('S'), "FATAL");
  EXPECT_EQ(ParseErrorFields("Ca\0\0Mafter\0"s).size(), 1u);
}

TEST(PgWireAuth, EncodesAuthenticationMessages) {
  EXPECT_EQ(AuthenticationOk(), "R\0\0\0\x08\0\0\0\0"s);
  EXPECT_EQ(AuthenticationSasl(), "R\0\0\0\x17\0\0\0\x0aSCRAM-SHA-256\0\0"s);
  EXPECT_EQ(AuthenticationSasl(true),
            "R\0\0\0\x2a\0\0\0\x0aSCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"s);
  const std::string cont = AuthenticationSaslContinue("r=abc");
  EXPECT_EQ(cont, "R\0\0\0\x0d\0\0\0\x0br=abc"s);
  const std::string fin = AuthenticationSaslFinal("v=x");
  EXPECT_EQ(*ParseAuthenticationCode(fin.substr(5)), kAuthSaslFinal);
  EXPECT_EQ(fin.substr(9), "v=x");
  EXPECT_EQ(*ParseAuthenticationCode(AuthenticationSasl().substr(5)), kAuthSasl);
  EXPECT_EQ(ParseAuthenticationCode("\0\0\0"s).status().code(), Code::kInvalid);
}

TEST(PgWireAuth, ParsesSaslInitialResponse) {
  Result<SaslInitial> r = ParseSaslInitialResponse("SCRAM-SHA-256\0"s + Big32(5) + "n,,xy");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->mechanism, "SCRAM-SHA-256");
  EXPECT_TRUE(r->has_data);
  EXPECT_EQ(r->data, "n,,xy");
  Result<SaslInitial> none = ParseSaslInitialResponse("SCRAM-SHA-256\0"s + Big32(0xffffffff));
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_FALSE(none->has_data);
  Result<SaslInitial> empty = ParseSaslInitialResponse("M\0"s + Big32(0));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->has_data);
  EXPECT_EQ(empty->data, "");

  for (const std::string& bad :
       {"SCRAM-SHA-256"s, "SCRAM-SHA-256\0"s, "M\0\0\0\0"s, "M\0"s + Big32(6) + "n,,xy",
        "M\0"s + Big32(4) + "n,,xy", "M\0"s + Big32(0xfffffffe), "M\0"s + Big32(0xffffffff) + "x",
        "M\0"s + Big32(0x7fffffff)}) {
    EXPECT_EQ(ParseSaslInitialResponse(bad).status().code(), Code::kInvalid) << bad.size();
  }
}

TEST(PgWireBackend, ParsesBackendKeyDataAndServerMessages) {
  const std::string k = BackendKeyData(77, 0xfeedface);
  ASSERT_EQ(k[0], 'K');
  Result<std::pair<uint32_t, uint32_t>> key = ParseBackendKeyData(k.substr(5));
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->first, 77u);
  EXPECT_EQ(key->second, 0xfeedfaceu);
  EXPECT_EQ(ParseBackendKeyData("1234567").status().code(), Code::kInvalid);
  EXPECT_EQ(ParseBackendKeyData("123456789").status().code(), Code::kInvalid);
  EXPECT_EQ(ParameterStatus("a", "b"),
            "S\0\0\0\x08"
            "a\0b\0"s);
  EXPECT_EQ(ReadyForQuery('I'), "Z\0\0\0\x05I"s);
}

// Bytes from an unauthenticated client: ParseStartup must reject or accept
// every input without reading out of bounds (run under ASan/valgrind too).
TEST(PgWireFuzz, ParseStartupNeverCrashes) {
  std::mt19937 rng(20240501);
  const std::string valid =
      EncodeStartup({{"user", "alice"}, {"database", "main.app"}, {"options", "-c x=1"}}).substr(4);
  const std::vector<std::string> seeds = {valid, EncodeCancel(1, 2).substr(4),
                                          Big32(kSslRequestCode)};
  int accepted = 0;
  // Every truncation of the seeds.
  for (const std::string& seed : seeds) {
    for (size_t n = 0; n <= seed.size(); n++) {
      Result<Startup> s = ParseStartup(std::string_view(seed).substr(0, n));
      accepted += s.ok();
    }
  }
  EXPECT_EQ(accepted, 3);  // only the whole seeds
  for (int i = 0; i < 20000; i++) {
    std::string input;
    if (i % 2 == 0) {
      input.resize(rng() % 64);
      for (char& ch : input) ch = static_cast<char>(rng() % 4 == 0 ? 0 : rng());
      if (i % 4 == 0 && input.size() >= 4) input.replace(0, 4, Big32(kProtocolV3));
    } else {
      input = seeds[rng() % seeds.size()];
      for (int flips = 1 + rng() % 4; flips > 0 && !input.empty(); flips--) {
        input[rng() % input.size()] = static_cast<char>(rng());
      }
      input.resize(rng() % (input.size() + 1));
    }
    Result<Startup> s = ParseStartup(input);
    if (s.ok() && s->kind == Startup::Kind::kStartup) {
      EXPECT_NE(s->Param("user"), nullptr);
      EXPECT_EQ(s->protocol >> 16, 3u);
    }
  }
}

}  // namespace
}  // namespace strata::pgwire
