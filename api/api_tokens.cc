#include "api/api_tokens.h"

#include "catalog/fork_spec.h"
#include "common/crypto.h"
#include "common/names.h"

namespace strata {

namespace {

constexpr size_t kIdBytes = 6;
constexpr size_t kSecretBytes = 32;
constexpr size_t kIdDigits = 2 * kIdBytes;
constexpr size_t kSecretDigits = 2 * kSecretBytes;

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Status BadToken() { return Status::Permission("unknown or malformed API token"); }

}  // namespace

bool ApiTokens::IsOwnerToken(std::string_view bearer) {
  const size_t prefix = sizeof(kPrefix) - 1;
  if (bearer.size() != prefix + kIdDigits + 1 + kSecretDigits) return false;
  if (bearer.substr(0, prefix) != kPrefix || bearer[prefix + kIdDigits] != '_') return false;
  return IsLowerHex(bearer.substr(prefix, kIdDigits)) &&
         IsLowerHex(bearer.substr(prefix + kIdDigits + 1));
}

Result<IssuedToken> ApiTokens::Issue(const std::string& owner, int64_t expires_ns) {
  STRATA_RETURN_IF_ERROR(ValidateName("owner", owner));
  const std::string secret = crypto::HexEncode(crypto::RandomBytes(kSecretBytes));
  IssuedToken t;
  t.info.owner = owner;
  t.info.secret_sha256 = crypto::Sha256Hex(secret);
  t.info.created_ns = clock_->NowNs();
  t.info.expires_ns = expires_ns;
  STRATA_RETURN_IF_ERROR(catalog_->Update([&](CatalogData& c) {
    // 48 random bits: a collision is unlikely, never silent.
    do {
      t.info.id = crypto::HexEncode(crypto::RandomBytes(kIdBytes));
    } while (c.FindToken(t.info.id));
    c.tokens.push_back(t.info);
    return Status::OK();
  }));
  t.token = kPrefix + t.info.id + "_" + secret;
  return t;
}

Status ApiTokens::Revoke(const std::string& id) {
  const int64_t now = clock_->NowNs();
  return catalog_->Update([&](CatalogData& c) {
    for (TokenInfo& t : c.tokens) {
      if (t.id != id) continue;
      if (!t.revoked_ns) t.revoked_ns = now;
      return Status::OK();
    }
    return Status::NotFound("no token '" + id + "'");
  });
}

Result<Caller> ApiTokens::Authenticate(std::string_view bearer) const {
  if (!IsOwnerToken(bearer)) return BadToken();
  const size_t prefix = sizeof(kPrefix) - 1;
  const std::string id(bearer.substr(prefix, kIdDigits));
  const std::string_view secret = bearer.substr(prefix + kIdDigits + 1);
  auto cat = catalog_->Current();
  const TokenInfo* t = cat->FindToken(id);
  // An unknown id still costs a hash, so timing tells it from a wrong secret
  // no better than the message does.
  const std::string hash = crypto::Sha256Hex(secret);
  if (!t || !crypto::ConstantTimeEqual(hash, t->secret_sha256)) return BadToken();
  if (t->revoked_ns) {
    return Status::Permission("API token " + id + " was revoked at " +
                              FormatRfc3339(t->revoked_ns));
  }
  if (t->expires_ns && t->expires_ns <= clock_->NowNs()) {
    return Status::Permission("API token " + id + " expired at " + FormatRfc3339(t->expires_ns));
  }
  return Caller{t->owner, t->id};
}

}  // namespace strata
