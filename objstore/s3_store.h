// S3ObjectStore: an ObjectStore in an S3 bucket (s3://bucket[/prefix]).
//
// Store key "a/b" is object "prefix/a/b". Put is one PUT up to
// multipart_threshold bytes and a parallel multipart upload above it; both are
// atomic on S3 (readers see the old object or the whole new one). PutIfAbsent
// sends "If-None-Match: *" (on the PUT, or on CompleteMultipartUpload). List
// pages through ListObjectsV2 and returns valid keys only: never "prefix/LOCK",
// the lease object of daemons from before shared stores, which nothing reads or
// writes today.
//
// Errors name the operation and object (see s3_error.h) and are marked
// retryable when another attempt may succeed; wrap the store in a
// RetryingStore to retry them. Thread-safe. URL syntax, credentials and
// limits: docs/s3.md.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "objstore/object_store.h"
#include "objstore/s3_credentials.h"
#include "objstore/s3_http.h"
#include "objstore/s3_url.h"

namespace strata {

class S3Client;

struct S3StoreOptions {
  // Put uses a multipart upload for objects larger than this.
  uint64_t multipart_threshold = 16 << 20;
  // Size of each part but the last (grown if an object would need more than
  // 10000 parts). S3 requires at least 5 MiB; smaller sizes are for tests.
  uint64_t part_size = 8 << 20;
  // Parts of one object uploaded at once.
  int max_parallel_parts = 4;
  // Keys per ListObjectsV2 page; 0 means the server's default (1000).
  int list_max_keys = 0;
  HttpOptions http;
};

class S3ObjectStore : public ObjectStore {
 public:
  // Parses `url` (see s3_url.h) and resolves credentials (see
  // s3_credentials.h) from `env`. kInvalid for a bad URL or no credentials.
  // No network I/O happens here.
  static Result<std::unique_ptr<S3ObjectStore>> Open(const std::string& url,
                                                     S3StoreOptions options = {},
                                                     const EnvLookup& env = ProcessEnv());

  S3ObjectStore(S3Location location, S3Credentials credentials, S3StoreOptions options = {});
  ~S3ObjectStore() override;

  S3ObjectStore(const S3ObjectStore&) = delete;
  S3ObjectStore& operator=(const S3ObjectStore&) = delete;

  Status Put(const std::string& key, std::string_view data) override;
  Status PutIfAbsent(const std::string& key, std::string_view data) override;
  Result<std::string> Get(const std::string& key) override;
  Result<std::string> GetRange(const std::string& key, uint64_t offset, uint64_t len) override;
  Result<uint64_t> Size(const std::string& key) override;
  Result<std::vector<std::string>> List(const std::string& prefix) override;
  Status Delete(const std::string& key) override;
  // DeleteObjects, kMaxDeleteBatch keys a request.
  Status DeleteMany(const std::vector<std::string>& keys) override;
  std::string Url() const override;

  const S3Location& location() const;
  const S3StoreOptions& options() const { return options_; }

 private:
  Status CheckKey(std::string_view op, const std::string& key) const;
  Status PutImpl(const std::string& key, std::string_view data, bool if_absent);
  Status PutMultipart(std::string_view op, const std::string& object_key, std::string_view data,
                      bool if_absent);

  const S3StoreOptions options_;
  const std::unique_ptr<S3Client> client_;
};

}  // namespace strata
