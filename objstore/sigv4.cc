#include "objstore/sigv4.h"

#include <time.h>

#include <algorithm>
#include <ctime>

#include "common/crypto.h"
#include "common/text.h"

namespace strata::sigv4 {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Trims, and collapses every inner whitespace run to a single space.
std::string CanonicalHeaderValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  bool pending_space = false;
  for (char c : v) {
    if (IsSpace(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

// (lowercase name, canonical values joined with ',') sorted by name.
KeyValues MergedHeaders(const KeyValues& headers) {
  KeyValues lowered;
  lowered.reserve(headers.size());
  for (const auto& [name, value] : headers) {
    lowered.emplace_back(AsciiLower(name), CanonicalHeaderValue(value));
  }
  // Stable: duplicates keep the caller's order, which AWS signs as given.
  std::stable_sort(lowered.begin(), lowered.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  KeyValues merged;
  for (auto& [name, value] : lowered) {
    if (!merged.empty() && merged.back().first == name) {
      merged.back().second += ',';
      merged.back().second += value;
    } else {
      merged.emplace_back(std::move(name), std::move(value));
    }
  }
  return merged;
}

bool HasHeader(const KeyValues& headers, std::string_view lower_name) {
  for (const auto& h : headers) {
    if (AsciiLower(h.first) == lower_name) return true;
  }
  return false;
}

}  // namespace

std::string AmzDate(std::chrono::system_clock::time_point t) {
  time_t secs = std::chrono::system_clock::to_time_t(t);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[32];
  size_t n = std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return std::string(buf, n);
}

std::string UriEncode(std::string_view s, bool encode_slash) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (unsigned char c : s) {
    if (IsUnreserved(c) || (c == '/' && !encode_slash)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kDigits[c >> 4]);
      out.push_back(kDigits[c & 0xf]);
    }
  }
  return out;
}

std::string NormalizePath(std::string_view raw_path) {
  // A final "." or ".." names a directory, so it keeps the trailing '/'.
  bool trailing_slash =
      raw_path.ends_with('/') || raw_path.ends_with("/.") || raw_path.ends_with("/..");
  std::vector<std::string_view> segments;
  size_t pos = 0;
  while (pos <= raw_path.size()) {
    size_t end = raw_path.find('/', pos);
    if (end == std::string_view::npos) end = raw_path.size();
    std::string_view seg = raw_path.substr(pos, end - pos);
    if (seg == "..") {
      if (!segments.empty()) segments.pop_back();
    } else if (!seg.empty() && seg != ".") {  // empty: from "//" or an edge '/'
      segments.push_back(seg);
    }
    pos = end + 1;
  }
  std::string out;
  for (std::string_view seg : segments) {
    out.push_back('/');
    out.append(seg);
  }
  if (out.empty() || trailing_slash) out.push_back('/');
  return out;
}

std::string CanonicalUri(std::string_view raw_path, bool normalize) {
  if (raw_path.empty()) return "/";
  return UriEncode(normalize ? NormalizePath(raw_path) : std::string(raw_path),
                   /*encode_slash=*/false);
}

std::string CanonicalQueryString(const KeyValues& query) {
  KeyValues encoded;
  encoded.reserve(query.size());
  for (const auto& [name, value] : query) {
    encoded.emplace_back(UriEncode(name, true), UriEncode(value, true));
  }
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) out.push_back('&');
    out += name;
    out.push_back('=');
    out += value;
  }
  return out;
}

std::string CanonicalHeaders(const KeyValues& headers) {
  std::string out;
  for (const auto& [name, value] : MergedHeaders(headers)) {
    out += name;
    out.push_back(':');
    out += value;
    out.push_back('\n');
  }
  return out;
}

std::string SignedHeaders(const KeyValues& headers) {
  std::string out;
  for (const auto& [name, value] : MergedHeaders(headers)) {
    if (!out.empty()) out.push_back(';');
    out += name;
  }
  return out;
}

std::string CanonicalRequest(const SigV4Request& request) {
  std::string out = request.method;
  out.push_back('\n');
  out += CanonicalUri(request.path, request.normalize_path);
  out.push_back('\n');
  out += CanonicalQueryString(request.query);
  out.push_back('\n');
  out += CanonicalHeaders(request.headers);
  out.push_back('\n');
  out += SignedHeaders(request.headers);
  out.push_back('\n');
  out += request.payload_hash;
  return out;
}

std::string CredentialScope(std::string_view amz_date, std::string_view region,
                            std::string_view service) {
  std::string out(amz_date.substr(0, 8));
  out.push_back('/');
  out += region;
  out.push_back('/');
  out += service;
  out += "/aws4_request";
  return out;
}

std::string StringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request_sha256_hex) {
  std::string out(kAlgorithm);
  out.push_back('\n');
  out += amz_date;
  out.push_back('\n');
  out += scope;
  out.push_back('\n');
  out += canonical_request_sha256_hex;
  return out;
}

std::string SigningKey(std::string_view secret_access_key, std::string_view date,
                       std::string_view region, std::string_view service) {
  std::string key = "AWS4";
  key += secret_access_key;
  key = crypto::HmacSha256(key, date);
  key = crypto::HmacSha256(key, region);
  key = crypto::HmacSha256(key, service);
  return crypto::HmacSha256(key, "aws4_request");
}

SigV4Signature Sign(const SigV4Credentials& credentials, const SigV4Request& request,
                    std::string_view region, std::string_view service, std::string_view amz_date) {
  SigV4Signature sig;
  SigV4Request full = request;
  auto add = [&](std::string_view lower_name, std::string name, std::string value) {
    if (HasHeader(full.headers, lower_name)) return;
    full.headers.emplace_back(name, value);
    sig.added_headers.emplace_back(std::move(name), std::move(value));
  };
  add("x-amz-date", "X-Amz-Date", std::string(amz_date));
  if (!credentials.session_token.empty()) {
    add("x-amz-security-token", "X-Amz-Security-Token", credentials.session_token);
  }
  if (request.add_content_sha256_header) {
    add("x-amz-content-sha256", "x-amz-content-sha256", request.payload_hash);
  }

  sig.canonical_request = CanonicalRequest(full);
  sig.scope = CredentialScope(amz_date, region, service);
  sig.string_to_sign = StringToSign(amz_date, sig.scope, crypto::Sha256Hex(sig.canonical_request));
  sig.signed_headers = SignedHeaders(full.headers);
  std::string key =
      SigningKey(credentials.secret_access_key, amz_date.substr(0, 8), region, service);
  sig.signature = crypto::HexEncode(crypto::HmacSha256(key, sig.string_to_sign));
  sig.authorization = std::string(kAlgorithm) + " Credential=" + credentials.access_key_id + "/" +
                      sig.scope + ", SignedHeaders=" + sig.signed_headers +
                      ", Signature=" + sig.signature;
  return sig;
}

}  // namespace strata::sigv4
