// AWS Signature Version 4 (header-based, AWS4-HMAC-SHA256), on OpenSSL.
//
// Our own signer for the S3 backend (libcurl's built-in AWS signing in Debian 12
// mis-signs sorted/encoded query strings). It signs one request and returns the
// Authorization header value together with every intermediate string, so tests
// can compare each step with AWS's published vectors (objstore/testdata/sigv4).
//
// Conventions, fixed here once:
//  - Paths and query parameters are given RAW (not percent-encoded): the path
//    "/my key/a+b", the pair ("prefix", "a/b c"). The signer encodes them with
//    UriEncode; the HTTP layer must put exactly CanonicalUri(path, ...) and
//    CanonicalQueryString(query) on the request line, so that what is sent and
//    what is signed can never disagree.
//  - The path is encoded once. For S3 that is the whole rule (S3 neither
//    normalizes nor double-encodes; leave normalize_path false). Other AWS
//    services want the path normalized (dot segments removed, repeated '/'
//    collapsed): set normalize_path. (Those services also encode an
//    already-encoded path a second time; since our paths are raw, one encoding
//    of the raw path is the same thing, which is what the test suite checks.)
//  - Header values are sent as given; only the signed (canonical) form is
//    trimmed and whitespace-collapsed. Every header in the request is signed,
//    so pass only headers that are sent unchanged (not e.g. User-Agent if a
//    proxy may rewrite it). "host" must be among them.
//
// All functions are pure and thread-safe. The hashes are common/crypto.h.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace strata::sigv4 {

using KeyValues = std::vector<std::pair<std::string, std::string>>;

struct SigV4Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  // Temporary (STS) credentials only; empty means none. When set, Sign adds and
  // signs an X-Amz-Security-Token header unless the request already has one.
  std::string session_token;
};

struct SigV4Request {
  std::string method;  // "GET", "PUT", ... exactly as sent (uppercase).
  // Raw path, starting with '/'; empty means "/". See the conventions above.
  std::string path = "/";
  // Remove "." / ".." segments and collapse "//" before encoding. Must stay
  // false for S3 (an object key may contain "//" or "/./").
  bool normalize_path = false;
  // Raw (name, value) pairs in any order; a bare "?uploads" is ("uploads", "").
  KeyValues query;
  // (name, value) as sent; names in any case, duplicates allowed (their values
  // are joined with ',' in the order given).
  KeyValues headers;
  // Lowercase hex SHA-256 of the body (crypto::Sha256Hex), or "UNSIGNED-PAYLOAD".
  std::string payload_hash;
  // Add "x-amz-content-sha256: <payload_hash>" unless present (S3 requires it).
  bool add_content_sha256_header = false;
};

// What Sign produces. `added_headers` must be sent along with the request's
// own headers, plus "Authorization: <authorization>".
struct SigV4Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string scope;           // "20150830/us-east-1/service/aws4_request"
  std::string signed_headers;  // "host;x-amz-date"
  std::string signature;       // 64 lowercase hex digits
  std::string authorization;   // the Authorization header value
  KeyValues added_headers;     // e.g. {"X-Amz-Date", amz_date}
};

// Signs `request` for `region` and `service` ("s3") at `amz_date`, a UTC time
// "YYYYMMDDTHHMMSSZ" (see AmzDate). Adds, if the request lacks them (compared
// case-insensitively), X-Amz-Date (= amz_date), X-Amz-Security-Token (when the
// credentials carry one) and x-amz-content-sha256 (when asked). An X-Amz-Date
// the caller already set must equal amz_date.
SigV4Signature Sign(const SigV4Credentials& credentials, const SigV4Request& request,
                    std::string_view region, std::string_view service, std::string_view amz_date);

// --- The steps, exposed for tests and for the HTTP layer. ---

// Percent-encodes every byte except the unreserved A-Z a-z 0-9 - . _ ~ as %XX
// (uppercase hex); '/' is kept unless encode_slash. Never decodes anything.
std::string UriEncode(std::string_view s, bool encode_slash);

// RFC 3986 remove_dot_segments plus collapsing of empty segments ("//"): the
// result starts with '/' and keeps a trailing '/' (or one implied by a final
// "." or ".."). "/a/./b/../c//" -> "/a/c/".
std::string NormalizePath(std::string_view raw_path);

// The encoded path of the canonical request (and of the request line):
// UriEncode(normalize ? NormalizePath(p) : p, /*encode_slash=*/false); "/" for "".
std::string CanonicalUri(std::string_view raw_path, bool normalize);

// Names and values encoded with UriEncode(.., true), "name=value" pairs sorted
// by encoded name then encoded value, joined with '&'. Empty for no pairs.
std::string CanonicalQueryString(const KeyValues& query);

// "name:value\n" per distinct lowercase header name, sorted by name; values
// trimmed, inner whitespace runs (space, tab, CR, LF) collapsed to one space,
// duplicates joined with ',' in the order given.
std::string CanonicalHeaders(const KeyValues& headers);

// The sorted distinct lowercase header names joined with ';'.
std::string SignedHeaders(const KeyValues& headers);

// method \n CanonicalUri \n CanonicalQueryString \n CanonicalHeaders \n
// SignedHeaders \n payload_hash, over the request exactly as given (Sign adds
// its headers first).
std::string CanonicalRequest(const SigV4Request& request);

// "date/region/service/aws4_request", date being the first 8 chars of amz_date.
std::string CredentialScope(std::string_view amz_date, std::string_view region,
                            std::string_view service);

// "AWS4-HMAC-SHA256\n" amz_date "\n" scope "\n" canonical_request_sha256_hex.
std::string StringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request_sha256_hex);

// HMAC chain "AWS4"+secret -> date (YYYYMMDD) -> region -> service ->
// "aws4_request"; 32 raw bytes.
std::string SigningKey(std::string_view secret_access_key, std::string_view date,
                       std::string_view region, std::string_view service);

// --- Primitives (SHA-256, HMAC and hex are common/crypto.h's). ---

// "YYYYMMDDTHHMMSSZ" in UTC, whole seconds.
std::string AmzDate(std::chrono::system_clock::time_point t);

inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
inline constexpr std::string_view kEmptyPayloadSha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

}  // namespace strata::sigv4
