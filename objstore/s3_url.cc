#include "objstore/s3_url.h"

#include <algorithm>
#include <cstdlib>
#include <vector>

#include "common/text.h"

namespace strata {
namespace {

constexpr std::string_view kSyntax =
    "expected s3://bucket[/prefix][?endpoint=http[s]://host[:port]&region=NAME&path_style=true|"
    "false]";

Status BadUrl(const std::string& url, const std::string& why) {
  return Status::Invalid("invalid store URL \"" + url + "\": " + why + "; " + std::string(kSyntax));
}

bool IsLowerOrDigit(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX-decodes `s`; nullopt for a malformed escape.
std::optional<std::string> PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    int hi = HexValue(s[i + 1]), lo = HexValue(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

bool LooksLikeIpv4(std::string_view s) {
  int dots = 0;
  for (char c : s) {
    if (c == '.') {
      dots++;
    } else if (c < '0' || c > '9') {
      return false;
    }
  }
  return dots == 3;
}

// Why `prefix` (one trailing '/' already dropped) cannot name a store.
std::string_view InvalidPrefixReason(std::string_view prefix) {
  if (prefix.empty()) return {};
  if (prefix.front() == '/') return "the prefix must not start with '/'";
  if (prefix.back() == '/') return "the prefix must not end with \"//\"";
  if (prefix.find("//") != std::string_view::npos) return "the prefix must not contain \"//\"";
  for (char c : prefix) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return "the prefix must not contain control characters";
    }
  }
  size_t start = 0;
  while (start <= prefix.size()) {
    size_t end = std::min(prefix.find('/', start), prefix.size());
    std::string_view comp = prefix.substr(start, end - start);
    if (comp == "." || comp == "..") return "the prefix must not have \".\" or \"..\" components";
    start = end + 1;
  }
  return {};
}

// Checks "http[s]://authority[/]" and returns it without the '/' and with a
// lowercase scheme; nullopt if it is anything else.
std::optional<std::string> NormalizeEndpoint(std::string_view e) {
  std::string scheme;
  for (std::string_view s : {"http://", "https://"}) {
    if (e.size() > s.size() && StartsWithNoCase(e, s)) {
      scheme = s;
    }
  }
  if (scheme.empty()) return std::nullopt;
  std::string_view authority = e.substr(scheme.size());
  if (authority.ends_with('/')) authority.remove_suffix(1);
  if (authority.empty()) return std::nullopt;
  for (char c : authority) {
    bool ok = IsLowerOrDigit(c) || (c >= 'A' && c <= 'Z') || c == '.' || c == '-' || c == '_' ||
              c == ':' || c == '[' || c == ']';
    if (!ok) return std::nullopt;
  }
  return scheme + std::string(authority);
}

// The first of `names` that is set; its name goes to `which`.
std::optional<std::string> FirstSet(const EnvLookup& env, std::initializer_list<const char*> names,
                                    std::string* which) {
  for (const char* name : names) {
    if (std::optional<std::string> v = env(name); v && !v->empty()) {
      *which = name;
      return v;
    }
  }
  return std::nullopt;
}

}  // namespace

EnvLookup ProcessEnv() {
  return [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') return std::nullopt;
    return std::string(v);
  };
}

EnvLookup MapEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::string_view InvalidBucketReason(std::string_view b) {
  if (b.size() < 3 || b.size() > 63) return "a bucket name has 3 to 63 characters";
  for (char c : b) {
    if (!IsLowerOrDigit(c) && c != '.' && c != '-') {
      return "a bucket name has only lowercase letters, digits, '.' and '-'";
    }
  }
  if (!IsLowerOrDigit(b.front()) || !IsLowerOrDigit(b.back())) {
    return "a bucket name starts and ends with a letter or digit";
  }
  if (b.find("..") != std::string_view::npos) return "a bucket name has no \"..\"";
  if (LooksLikeIpv4(b)) return "a bucket name is not an IP address";
  if (b.starts_with("xn--") || b.starts_with("sthree-")) {
    return "bucket names starting with \"xn--\" or \"sthree-\" are reserved";
  }
  if (b.ends_with("-s3alias") || b.ends_with("--ol-s3")) {
    return "bucket names ending in \"-s3alias\" or \"--ol-s3\" are reserved";
  }
  return {};
}

std::string S3Location::ObjectKey(std::string_view key) const {
  if (prefix.empty()) return std::string(key);
  std::string out = prefix;
  out.push_back('/');
  out += key;
  return out;
}

std::string S3Location::ObjectUrl(std::string_view object_key) const {
  return "s3://" + bucket + "/" + std::string(object_key);
}

std::string S3Location::Host() const {
  std::string authority = endpoint.substr(endpoint.find("://") + 3);
  return path_style ? authority : bucket + "." + authority;
}

std::string S3Location::RequestPath(std::string_view object_key) const {
  if (object_key.empty()) return path_style ? "/" + bucket : "/";
  std::string path = path_style ? "/" + bucket + "/" : "/";
  path += object_key;
  return path;
}

std::string S3Location::BaseUrl() const {
  return endpoint.substr(0, endpoint.find("://") + 3) + Host();
}

namespace {

// The query parameters of an s3:// URL, each unset unless given.
struct S3UrlQuery {
  std::optional<std::string> endpoint, region, path_style;
};

// Sets loc->bucket and loc->prefix from "bucket[/prefix[/]]".
Status ParseBucketAndPrefix(const std::string& url, std::string_view rest, S3Location* loc) {
  const size_t slash = rest.find('/');
  loc->bucket = std::string(rest.substr(0, slash));
  if (loc->bucket.empty()) return BadUrl(url, "no bucket name");
  if (std::string_view why = InvalidBucketReason(loc->bucket); !why.empty()) {
    return BadUrl(url, "invalid bucket name \"" + loc->bucket + "\": " + std::string(why));
  }
  if (slash != std::string_view::npos) {
    std::string_view prefix = rest.substr(slash + 1);
    if (prefix.ends_with('/')) prefix.remove_suffix(1);
    if (std::string_view why = InvalidPrefixReason(prefix); !why.empty()) {
      return BadUrl(url, std::string(why));
    }
    loc->prefix = std::string(prefix);
  }
  return Status::OK();
}

// Parses "name=value&..." (values %-decoded); each known name at most once.
Status ParseQuery(const std::string& url, std::string_view query, S3UrlQuery* q) {
  size_t start = 0;
  while (start <= query.size()) {
    size_t end = std::min(query.find('&', start), query.size());
    std::string_view pair = query.substr(start, end - start);
    start = end + 1;
    size_t eq = pair.find('=');
    std::string name(pair.substr(0, eq));
    if (eq == std::string_view::npos || eq + 1 == pair.size()) {
      return BadUrl(url, "query parameter \"" + name + "\" needs a value (name=value)");
    }
    std::optional<std::string> value = PercentDecode(pair.substr(eq + 1));
    if (!value) return BadUrl(url, "query parameter \"" + name + "\" has a malformed %-escape");
    std::optional<std::string>* slot = name == "endpoint"     ? &q->endpoint
                                       : name == "region"     ? &q->region
                                       : name == "path_style" ? &q->path_style
                                                              : nullptr;
    if (slot == nullptr) {
      return BadUrl(
          url, "unknown query parameter \"" + name + "\" (known: endpoint, region, path_style)");
    }
    if (slot->has_value()) return BadUrl(url, "query parameter \"" + name + "\" given twice");
    *slot = std::move(value);
  }
  return Status::OK();
}

// Sets loc->region, loc->endpoint and loc->path_style from the query, and
// what the query leaves out from the environment.
Status ResolveEndpoint(const std::string& url, const S3UrlQuery& q, const EnvLookup& env,
                       S3Location* loc) {
  // `*_from` names the source in messages.
  std::optional<std::string> endpoint = q.endpoint, region = q.region;
  std::string endpoint_from = "endpoint", region_from = "region";
  if (!endpoint)
    endpoint = FirstSet(env, {"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"}, &endpoint_from);
  if (!region) region = FirstSet(env, {"AWS_REGION", "AWS_DEFAULT_REGION"}, &region_from);
  if (!region) region = "us-east-1";
  if (!std::all_of(region->begin(), region->end(),
                   [](char c) { return IsLowerOrDigit(c) || c == '-'; })) {
    return BadUrl(url, region_from + "=\"" + *region + "\" is not a region name like us-east-1");
  }
  loc->region = *region;
  if (endpoint) {
    std::optional<std::string> norm = NormalizeEndpoint(*endpoint);
    if (!norm) {
      return BadUrl(url, endpoint_from + "=\"" + *endpoint + "\" is not http[s]://host[:port]");
    }
    loc->endpoint = *norm;
  } else {
    loc->endpoint = "https://s3." + loc->region + ".amazonaws.com";
  }
  loc->path_style = endpoint.has_value();
  if (const std::optional<std::string>& ps = q.path_style) {
    if (*ps == "true" || *ps == "1") {
      loc->path_style = true;
    } else if (*ps == "false" || *ps == "0") {
      loc->path_style = false;
    } else {
      return BadUrl(url, "path_style must be true or false, not \"" + *ps + "\"");
    }
  }
  return Status::OK();
}

// "s3://bucket[/prefix]" plus the parameters the URL gave, normalized.
std::string CanonicalUrl(const S3Location& loc, const S3UrlQuery& q) {
  std::string query;
  auto add = [&](std::string_view name, const std::string& value) {
    query += query.empty() ? "?" : "&";
    query += std::string(name) + "=" + value;
  };
  if (q.endpoint) add("endpoint", loc.endpoint);
  if (q.region) add("region", loc.region);
  if (q.path_style) add("path_style", loc.path_style ? "true" : "false");
  return "s3://" + loc.bucket + (loc.prefix.empty() ? "" : "/" + loc.prefix) + query;
}

}  // namespace

Result<S3Location> ParseS3Url(const std::string& url, const EnvLookup& env) {
  if (!StartsWithNoCase(url, "s3://")) {
    return BadUrl(url, "not an s3:// URL");
  }
  const std::string_view after_scheme = std::string_view(url).substr(5);
  const size_t qmark = after_scheme.find('?');
  S3Location loc;
  STRATA_RETURN_IF_ERROR(ParseBucketAndPrefix(url, after_scheme.substr(0, qmark), &loc));
  S3UrlQuery query;
  if (qmark != std::string_view::npos) {
    STRATA_RETURN_IF_ERROR(ParseQuery(url, after_scheme.substr(qmark + 1), &query));
  }
  STRATA_RETURN_IF_ERROR(ResolveEndpoint(url, query, env, &loc));
  loc.url = CanonicalUrl(loc, query);
  return loc;
}

}  // namespace strata
