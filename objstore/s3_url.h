// S3Location: where an s3:// store lives, parsed from its URL.
//
//   s3://bucket[/prefix][?endpoint=URL&region=NAME&path_style=true|false]
//
// The bucket must follow S3's naming rules. The prefix is taken literally (no
// percent-decoding); one trailing '/' is dropped, and a leading '/', "//", "."
// or ".." components are refused, so a store has one spelling. Query values may
// be percent-encoded. What the URL leaves out comes from the environment:
//   endpoint    AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL, else
//               https://s3.<region>.amazonaws.com
//   region      AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1
//   path_style  true when an endpoint was given (URL or environment), else
//               false (virtual-hosted: https://bucket.s3.<region>.amazonaws.com)
// See docs/s3.md.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace strata {

// Reads an environment variable; nullopt when unset. Injected so tests need
// not touch the process environment.
using EnvLookup = std::function<std::optional<std::string>(const char* name)>;

// getenv(3). An empty value counts as unset.
EnvLookup ProcessEnv();
// An EnvLookup over a fixed set of variables (tests, or a caller that has them).
EnvLookup MapEnv(std::map<std::string, std::string> vars);

struct S3Location {
  std::string bucket;
  // "" or "a/b": no leading, trailing or doubled '/'.
  std::string prefix;
  // "scheme://authority" without a trailing '/', e.g. "http://127.0.0.1:4568".
  std::string endpoint;
  std::string region;
  bool path_style = false;
  // The canonical URL: "s3://bucket[/prefix]" plus the query parameters the
  // URL gave explicitly (normalized, in the order endpoint, region, path_style).
  std::string url;

  // The object key of store key `key`: "prefix/key", or `key` without a prefix.
  std::string ObjectKey(std::string_view key) const;
  // "s3://bucket/object_key", for messages.
  std::string ObjectUrl(std::string_view object_key) const;
  // The Host header: the endpoint's authority, after "bucket." when
  // virtual-hosted.
  std::string Host() const;
  // The raw (unencoded) request path of `object_key`: "/bucket/object_key"
  // path-style, "/object_key" virtual-hosted; "/bucket" or "/" for the bucket
  // itself (an empty key).
  std::string RequestPath(std::string_view object_key) const;
  // "scheme://" + Host(): the request URL up to the path.
  std::string BaseUrl() const;
};

// Parses an s3:// URL. kInvalid, with one message naming the URL and what is
// wrong with it, for anything malformed.
Result<S3Location> ParseS3Url(const std::string& url, const EnvLookup& env = ProcessEnv());

// Why `bucket` breaks S3's bucket naming rules; empty when it is valid.
std::string_view InvalidBucketReason(std::string_view bucket);

}  // namespace strata
