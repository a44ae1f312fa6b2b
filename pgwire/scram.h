// SCRAM-SHA-256 (RFC 5802, RFC 7677), server side, as PostgreSQL's SASL
// authentication uses it: the proxy authenticates a client against a
// per-branch credential without ever storing the password.
//
// PostgreSQL specifics: the user name in client-first-message is ignored
// (the startup packet's user counts; libpq sends "n=,"). Channel binding
// (SCRAM-SHA-256-PLUS, RFC 5802 section 6) is the tls-server-end-point kind
// only, and only over TLS: an exchange made with the server certificate's
// end-point hash accepts gs2 header "p=tls-server-end-point,," and checks
// the binding data; one made without it refuses "p=".
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "common/status.h"

namespace strata::scram {

// What the server keeps of a password (pg_authid's SCRAM verifier).
struct Verifier {
  std::string salt;        // raw bytes
  int iterations = 0;      // PBKDF2 rounds
  std::string stored_key;  // H(HMAC(SaltedPassword, "Client Key")), 32 bytes
  std::string server_key;  // HMAC(SaltedPassword, "Server Key"), 32 bytes
};

inline constexpr int kDefaultIterations = 4096;

Verifier MakeVerifier(std::string_view password, std::string_view salt, int iterations);
// A verifier with a random 16-byte salt and kDefaultIterations.
Verifier MakeVerifier(std::string_view password);

// "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>" (base64 parts),
// the format of PostgreSQL's pg_authid.rolpassword.
std::string EncodeVerifier(const Verifier& v);
Result<Verifier> ParseVerifier(std::string_view s);

// `n` random bytes, base64: a server nonce (printable, no ',').
std::string RandomNonce(size_t n = 18);

// One authentication exchange. First() then Final(); each at most once.
class ServerExchange {
 public:
  // `end_point_hash`: the tls-server-end-point data of this connection's
  // certificate (TlsContext::end_point_hash), empty when there is no TLS or
  // no binding is offered.
  ServerExchange(Verifier verifier, std::string server_nonce, std::string end_point_hash = "")
      : v_(std::move(verifier)),
        server_nonce_(std::move(server_nonce)),
        end_point_hash_(std::move(end_point_hash)) {}

  // client-first-message -> server-first-message. kInvalid for a malformed
  // message, kNotSupported if the client requires a channel binding this
  // exchange cannot give, kInvalid also for "y" when this exchange offers
  // binding (the client was told the server has none: a downgrade).
  Result<std::string> First(std::string_view client_first);
  // client-final-message -> server-final-message ("v=..."). kPermission if
  // the proof does not match (a wrong password); kInvalid if malformed or
  // the nonce or channel binding differs from the first round.
  Result<std::string> Final(std::string_view client_final);

 private:
  const Verifier v_;
  const std::string server_nonce_;
  const std::string end_point_hash_;
  std::string gs2_header_;         // "n,,", "y,," or "p=tls-server-end-point,,"
  std::string client_first_bare_;  // "n=...,r=..."
  std::string server_first_;
  std::string nonce_;  // client nonce + server nonce
  bool first_done_ = false;
  bool final_done_ = false;
};

}  // namespace strata::scram
