// S3Client: the S3 REST calls strata makes, one HTTP request each, signed with
// SigV4 and mapped to Status (see s3_error.h). Keys here are full object keys,
// the store prefix included; S3ObjectStore adds the prefix and the ObjectStore
// semantics. No retries: RetryingStore retries what is marked retryable.
// Thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "objstore/s3_credentials.h"
#include "objstore/s3_http.h"
#include "objstore/s3_url.h"
#include "objstore/s3_xml.h"
#include "objstore/sigv4.h"

namespace strata {

class S3Client {
 public:
  S3Client(S3Location location, S3Credentials credentials, HttpOptions http = {});

  S3Client(const S3Client&) = delete;
  S3Client& operator=(const S3Client&) = delete;

  const S3Location& location() const { return location_; }

  // PutObject; with `if_absent`, "If-None-Match: *" (kExists if the key exists).
  // `op` names the operation in messages.
  Status PutObject(std::string_view op, const std::string& key, std::string_view data,
                   bool if_absent);
  Result<std::string> GetObject(std::string_view op, const std::string& key);
  // Exactly `len` (> 0) bytes at `offset`; kInvalid if they run past the end.
  Result<std::string> GetObjectRange(std::string_view op, const std::string& key, uint64_t offset,
                                     uint64_t len);
  // HeadObject: the size. kNotFound if absent (a HEAD reply has no body, so a
  // missing bucket looks the same here).
  Result<uint64_t> HeadObject(std::string_view op, const std::string& key);
  // OK if the key did not exist.
  Status DeleteObject(std::string_view op, const std::string& key);
  // DeleteObjects (POST ?delete, quiet, with Content-MD5) of 1 to 1000 keys;
  // OK for keys that did not exist, an error naming the first key S3 could
  // not delete otherwise.
  Status DeleteObjects(std::string_view op, const std::vector<std::string>& keys);
  // One page of ListObjectsV2 under `prefix`, starting at `token` ("" for the
  // first page), at most `max_keys` keys (0: the server's default, 1000).
  Result<S3ListPage> ListObjects(std::string_view op, const std::string& prefix,
                                 const std::string& token, int max_keys);

  // Multipart upload. Parts are numbered from 1; UploadPart returns the ETag
  // that CompleteMultipartUpload needs. With `if_absent`, Complete carries
  // "If-None-Match: *". Aborting an unknown upload is OK.
  Result<std::string> CreateMultipartUpload(std::string_view op, const std::string& key);
  Result<std::string> UploadPart(std::string_view op, const std::string& key,
                                 const std::string& upload_id, int part_number,
                                 std::string_view data);
  Status CompleteMultipartUpload(std::string_view op, const std::string& key,
                                 const std::string& upload_id,
                                 const std::vector<std::string>& etags, bool if_absent);
  Status AbortMultipartUpload(std::string_view op, const std::string& key,
                              const std::string& upload_id);

 private:
  struct Call;

  // "s3 <op> s3://bucket/key": the start of every message.
  std::string What(std::string_view op, const std::string& key) const;
  // Signs and sends `call`; any HTTP status is returned as a response.
  Result<HttpResponse> SendAny(const Call& call, const std::string& what);
  // Like SendAny, but a non-2xx reply becomes its error Status.
  Result<HttpResponse> Send(const Call& call, const std::string& what);
  // The Status of a non-2xx reply (or a 2xx one carrying an <Error>).
  Status ErrorOf(const HttpResponse& response, const std::string& what) const;

  const S3Location location_;
  const S3Credentials credentials_;
  HttpClient http_;
};

}  // namespace strata
