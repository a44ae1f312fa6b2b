#include "pgwire/scram.h"

#include <cctype>
#include <charconv>
#include <cstring>
#include <vector>

#include "common/crypto.h"

namespace strata::scram {

namespace {

constexpr std::string_view kMechanism = "SCRAM-SHA-256";

std::string Xor(std::string_view a, std::string_view b) {
  std::string out(a);
  for (size_t i = 0; i < out.size() && i < b.size(); i++) out[i] = static_cast<char>(a[i] ^ b[i]);
  return out;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (size_t start = 0;;) {
    const size_t end = s.find(sep, start);
    out.push_back(s.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return out;
    start = end + 1;
  }
}

// The value of attribute `name` ("r=..." -> "..."), if `part` is one.
bool Attr(std::string_view part, char name, std::string_view* value) {
  if (part.size() < 2 || part[0] != name || part[1] != '=') return false;
  *value = part.substr(2);
  return true;
}

bool PrintableNonce(std::string_view n) {
  if (n.empty()) return false;
  for (char c : n) {
    if (c < 0x21 || c > 0x7e || c == ',') return false;
  }
  return true;
}

}  // namespace

Verifier MakeVerifier(std::string_view password, std::string_view salt, int iterations) {
  const std::string salted = crypto::Pbkdf2Sha256(password, salt, iterations);
  Verifier v;
  v.salt = std::string(salt);
  v.iterations = iterations;
  v.stored_key = crypto::Sha256(crypto::HmacSha256(salted, "Client Key"));
  v.server_key = crypto::HmacSha256(salted, "Server Key");
  return v;
}

Verifier MakeVerifier(std::string_view password) {
  return MakeVerifier(password, crypto::RandomBytes(16), kDefaultIterations);
}

std::string EncodeVerifier(const Verifier& v) {
  return std::string(kMechanism) + "$" + std::to_string(v.iterations) + ":" +
         crypto::Base64Encode(v.salt) + "$" + crypto::Base64Encode(v.stored_key) + ":" +
         crypto::Base64Encode(v.server_key);
}

Result<Verifier> ParseVerifier(std::string_view s) {
  const auto bad = [&](const char* why) {
    return Status::Invalid(std::string("SCRAM verifier: ") + why);
  };
  const std::vector<std::string_view> parts = Split(s, '$');
  if (parts.size() != 3 || parts[0] != kMechanism) return bad("not SCRAM-SHA-256$...$...");
  const std::vector<std::string_view> a = Split(parts[1], ':'), b = Split(parts[2], ':');
  if (a.size() != 2 || b.size() != 2) return bad("expected ITER:SALT$STOREDKEY:SERVERKEY");
  Verifier v;
  const auto [end, ec] = std::from_chars(a[0].data(), a[0].data() + a[0].size(), v.iterations);
  if (ec != std::errc() || end != a[0].data() + a[0].size() || v.iterations < 1) {
    return bad("bad iteration count");
  }
  Result<std::string> salt = crypto::Base64Decode(a[1]), stored = crypto::Base64Decode(b[0]),
                      server = crypto::Base64Decode(b[1]);
  if (!salt.ok() || !stored.ok() || !server.ok()) return bad("bad base64");
  if (salt->empty() || stored->size() != 32 || server->size() != 32) return bad("bad key sizes");
  v.salt = *salt;
  v.stored_key = *stored;
  v.server_key = *server;
  return v;
}

std::string RandomNonce(size_t n) { return crypto::Base64Encode(crypto::RandomBytes(n)); }

Result<std::string> ServerExchange::First(std::string_view msg) {
  if (first_done_) return Status::Invalid("SCRAM: client-first-message sent twice");
  first_done_ = true;
  // gs2-header: "n" (no binding), "y" (the client could bind but thinks we
  // cannot), or "p=TYPE" (binding required).
  const std::vector<std::string_view> parts = Split(msg, ',');
  if (parts.size() < 4) return Status::Invalid("SCRAM: malformed client-first-message");
  if (parts[0].starts_with("p=")) {
    if (end_point_hash_.empty()) {
      return Status::NotSupported("SCRAM: channel binding is not supported on this connection");
    }
    if (parts[0] != "p=tls-server-end-point") {
      return Status::NotSupported("SCRAM: unsupported channel binding type \"" +
                                  std::string(parts[0].substr(2)) + "\"");
    }
  } else if (parts[0] == "y" && !end_point_hash_.empty()) {
    return Status::Invalid(
        "SCRAM channel binding negotiation error: the client supports channel binding but thinks "
        "the server does not; this server does");
  }
  if ((parts[0] != "n" && parts[0] != "y" && !parts[0].starts_with("p=")) || !parts[1].empty()) {
    return Status::Invalid("SCRAM: malformed gs2 header (authzid is not supported)");
  }
  std::string_view user, nonce;
  if (!Attr(parts[2], 'n', &user) || !Attr(parts[3], 'r', &nonce) || !PrintableNonce(nonce)) {
    return Status::Invalid("SCRAM: malformed client-first-message");
  }
  // Optional extensions are "x=value" and ignored; a mandatory one ("m=")
  // cannot be honoured.
  for (size_t i = 4; i < parts.size(); i++) {
    const std::string_view e = parts[i];
    if (e.size() < 2 || e[1] != '=' || !std::isalpha(static_cast<unsigned char>(e[0])) ||
        e[0] == 'm') {
      return Status::Invalid("SCRAM: malformed or mandatory extension in client-first-message");
    }
  }
  gs2_header_ = std::string(parts[0]) + ",,";
  client_first_bare_ = std::string(msg.substr(gs2_header_.size()));
  nonce_ = std::string(nonce) + server_nonce_;
  server_first_ =
      "r=" + nonce_ + ",s=" + crypto::Base64Encode(v_.salt) + ",i=" + std::to_string(v_.iterations);
  return server_first_;
}

Result<std::string> ServerExchange::Final(std::string_view msg) {
  if (!first_done_ || server_first_.empty() || final_done_) {
    return Status::Invalid("SCRAM: client-final-message out of order");
  }
  final_done_ = true;
  const size_t proof_at = msg.rfind(",p=");
  if (proof_at == std::string_view::npos) return Status::Invalid("SCRAM: no proof");
  const std::string_view without_proof = msg.substr(0, proof_at);
  const std::vector<std::string_view> parts = Split(without_proof, ',');
  std::string_view binding, nonce;
  if (parts.size() < 2 || !Attr(parts[0], 'c', &binding) || !Attr(parts[1], 'r', &nonce)) {
    return Status::Invalid("SCRAM: malformed client-final-message");
  }
  const std::string cbind_data = gs2_header_.starts_with("p=") ? end_point_hash_ : "";
  if (binding != crypto::Base64Encode(gs2_header_ + cbind_data)) {
    return Status::Invalid("SCRAM: channel binding differs from the first message");
  }
  if (nonce != nonce_) return Status::Invalid("SCRAM: nonce differs from the first round");
  Result<std::string> proof = crypto::Base64Decode(msg.substr(proof_at + 3));
  if (!proof.ok() || proof->size() != 32) return Status::Invalid("SCRAM: malformed proof");
  const std::string auth =
      client_first_bare_ + "," + server_first_ + "," + std::string(without_proof);
  const std::string client_signature = crypto::HmacSha256(v_.stored_key, auth);
  const std::string client_key = Xor(*proof, client_signature);
  if (!crypto::ConstantTimeEqual(crypto::Sha256(client_key), v_.stored_key)) {
    return Status::Permission("password authentication failed");
  }
  return "v=" + crypto::Base64Encode(crypto::HmacSha256(v_.server_key, auth));
}

}  // namespace strata::scram
