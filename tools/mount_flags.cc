// Checks of `strata mount`'s endpoint, API, quota, history and GC flags
// (mount_flags.h).
#include "tools/mount_flags.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

#include "cluster/node_registry.h"
#include "common/net.h"

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

// A SIZE of at least kMinGcSizeFlag.
Result<int64_t> BigSize(const std::string& flag, const std::string& text, LimitParser parse_size) {
  Result<int64_t> n = parse_size(text);
  if (!n.ok()) return Status::Invalid(flag + ": " + n.status().message());
  if (*n < kMinGcSizeFlag) {
    return Status::Invalid(flag + ": " + text + " is too small: want at least 1M");
  }
  return n;
}

// --history, --no-gc, --gc-interval, --gc-rate, --memtable-size.
Status ApplyHistoryFlags(const ServiceFlags& f, LimitParser parse_size, MountOptions* opts) {
  if (f.history) {
    Result<int64_t> s = ParseWindow(*f.history);
    if (!s.ok()) return Status::Invalid("--history: " + s.status().message());
    opts->history_s = *s;
  }
  if (f.no_gc) opts->gc = false;
  if (f.gc_interval) {
    STRATA_ASSIGN_OR_RETURN(int64_t s, Duration("--gc-interval", *f.gc_interval));
    opts->gc_interval_ms = s * 1000;
  }
  if (f.gc_rate) {
    STRATA_ASSIGN_OR_RETURN(opts->gc_rate_bytes, BigSize("--gc-rate", *f.gc_rate, parse_size));
  }
  if (f.memtable_size) {
    STRATA_ASSIGN_OR_RETURN(opts->memtable_bytes,
                            BigSize("--memtable-size", *f.memtable_size, parse_size));
  }
  return Status::OK();
}

// --node-id, --lease-ttl, --advertise-host.
Status ApplyClusterFlags(const ServiceFlags& f, MountOptions* opts) {
  if (f.node_id) {
    if (!ValidNodeId(*f.node_id)) {
      return Status::Invalid("--node-id: bad id \"" + *f.node_id +
                             "\": want 1-64 of a-z, 0-9 and '-', not starting with '-'");
    }
    opts->node_id = *f.node_id;
  }
  if (f.lease_ttl) {
    STRATA_ASSIGN_OR_RETURN(int64_t s, Duration("--lease-ttl", *f.lease_ttl));
    if (s < 3 || s > 3600)
      return Status::Invalid("--lease-ttl: " + *f.lease_ttl + " is not 3s..1h");
    opts->lease_ttl_ms = s * 1000;
  }
  if (f.advertise_host) {
    // A host alone (a name, IPv4, or IPv6 without brackets): the ports are the listeners' own.
    const std::string& h = *f.advertise_host;
    const bool host_chars =
        !h.empty() && h[0] != '-' && std::all_of(h.begin(), h.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':';
        });
    in6_addr v6;
    const bool colon_ok =
        h.find(':') == std::string::npos || inet_pton(AF_INET6, h.c_str(), &v6) == 1;
    if (!host_chars || !colon_ok || h.size() > 253) {
      return Status::Invalid("--advertise-host: \"" + *f.advertise_host +
                             "\" is not a host name or an IP address (without a port)");
    }
    opts->advertise_host = *f.advertise_host;
  }
  return Status::OK();
}

}  // namespace

Status ApplyServiceFlags(const ServiceFlags& f, LimitParser parse_size, MountOptions* opts) {
  if (f.proxy) {
    STRATA_ASSIGN_OR_RETURN(opts->proxy_addr, Address("--proxy", *f.proxy));
  }
  if (f.api) {
    STRATA_ASSIGN_OR_RETURN(opts->api_addr, Address("--api", *f.api));
  }
  if (f.proxy_tls_cert.has_value() != f.proxy_tls_key.has_value()) {
    return Status::Invalid("--proxy-tls-cert and --proxy-tls-key go together");
  }
  if (f.proxy_tls_cert) {
    if (f.proxy_tls_cert->empty() || f.proxy_tls_key->empty()) {
      return Status::Invalid("--proxy-tls-cert/--proxy-tls-key: empty path");
    }
    opts->proxy_tls_cert = *f.proxy_tls_cert;
    opts->proxy_tls_key = *f.proxy_tls_key;
  }
  opts->proxy_require_tls = f.proxy_require_tls;
  if (f.proxy_require_tls && opts->proxy_addr.empty()) {
    return Status::Invalid("--proxy-require-tls: the proxy is off");
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
  STRATA_RETURN_IF_ERROR(ApplyHistoryFlags(f, parse_size, opts));
  return ApplyClusterFlags(f, opts);
}

}  // namespace strata::cli
