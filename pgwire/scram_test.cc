// SCRAM-SHA-256 against the example exchange of RFC 7677, section 3, and
// every way a client message can be wrong.
#include "pgwire/scram.h"

#include <gtest/gtest.h>

#include "common/crypto.h"

namespace strata::scram {
namespace {

// RFC 7677: user "user", password "pencil".
constexpr char kSaltB64[] = "W22ZaJ0SNY7soEsUEjb6gQ==";
constexpr char kClientFirst[] = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr char kServerNonce[] = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr char kServerFirst[] =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr char kClientFinal[] =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr char kServerFinal[] = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

Verifier Pencil() { return MakeVerifier("pencil", *crypto::Base64Decode(kSaltB64), 4096); }

TEST(Scram, Rfc7677ExampleExchange) {
  ServerExchange ex(Pencil(), kServerNonce);
  Result<std::string> first = ex.First(kClientFirst);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(*first, kServerFirst);
  Result<std::string> final = ex.Final(kClientFinal);
  ASSERT_TRUE(final.ok()) << final.status().ToString();
  EXPECT_EQ(*final, kServerFinal);
  EXPECT_EQ(ex.Final(kClientFinal).status().code(), Code::kInvalid);  // only once
}

TEST(Scram, WrongPasswordIsPermissionDenied) {
  ServerExchange ex(MakeVerifier("not pencil", *crypto::Base64Decode(kSaltB64), 4096),
                    kServerNonce);
  ASSERT_TRUE(ex.First(kClientFirst).ok());
  Result<std::string> final = ex.Final(kClientFinal);
  EXPECT_EQ(final.status().code(), Code::kPermission);
  EXPECT_EQ(final.status().message(), "password authentication failed");
}

TEST(Scram, TamperedFinalMessagesAreRefused) {
  const std::string good = kClientFinal;
  struct Case {
    std::string msg;
    Code code;
  };
  std::string flipped_proof = good;
  flipped_proof[flipped_proof.size() - 3] = 'X';
  const std::vector<Case> cases = {
      {flipped_proof, Code::kPermission},
      {"c=biws,r=rOprNGfwEbeRWgbNEkqOzzz,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
       Code::kInvalid},  // another nonce
      {"c=eSws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
       "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
       Code::kInvalid},  // channel binding "y,," after "n,,"
      {"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", Code::kInvalid},  // no proof
      {"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=short", Code::kInvalid},
      {"garbage", Code::kInvalid},
      {"", Code::kInvalid},
  };
  for (const Case& c : cases) {
    ServerExchange ex(Pencil(), kServerNonce);
    ASSERT_TRUE(ex.First(kClientFirst).ok());
    EXPECT_EQ(ex.Final(c.msg).status().code(), c.code) << c.msg;
  }
}

TEST(Scram, MalformedFirstMessagesAreRefused) {
  for (const char* msg :
       {"", "n,,", "n,,n=user", "n,,r=abc,n=user", "x,,n=user,r=abc", "n,a=admin,n=user,r=abc",
        "n,,n=user,r=", "n,,n=user,r=a,b", "n,,n=user,r=abc,m=ext"}) {
    ServerExchange ex(Pencil(), kServerNonce);
    EXPECT_EQ(ex.First(msg).status().code(), Code::kInvalid) << msg;
  }
  ServerExchange ex(Pencil(), kServerNonce);
  EXPECT_EQ(ex.First("p=tls-server-end-point,,n=,r=abc").status().code(), Code::kNotSupported);
  ServerExchange early(Pencil(), kServerNonce);
  EXPECT_EQ(early.Final(kClientFinal).status().code(), Code::kInvalid);  // before First
}

TEST(Scram, PostgresClientsSendAnEmptyUserName) {
  // libpq sends "n,,n=,r=..." (the startup packet names the user); a client
  // that supports channel binding but was not offered it sends "y,,".
  ServerExchange ex(Pencil(), "srv");
  Result<std::string> first = ex.First("y,,n=,r=abc");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(*first, "r=abcsrv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
}

// A client's final message for `password`, as RFC 5802 computes it.
std::string ClientFinal(const std::string& password, const std::string& client_first_bare,
                        const std::string& server_first, const std::string& without_proof) {
  const std::string salted = crypto::Pbkdf2Sha256(password, *crypto::Base64Decode(kSaltB64), 4096);
  const std::string client_key = crypto::HmacSha256(salted, "Client Key");
  const std::string auth = client_first_bare + "," + server_first + "," + without_proof;
  std::string proof = crypto::HmacSha256(crypto::Sha256(client_key), auth);
  for (size_t i = 0; i < proof.size(); i++) proof[i] ^= client_key[i];
  return without_proof + ",p=" + crypto::Base64Encode(proof);
}

TEST(Scram, ChannelBindingToTheServerCertificate) {
  const std::string hash(32, '\x5a'), gs2 = "p=tls-server-end-point,,";
  const std::string bare = "n=,r=rOprNGfwEbeRWgbNEkqO";
  const auto run = [&](const std::string& cbind_data) {
    ServerExchange ex(Pencil(), kServerNonce, hash);
    Result<std::string> first = ex.First(gs2 + bare);
    if (!first.ok()) return first.status();
    const std::string without_proof = "c=" + crypto::Base64Encode(gs2 + cbind_data) +
                                      ",r=" + std::string(first->substr(2, first->find(',') - 2));
    return ex.Final(ClientFinal("pencil", bare, *first, without_proof)).status();
  };
  EXPECT_TRUE(run(hash).ok()) << run(hash).ToString();
  EXPECT_EQ(run(std::string(32, '\x5b')).code(), Code::kInvalid);  // another certificate

  ServerExchange plain(Pencil(), kServerNonce);  // no TLS: nothing to bind to
  EXPECT_EQ(plain.First(gs2 + bare).status().code(), Code::kNotSupported);
  ServerExchange unique(Pencil(), kServerNonce, hash);
  EXPECT_EQ(unique.First("p=tls-unique,," + bare).status().code(), Code::kNotSupported);
  ServerExchange downgraded(Pencil(), kServerNonce, hash);
  EXPECT_EQ(downgraded.First("y,," + bare).status().code(), Code::kInvalid);
  ServerExchange not_asked(Pencil(), kServerNonce, hash);  // "n": the client does not bind
  EXPECT_TRUE(not_asked.First("n,," + bare).ok());
}

TEST(Scram, VerifierRoundTripsInPostgresFormat) {
  const Verifier v = Pencil();
  const std::string text = EncodeVerifier(v);
  EXPECT_TRUE(text.starts_with("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$")) << text;
  Result<Verifier> back = ParseVerifier(text);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->salt, v.salt);
  EXPECT_EQ(back->iterations, 4096);
  EXPECT_EQ(back->stored_key, v.stored_key);
  EXPECT_EQ(back->server_key, v.server_key);
  for (const char* bad : {"", "md5abc", "SCRAM-SHA-256$x:AAAA$AAAA:AAAA", "SCRAM-SHA-256$4096:AAAA",
                          "SCRAM-SHA-256$4096:AAAA$AAAA:AAAA", "SCRAM-SHA-256$0:AAAA$a:b"}) {
    EXPECT_EQ(ParseVerifier(bad).status().code(), Code::kInvalid) << bad;
  }
  // A fresh verifier has a random salt: the same password gives another one.
  EXPECT_NE(MakeVerifier("pencil").salt, MakeVerifier("pencil").salt);
}

TEST(Scram, NoncesArePrintable) {
  const std::string nonce = RandomNonce();
  EXPECT_EQ(nonce.size(), 24u);
  EXPECT_EQ(nonce.find(','), std::string::npos);
}

}  // namespace
}  // namespace strata::scram
