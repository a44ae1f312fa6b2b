#include "endpoint/credentials.h"

#include "common/crypto.h"
#include "pgwire/scram.h"

namespace strata {

namespace {

std::string RandomAlnum(size_t n) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string out;
  while (out.size() < n) {
    for (unsigned char c : crypto::RandomBytes(64)) {
      // 62 * 4 = 248: reject the top bytes so every character is equally likely.
      if (c < 248 && out.size() < n) out.push_back(kAlphabet[c % 62]);
    }
  }
  return out;
}

}  // namespace

Status ValidateRole(const std::string& role) {
  bool ok = !role.empty() && role.size() <= 63 && !(role[0] >= '0' && role[0] <= '9');
  for (char c : role) {
    ok = ok &&
         ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_');
  }
  if (ok) return Status::OK();
  return Status::Invalid("invalid role name '" + role +
                         "': use 1-63 letters, digits or '_', not starting with a digit");
}

Result<IssuedCredential> Credentials::Issue(const std::string& branch, const std::string& role,
                                            int64_t expires_ns) {
  STRATA_RETURN_IF_ERROR(ValidateRole(role));
  if (expires_ns < 0) return Status::Invalid("expires_at must not be before 1970");
  IssuedCredential out;
  out.password = RandomAlnum(32);
  out.info.id = "u" + crypto::HexEncode(crypto::RandomBytes(8));
  out.info.role = role;
  out.info.verifier = scram::EncodeVerifier(scram::MakeVerifier(out.password));
  out.info.created_ns = clock_->NowNs();
  out.info.expires_ns = expires_ns;
  STRATA_RETURN_IF_ERROR(catalog_->Update([&](CatalogData& c) {
    const BranchInfo* b = c.FindBranch(branch);
    if (!b) return Status::NotFound("no branch named '" + branch + "'");
    if (c.FindCredential(out.info.id)) return Status::Exists("credential id collision; retry");
    out.info.branch = b->id;
    c.credentials.push_back(out.info);
    return Status::OK();
  }));
  return out;
}

Status Credentials::Revoke(const std::string& id) {
  return catalog_->Update([&](CatalogData& c) {
    if (!c.FindCredential(id)) return Status::NotFound("no credential '" + id + "'");
    std::erase_if(c.credentials, [&](const CredentialInfo& x) { return x.id == id; });
    return Status::OK();
  });
}

Result<CredentialInfo> Credentials::Find(const std::string& id, int64_t now_ns) const {
  auto cat = catalog_->Current();
  const CredentialInfo* c = cat->FindCredential(id);
  if (!c || (c->expires_ns != 0 && c->expires_ns <= now_ns)) {
    return Status::NotFound("no valid credential '" + id + "'");
  }
  return *c;
}

Result<int> Credentials::PruneExpired(int64_t now_ns) {
  auto expired = [now_ns](const CredentialInfo& x) {
    return x.expires_ns != 0 && x.expires_ns <= now_ns;
  };
  bool any = false;
  for (const auto& c : catalog_->Current()->credentials) any = any || expired(c);
  if (!any) return 0;
  int n = 0;
  STRATA_RETURN_IF_ERROR(catalog_->Update([&](CatalogData& c) {
    n = static_cast<int>(std::erase_if(c.credentials, expired));
    return Status::OK();
  }));
  return n;
}

}  // namespace strata
