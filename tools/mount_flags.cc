// Checks of `strata mount`'s endpoint, API and quota flags (mount_flags.h).
#include "tools/mount_flags.h"

#include "common/socket.h"

namespace strata::cli {

namespace {

// HOST:PORT (port 0: any free one) or "off" -> "".
Result<std::string> Address(const std::string& flag, const std::string& text) {
  if (text == "off") return std::string();
  Result<HostPort> hp = ParseHostPort(text, /*allow_zero_port=*/true);
  if (!hp.ok()) {
    return Status::Invalid(flag + ": " + hp.status().message() + "; or 'off' to turn it off");
  }
  return text;
}

Result<int64_t> Duration(const std::string& flag, const std::string& text) {
  Result<int64_t> s = ParseDuration(text);
  if (!s.ok()) return Status::Invalid(flag + ": " + s.status().message());
  return s;
}

bool IsSettingNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.';
}

Result<int64_t> ParseCountString(const std::string& text) { return ParseCount(text); }

}  // namespace

Status ApplyServiceFlags(const ServiceFlags& f, LimitParser parse_size, MountOptions* opts) {
  if (f.proxy) {
    STRATA_ASSIGN_OR_RETURN(opts->proxy_addr, Address("--proxy", *f.proxy));
  }
  if (f.api) {
    STRATA_ASSIGN_OR_RETURN(opts->api_addr, Address("--api", *f.api));
  }
  if (!opts->proxy_addr.empty() && opts->proxy_addr == opts->api_addr &&
      ParseHostPort(opts->proxy_addr, true)->port != 0) {
    return Status::Invalid("--proxy and --api cannot both listen on " + opts->proxy_addr);
  }
  if (f.api_token_file) {
    if (f.api_token_file->empty()) return Status::Invalid("--api-token-file: empty path");
    opts->api_token_file = *f.api_token_file;
  }
  if (f.idle_timeout) {
    STRATA_ASSIGN_OR_RETURN(opts->idle_timeout_s, Duration("--idle-timeout", *f.idle_timeout));
  }
  if (f.credential_ttl) {
    STRATA_ASSIGN_OR_RETURN(opts->credential_ttl_s,
                            Duration("--credential-ttl", *f.credential_ttl));
  }
  if (f.pg_bin) {
    if (f.pg_bin->empty()) return Status::Invalid("--pg-bin: empty path");
    opts->pg_bin_dir = *f.pg_bin;
  }
  if (f.pg_user) {
    if (f.pg_user->empty()) return Status::Invalid("--pg-user: empty user name");
    opts->pg_user = *f.pg_user;
  }
  opts->pg_settings.clear();
  for (const std::string& s : f.pg_settings) {
    size_t eq = s.find('=');
    std::string name = s.substr(0, eq);
    bool ok = eq != std::string::npos && !name.empty();
    for (char c : name) ok = ok && IsSettingNameChar(c);
    if (!ok) {
      return Status::Invalid("--pg-setting: bad \"" + s +
                             "\": want NAME=VALUE with a postgres setting name, e.g. "
                             "shared_buffers=256MB");
    }
    opts->pg_settings.emplace_back(name, s.substr(eq + 1));
  }
  if (f.quota_branches) {
    Result<int64_t> n = ParseLimit(*f.quota_branches, ParseCountString);
    if (!n.ok()) return Status::Invalid("--quota-branches: " + n.status().message());
    opts->quota_branches = *n;
  }
  if (f.quota_bytes) {
    Result<int64_t> n = ParseLimit(*f.quota_bytes, parse_size);
    if (!n.ok()) return Status::Invalid("--quota-bytes: " + n.status().message());
    opts->quota_bytes = *n;
  }
  return Status::OK();
}

}  // namespace strata::cli
