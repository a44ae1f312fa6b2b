#include "objstore/s3_client.h"

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <optional>

#include "common/crypto.h"
#include "objstore/s3_error.h"

namespace strata {
namespace {

bool Is2xx(long status) { return status >= 200 && status < 300; }

// Parses "123" strictly; nullopt for anything else.
std::optional<uint64_t> ParseUint(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

struct ContentRange {
  uint64_t first = 0, last = 0;  // inclusive
  std::optional<uint64_t> total;
};

// "bytes 0-9/100" or "bytes 0-9/*"; nullopt otherwise.
std::optional<ContentRange> ParseContentRange(std::string_view v) {
  if (!v.starts_with("bytes ")) return std::nullopt;
  v.remove_prefix(6);
  size_t dash = v.find('-'), slash = v.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || dash > slash) {
    return std::nullopt;
  }
  std::optional<uint64_t> first = ParseUint(v.substr(0, dash));
  std::optional<uint64_t> last = ParseUint(v.substr(dash + 1, slash - dash - 1));
  if (!first || !last || *last < *first) return std::nullopt;
  ContentRange r{*first, *last, ParseUint(v.substr(slash + 1))};
  return r;
}

// The object size a 416 reply states ("Content-Range: bytes */100"), if any.
std::optional<uint64_t> UnsatisfiedRangeSize(const HttpResponse& r) {
  const std::string* v = r.Header("content-range");
  if (v == nullptr || !v->starts_with("bytes */")) return std::nullopt;
  return ParseUint(std::string_view(*v).substr(8));
}

Status PastEnd(const std::string& what, uint64_t offset, uint64_t len,
               std::optional<uint64_t> size) {
  std::string msg = what + ": range [" + std::to_string(offset) + ", +" + std::to_string(len) +
                    ") runs past the end of the object";
  if (size) msg += " (" + std::to_string(*size) + " bytes)";
  return Status::Invalid(msg);
}

}  // namespace

struct S3Client::Call {
  std::string method;
  const std::string& key;  // "" for the bucket itself
  sigv4::KeyValues query = {};
  sigv4::KeyValues headers = {};
  std::string_view body = {};
};

S3Client::S3Client(S3Location location, S3Credentials credentials, HttpOptions http)
    : location_(std::move(location)), credentials_(std::move(credentials)), http_(http) {}

std::string S3Client::What(std::string_view op, const std::string& key) const {
  return "s3 " + std::string(op) + " " + location_.ObjectUrl(key);
}

Result<HttpResponse> S3Client::SendAny(const Call& call, const std::string& what) {
  sigv4::SigV4Request sreq;
  sreq.method = call.method;
  sreq.path = location_.RequestPath(call.key);
  sreq.query = call.query;
  sreq.headers = call.headers;
  sreq.headers.emplace_back("Host", location_.Host());
  sreq.payload_hash = crypto::Sha256Hex(call.body);
  sreq.add_content_sha256_header = true;
  sigv4::SigV4Signature sig = sigv4::Sign(credentials_.keys, sreq, location_.region, "s3",
                                          sigv4::AmzDate(std::chrono::system_clock::now()));

  HttpRequest req;
  req.method = call.method;
  // Exactly what was signed: the signer's own encoding of path and query.
  req.url = location_.BaseUrl() + sigv4::CanonicalUri(sreq.path, /*normalize=*/false);
  if (!sreq.query.empty()) req.url += "?" + sigv4::CanonicalQueryString(sreq.query);
  req.headers = std::move(sreq.headers);
  for (auto& h : sig.added_headers) req.headers.push_back(std::move(h));
  req.headers.emplace_back("Authorization", sig.authorization);
  req.body = call.body;
  return http_.Send(req, what);
}

Status S3Client::ErrorOf(const HttpResponse& r, const std::string& what) const {
  std::string code, message;
  if (std::optional<S3ErrorBody> e = ParseS3Error(r.body)) {
    code = std::move(e->code);
    message = std::move(e->message);
  } else if (const std::string* c = r.Header("x-amz-error-code")) {
    // HEAD replies have no body; some servers name the error in headers.
    code = *c;
    if (const std::string* m = r.Header("x-amz-error-message")) message = *m;
  }
  return S3ErrorStatus(what, location_.bucket, r.status, code, message);
}

Result<HttpResponse> S3Client::Send(const Call& call, const std::string& what) {
  STRATA_ASSIGN_OR_RETURN(HttpResponse r, SendAny(call, what));
  if (!Is2xx(r.status)) return ErrorOf(r, what);
  return r;
}

Status S3Client::PutObject(std::string_view op, const std::string& key, std::string_view data,
                           bool if_absent) {
  Call call{"PUT", key};
  if (if_absent) call.headers.emplace_back("If-None-Match", "*");
  call.body = data;
  return Send(call, What(op, key)).status();
}

Result<std::string> S3Client::GetObject(std::string_view op, const std::string& key) {
  STRATA_ASSIGN_OR_RETURN(HttpResponse r, Send(Call{"GET", key}, What(op, key)));
  return std::move(r.body);
}

Result<std::string> S3Client::GetObjectRange(std::string_view op, const std::string& key,
                                             uint64_t offset, uint64_t len) {
  const std::string what = What(op, key);
  if (len > UINT64_MAX - offset) return PastEnd(what, offset, len, std::nullopt);
  Call call{"GET", key};
  call.headers.emplace_back(
      "Range", "bytes=" + std::to_string(offset) + "-" + std::to_string(offset + len - 1));
  STRATA_ASSIGN_OR_RETURN(HttpResponse r, SendAny(call, what));
  if (r.status == 416) return PastEnd(what, offset, len, UnsatisfiedRangeSize(r));
  if (!Is2xx(r.status)) return ErrorOf(r, what);
  if (r.status == 200) {
    // The server ignored the Range header and sent the whole object.
    if (offset > r.body.size() || len > r.body.size() - offset) {
      return PastEnd(what, offset, len, r.body.size());
    }
    return r.body.substr(offset, len);
  }
  const std::string* header = r.Header("content-range");
  std::optional<ContentRange> range = header ? ParseContentRange(*header) : std::nullopt;
  if (r.status != 206 || !range || range->first != offset ||
      r.body.size() != range->last - range->first + 1) {
    return Status::IO(what + ": unexpected reply to a range request: HTTP " +
                      std::to_string(r.status) + ", Content-Range \"" + (header ? *header : "") +
                      "\", " + std::to_string(r.body.size()) + " bytes");
  }
  // S3 shortens a range that runs past the end; some servers send more.
  if (r.body.size() < len) return PastEnd(what, offset, len, range->total);
  r.body.resize(len);
  return std::move(r.body);
}

Result<uint64_t> S3Client::HeadObject(std::string_view op, const std::string& key) {
  const std::string what = What(op, key);
  STRATA_ASSIGN_OR_RETURN(HttpResponse r, Send(Call{"HEAD", key}, what));
  const std::string* len = r.Header("content-length");
  std::optional<uint64_t> size = len ? ParseUint(*len) : std::nullopt;
  if (!size) return Status::IO(what + ": HEAD reply without a valid Content-Length");
  return *size;
}

Status S3Client::DeleteObject(std::string_view op, const std::string& key) {
  Status s = Send(Call{"DELETE", key}, What(op, key)).status();
  return s.IsNotFound() ? Status::OK() : s;
}

Result<S3ListPage> S3Client::ListObjects(std::string_view op, const std::string& prefix,
                                         const std::string& token, int max_keys) {
  const std::string what = What(op, prefix);
  static const std::string kBucket;
  Call call{"GET", kBucket};
  call.query = {{"list-type", "2"}, {"prefix", prefix}};
  if (!token.empty()) call.query.emplace_back("continuation-token", token);
  if (max_keys > 0) call.query.emplace_back("max-keys", std::to_string(max_keys));
  STRATA_ASSIGN_OR_RETURN(HttpResponse r, Send(call, what));
  Result<S3ListPage> page = ParseListObjectsV2(r.body);
  if (!page.ok()) return Status::IO(what + ": " + page.status().message());
  return page;
}

Result<std::string> S3Client::CreateMultipartUpload(std::string_view op, const std::string& key) {
  const std::string what = What(op, key) + " (create multipart upload)";
  Call call{"POST", key};
  call.query = {{"uploads", ""}};
  STRATA_ASSIGN_OR_RETURN(HttpResponse r, Send(call, what));
  Result<std::string> id = ParseInitiateMultipartUpload(r.body);
  if (!id.ok()) return Status::IO(what + ": " + id.status().message());
  return id;
}

Result<std::string> S3Client::UploadPart(std::string_view op, const std::string& key,
                                         const std::string& upload_id, int part_number,
                                         std::string_view data) {
  const std::string what = What(op, key) + " (upload part " + std::to_string(part_number) + ")";
  Call call{"PUT", key};
  call.query = {{"partNumber", std::to_string(part_number)}, {"uploadId", upload_id}};
  call.body = data;
  STRATA_ASSIGN_OR_RETURN(HttpResponse r, Send(call, what));
  const std::string* etag = r.Header("etag");
  if (etag == nullptr || etag->empty()) return Status::IO(what + ": reply without an ETag");
  return *etag;
}

Status S3Client::CompleteMultipartUpload(std::string_view op, const std::string& key,
                                         const std::string& upload_id,
                                         const std::vector<std::string>& etags, bool if_absent) {
  const std::string what = What(op, key) + " (complete multipart upload)";
  const std::string body = CompleteMultipartUploadXml(etags);
  Call call{"POST", key};
  call.query = {{"uploadId", upload_id}};
  if (if_absent) call.headers.emplace_back("If-None-Match", "*");
  call.body = body;
  STRATA_ASSIGN_OR_RETURN(HttpResponse r, Send(call, what));
  // S3 answers 200 before assembling the object and reports a failure to do
  // so in the body.
  if (ParseS3Error(r.body)) return ErrorOf(r, what);
  Status s = CheckCompleteMultipartUpload(r.body);
  return s.ok() ? s : Status::IO(what + ": " + s.message(), /*retryable=*/true);
}

Status S3Client::DeleteObjects(std::string_view op, const std::vector<std::string>& keys) {
  if (keys.empty()) return Status::OK();
  const std::string what =
      What(op, keys[0]) +
      (keys.size() > 1 ? " and " + std::to_string(keys.size() - 1) + " more keys" : "");
  const std::string body = DeleteObjectsXml(keys);
  static const std::string kBucket;
  Call call{"POST", kBucket};
  call.query = {{"delete", ""}};
  // S3 wants the body's MD5 (or a newer checksum header) on DeleteObjects.
  call.headers.emplace_back("Content-MD5", crypto::Base64Encode(crypto::Md5(body)));
  call.body = body;
  STRATA_ASSIGN_OR_RETURN(HttpResponse r, Send(call, what));
  if (ParseS3Error(r.body)) return ErrorOf(r, what);
  Status s = CheckDeleteObjectsResult(r.body);
  return s.ok() ? s : Status::IO(what + ": " + s.message(), /*retryable=*/true);
}

Status S3Client::AbortMultipartUpload(std::string_view op, const std::string& key,
                                      const std::string& upload_id) {
  const std::string what = What(op, key) + " (abort multipart upload)";
  Call call{"DELETE", key};
  call.query = {{"uploadId", upload_id}};
  Result<HttpResponse> r = SendAny(call, what);
  if (!r.ok()) return r.status();
  if (Is2xx(r->status) || r->status == 404) return Status::OK();  // 404: NoSuchUpload
  return ErrorOf(*r, what);
}

}  // namespace strata
